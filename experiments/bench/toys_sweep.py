"""The step-size sweep of ``posterior bench toys``: SGLD and SA-SGLD on 2-D targets, judged by exact draws.

The grid of each target (:data:`STEP_SIZES`), the samplers and SA-SGLD's clocks
(:data:`SAMPLERS`, :data:`CONTENDERS`, :data:`RIDGE_CLOCK`), one run started from exact
draws, the distances of its draws to fresh exact ones, and :func:`sweep`: every sampler
at every step size, repeated, summarised per step size as means and standard errors.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench import log

STEP_SIZES = {
    "star": np.geomspace(3e-5, 0.3, 13),
    "funnel": np.geomspace(1e-3, 0.3, 8),
    "mixture": np.geomspace(1e-3, 0.3, 8),
}
# On a ridge of transverse curvature k the mean monitor |grad U|^2 / Omega is about
# k / Omega, and with r = 1 the factor psi ~ m M / zeta falls as 1 / k: the step that
# gives every part of the ridge the same Euler-Maruyama bias (dt k / 2). m = 1e-3 lets
# psi follow k over four decades (the star's run from ~2 at the centre to thousands at
# the ends of its arms), and Omega = 200 puts the middle of that range where its mass is.
RIDGE_CLOCK = {"exponent": 1.0, "omega": 200.0, "smallest": 1e-3}
SAMPLERS = {"SGLD": None, "SA-SGLD": {}, "SA-SGLD, ridge clock": RIDGE_CLOCK}  # None: SGLD; else SA-SGLD's clock
CONTENDERS = {"star": ("SGLD", "SA-SGLD", "SA-SGLD, ridge clock"), "funnel": ("SGLD", "SA-SGLD"),
              "mixture": ("SGLD", "SA-SGLD")}
EXACT = "exact draws"
DIVERGED_BEYOND = 1e4
JUDGED_DRAWS = 8192  # draws kept per run (evenly thinned) and judged
REFERENCE_DRAWS = 16384  # exact draws they are judged against


def start_from(pool: np.ndarray) -> Callable[[jax.Array], jax.Array]:
    """``init_params`` for the driver: each chain starts at a random one of ``pool``
    (exact draws, many more than chains)."""
    pool = jnp.asarray(pool, jnp.float32)

    def start(key):
        return pool[jax.random.randint(key, (), 0, len(pool))]

    return start


def _run_one(target: Any, clock: dict | None, step_size: float, *, chains: int, steps: int, starts: np.ndarray,
             key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(chains, draws, 2)`` and weights of SGLD (``clock`` None) or SA-SGLD with
    ``clock`` at one step size; each chain starts at a random one of ``starts``."""
    import samplers

    if clock is None:
        algorithm = samplers.sgld(target.logdensity, float(step_size))
    else:
        algorithm = samplers.sa_sgld(target.logdensity, float(step_size), **clock)
    burn_in = steps // 10
    thin = max(1, (steps - burn_in) * chains // JUDGED_DRAWS)
    result = samplers.sample(algorithm, key, start_from(starts), None, num_chains=chains, num_steps=steps,
                             burn_in=burn_in, thin=thin, progress=False)
    return np.asarray(result.samples, np.float64), np.asarray(result.weights, np.float64)


def _judge(target: Any, draws: np.ndarray, weights: np.ndarray, reference: np.ndarray,
           squared_mmd_to_reference: Callable[..., float]) -> dict[str, Any]:
    """Distances of weighted ``(chain, draw)`` draws to the exact reference draws (the
    MMD by ``distances.squared_mmd_to(reference)``) and moments, every chain counting
    equally (its weights rescaled to the same sum)."""
    from posterior import distances
    from posterior.predictive import chain_balanced

    if not np.all(np.isfinite(draws)) or np.max(np.abs(draws)) > DIVERGED_BEYOND:
        return {"diverged": True}
    weights = chain_balanced(weights)
    judged = {"diverged": False,
              "squared_mmd": squared_mmd_to_reference(draws, weights),
              "sliced_w2": distances.sliced_wasserstein(draws, reference, weights=weights)}
    judged.update(distances.moment_errors(draws, target.mean, target.cov, weights=weights))
    return judged


METRICS = ("squared_mmd", "sliced_w2", "mean_error", "cov_error")


def standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (NaN for fewer than two)."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan


def _summary(step_size: float, repeats: list[dict]) -> dict[str, Any]:
    """One row of the sweep: the mean and standard error of each metric over repeats
    (diverged if any repeat diverged)."""
    row: dict[str, Any] = {"step_size": float(step_size), "diverged": any(r["diverged"] for r in repeats)}
    if not row["diverged"]:
        for metric in METRICS:
            values = np.array([r[metric] for r in repeats])
            row[metric] = float(values.mean())
            row[f"{metric}_se"] = standard_error(values)
        row["per_repeat"] = [r["squared_mmd"] for r in repeats]
    return row


def sweep(name: str, target: Any, *, chains: int, steps: int, quick: bool, seed: int,
          repeats: int) -> dict[str, list[dict]]:
    """The samplers of ``CONTENDERS[name]`` over the step-size grid of ``name``, each
    setting ``repeats`` times: per sampler, a row per step size (see :func:`_summary`;
    the first repeat's draws and weights kept for the figure), and under :data:`EXACT`
    one row for fresh exact draws judged the same way."""
    from posterior import distances

    grid = STEP_SIZES[name][::3] if quick else STEP_SIZES[name]
    judged: dict[tuple[str, int], list[dict]] = {}
    kept: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for repeat in range(repeats):
        rng = np.random.default_rng(seed + repeat)
        reference = target.sample(rng, REFERENCE_DRAWS)
        squared_mmd_to_reference = distances.squared_mmd_to(reference)
        # Common random numbers: within a repeat every run starts from the same pool with
        # the same key, so the chains begin in the same places (on the mixture, in the
        # same modes), and the differences between runs are the samplers' and step
        # sizes', not the starts'.
        starts = target.sample(rng, 100 * chains)
        key = jax.random.key(seed + repeat)
        exact = target.sample(rng, JUDGED_DRAWS)
        judged.setdefault((EXACT, 0), []).append(_judge(target, exact[None], np.ones((1, len(exact))), reference,
                                                        squared_mmd_to_reference))
        for sampler in CONTENDERS[name]:
            for index, step_size in enumerate(grid):
                log(f"{name} (repeat {repeat + 1}/{repeats}): {sampler} at step size {step_size:.3g}")
                draws, weights = _run_one(target, SAMPLERS[sampler], step_size, chains=chains, steps=steps,
                                          starts=starts, key=key)
                judged.setdefault((sampler, index), []).append(_judge(target, draws, weights, reference,
                                                                      squared_mmd_to_reference))
                if repeat == 0:
                    kept[(sampler, index)] = draws, weights
    rows = {EXACT: [_summary(np.nan, judged[(EXACT, 0)])]}
    for sampler in CONTENDERS[name]:
        rows[sampler] = [{**_summary(step_size, judged[(sampler, index)]),
                          "draws": kept[(sampler, index)][0], "weights": kept[(sampler, index)][1]}
                         for index, step_size in enumerate(grid)]
    return rows
