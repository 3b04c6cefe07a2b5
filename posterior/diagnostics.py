"""Convergence diagnostics in function space: split R-hat and ESS of predictions.

Network parameters are not identifiable (permuting hidden units changes nothing), so
R-hat on weights calls chains unmixed that agree on everything that matters. Predictions at
test points are identifiable; their split R-hat and effective sample size, worst over
the test points, say whether the chains have mixed where it counts.
"""

import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

__all__ = ["MIN_DRAWS", "per_prediction", "function_space_diagnostics"]

# split_gelman_rubin halves each chain and needs at least 2 draws per half to estimate a
# within-half variance; numpyro requires 4.
MIN_DRAWS = 4


def per_prediction(predictions) -> tuple[np.ndarray, np.ndarray]:
    """Split R-hat and ESS of every predicted quantity.

    Args:
        predictions: an array ``(chain, draw, ...)`` (a NumPy or JAX array).

    Returns:
        ``(rhat, ess)``, each of shape ``predictions.shape[2:]``; all NaN when there are
        fewer than :data:`MIN_DRAWS` draws per chain. R-hat is NaN where a quantity never
        varies (0/0) and ``inf`` where each chain is constant but the chains differ.

    Raises:
        ValueError: when ``predictions`` has fewer than two axes.
    """
    predictions = np.asarray(predictions, np.float64)
    if predictions.ndim < 2:
        raise ValueError(f"predictions must have shape (chain, draw, ...), got {predictions.shape}")
    if predictions.shape[1] < MIN_DRAWS:
        nan = np.full(predictions.shape[2:], np.nan)
        return nan, nan.copy()
    # Constant quantities divide zero by zero; they are reported as NaN, not warned about.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(split_gelman_rubin(predictions)), np.asarray(effective_sample_size(predictions))


def function_space_diagnostics(predictions) -> dict[str, float]:
    """The worst split R-hat and the smallest ESS over all predicted quantities.

    Args:
        predictions: an array ``(chain, draw, ...)``, e.g. the predictive mean at each
            test point for every kept draw of every chain (a NumPy or JAX array).

    Returns:
        ``{"rhat_max": float, "ess_min": float}``. Both are NaN when there are fewer
        than :data:`MIN_DRAWS` draws per chain (too few to split), rather than raising,
        so that a short run still writes its other metrics. Quantities that never vary
        (R-hat 0/0) are left out of the maximum and minimum.

    Raises:
        ValueError: when ``predictions`` has fewer than two axes.
    """
    rhat, ess = per_prediction(predictions)
    return {"rhat_max": _ignoring_nan(np.max, rhat), "ess_min": _ignoring_nan(np.min, ess)}


def _ignoring_nan(reduce, values: np.ndarray) -> float:
    """``reduce`` over the values that are not NaN; NaN when all are."""
    values = values[~np.isnan(values)]
    return float(reduce(values)) if values.size else float("nan")
