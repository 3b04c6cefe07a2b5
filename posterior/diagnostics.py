"""Convergence diagnostics in function space: split R-hat and ESS of predictions.

Network parameters are not identifiable (permuting hidden units changes nothing), so
R-hat on weights calls chains unmixed that agree on everything that matters. Predictions at
test points are identifiable; their split R-hat and effective sample size, worst over
the test points, say whether the chains have mixed where it counts.
"""

import numpy as np
from numpyro.diagnostics import effective_sample_size, split_gelman_rubin

from posterior.predictive import chain_balanced

__all__ = ["MIN_DRAWS", "per_prediction", "worst"]

# split_gelman_rubin halves each chain and needs at least 2 draws per half to estimate a
# within-half variance; numpyro requires 4.
MIN_DRAWS = 4


def per_prediction(predictions, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """Split R-hat and ESS of every predicted quantity, of its weighted mean if weighted.

    With weights ``w`` (time-rescaled samplers), the estimate is the ratio
    ``sum w f / sum w``; to first order its error is the mean of
    ``z = w (f - mu_w) / mean(w)``, so R-hat and the autocorrelation-based ESS are those
    of ``z``, and the ESS is rescaled by ``var_w(f) / var(z)`` so that it is the number of
    independent unweighted draws that would give the same variance. With equal weights
    ``z = f - mu`` and both are the unweighted values; for independent draws it is
    Kish's ``(sum w)^2 / sum w^2``.

    Args:
        predictions: an array ``(chain, draw, ...)`` (a NumPy or JAX array).
        weights: ``(chain, draw)`` non-negative weights of the draws (None: equal).

    Returns:
        ``(rhat, ess)``, each of shape ``predictions.shape[2:]``, the ESS never negative
        (:func:`_valid_ess`); all NaN when there are
        fewer than :data:`MIN_DRAWS` draws per chain. R-hat is NaN where a quantity never
        varies (0/0) and ``inf`` where each chain is constant but the chains differ.

    Raises:
        ValueError: when ``predictions`` has fewer than two axes, or ``weights`` does not
            match its first two.
    """
    predictions = np.asarray(predictions, np.float64)
    if predictions.ndim < 2:
        raise ValueError(f"predictions must have shape (chain, draw, ...), got {predictions.shape}")
    if weights is not None and np.shape(weights) != predictions.shape[:2]:
        raise ValueError(f"weights must have shape {predictions.shape[:2]}, got {np.shape(weights)}")
    if predictions.shape[1] < MIN_DRAWS:
        nan = np.full(predictions.shape[2:], np.nan)
        return nan, nan.copy()
    # Constant quantities divide zero by zero; they are reported as NaN, not warned about.
    with np.errstate(divide="ignore", invalid="ignore"):
        if weights is None:
            return np.asarray(split_gelman_rubin(predictions)), _valid_ess(effective_sample_size(predictions))
        weights = chain_balanced(np.asarray(weights, np.float64))  # as the predictive combines chains
        weights = (weights / weights.mean()).reshape(weights.shape + (1,) * (predictions.ndim - 2))
        mean = np.sum(weights * predictions, axis=(0, 1)) / np.sum(weights, axis=(0, 1))
        weighted_variance = np.sum(weights * (predictions - mean) ** 2, axis=(0, 1)) / np.sum(weights, axis=(0, 1))
        linearised = weights * (predictions - mean)
        ess = _valid_ess(effective_sample_size(linearised)) * weighted_variance / np.mean(linearised**2, axis=(0, 1))
        return np.asarray(split_gelman_rubin(linearised)), ess


def _valid_ess(estimate) -> np.ndarray:
    """numpyro's ESS where it is valid, 0 where it is negative.

    numpyro divides the draws by the integrated autocorrelation time estimated from
    Geyer's initial sequence; with few draws, or chains that disagree so much that the
    between-chain variance swamps the within-chain one, the estimated time comes out
    negative and so does the ESS. Such an estimate means that no draw can be counted as
    an independent one, which is what 0 says.
    """
    estimate = np.asarray(estimate)
    return np.where(estimate < 0, 0.0, estimate)


def worst(rhat: np.ndarray, ess: np.ndarray) -> dict[str, float]:
    """The worst split R-hat and the smallest ESS over all predicted quantities.

    Args:
        rhat, ess: per quantity, from :func:`per_prediction`.

    Returns:
        ``{"rhat_max": float, "ess_min": float}``. Quantities that never vary (R-hat
        0/0) are left out; both are NaN when nothing is left (e.g. fewer than
        :data:`MIN_DRAWS` draws per chain, too few to split), rather than raising, so
        that a short run still writes its other metrics.
    """
    return {"rhat_max": _ignoring_nan(np.max, rhat), "ess_min": _ignoring_nan(np.min, ess)}


def _ignoring_nan(reduce, values: np.ndarray) -> float:
    """``reduce`` over the values that are not NaN; NaN when all are."""
    values = values[~np.isnan(values)]
    return float(reduce(values)) if values.size else float("nan")
