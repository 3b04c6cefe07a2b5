"""Warnings a finished run carries when its numbers should not be trusted as they stand.

A run whose chains have not mixed still reports ``status: ok``: its metrics are what the
draws say, and a researcher may want them. But the reader must see it, so each rule
below that fires adds one sentence to ``metrics.json``'s ``warnings`` list, a line to the
run's summary, and a mark in ``posterior table``:

- split R-hat above :data:`RHAT_LIMIT` on some test prediction: the chains disagree;
- ESS below :data:`ESS_FLOOR` (below 10 per chain for a run of fewer than
  :data:`ESS_FLOOR` draws in all, where 100 cannot be reached);
- a Metropolis acceptance rate outside :data:`ACCEPTANCE_RANGE` (too low: most steps are
  wasted; too high: the steps are too small to move);
- SA-SGLD's time weights concentrated on few draws: their Kish effective size
  ``(sum w)^2 / sum w^2`` under half the draws, so the weighted average rests on few.
"""

import numpy as np

__all__ = ["ACCEPTANCE_RANGE", "ESS_FLOOR", "RHAT_LIMIT", "warnings_of"]

RHAT_LIMIT = 1.1
ESS_FLOOR = 100
ACCEPTANCE_RANGE = (0.4, 0.99)


def kish_size(weights: np.ndarray) -> float:
    """The Kish effective sample size ``(sum w)^2 / sum w^2`` of weights ``(chain, draw)``,
    each chain's first rescaled to the same total, as the predictive weighs them."""
    weights = np.asarray(weights, np.float64)
    pooled = (weights / weights.sum(axis=-1, keepdims=True)).ravel()
    return float(pooled.sum() ** 2 / np.sum(pooled**2))


def warnings_of(metrics: dict, *, weights: np.ndarray | None = None) -> list[str]:
    """The warnings of a finished run: one sentence each, in the order of the rules above.

    Args:
        metrics: the run's metrics (``rhat_max``, ``ess_min``, ``num_chains``,
            ``draws_per_chain``, and ``acceptance_rate`` for Metropolis kernels).
        weights: the kept draws' weights ``(chain, draw)`` when they are not all equal
            (SA-SGLD's time weights); None otherwise.

    Returns:
        The warnings, empty when every rule passes or its quantity is absent or NaN.
    """
    found = []
    rhat, ess = metrics.get("rhat_max", np.nan), metrics.get("ess_min", np.nan)
    if rhat > RHAT_LIMIT:
        found.append(f"rhat_max={rhat:.3g} is above {RHAT_LIMIT}: the chains have not mixed (run longer, or "
                     f"compare more chains)")
    num_chains = metrics.get("num_chains", 1)
    total_draws = num_chains * metrics.get("draws_per_chain", 0)
    floor = ESS_FLOOR if total_draws >= ESS_FLOOR else 10 * num_chains
    if ess < floor:
        found.append(f"ess_min={ess:.3g} is below {floor}: averages over the draws are noisy (keep more draws)")
    acceptance = metrics.get("acceptance_rate", np.nan)
    low, high = ACCEPTANCE_RANGE
    if not low <= acceptance <= high and not np.isnan(acceptance):
        found.append(f"acceptance_rate={acceptance:.3g} is outside [{low}, {high}]: the step size is "
                     f"{'too large' if acceptance < low else 'too small'} for the trajectory")
    if weights is not None and np.size(weights):
        size = kish_size(weights)
        if size < np.size(weights) / 2:
            found.append(f"the time weights' effective size is {size:.3g} of {np.size(weights)} draws: the weighted "
                         f"average rests on few of them")
    return found
