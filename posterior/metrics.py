"""Test metrics of a posterior predictive, as Python floats.

Every function takes per-example quantities from ``posterior.predictive.summarise``
(already averaged over weighted draws) and test targets, as NumPy or JAX arrays, and
computes on the host in float64. Regression models trained on standardised targets
predict in standardised units; ``scale`` (the training targets' standard deviation)
converts to the original units: errors multiply by it, and a density in ``y`` divides
by it, so a log density drops by ``log scale``.
"""

import math
from typing import Any

import numpy as np

__all__ = [
    "rmse",
    "log_likelihood",
    "accuracy",
    "nll",
    "ece",
    "brier",
    "regression_metrics",
    "classification_metrics",
]

ArrayLike = Any


def _targets_like(y: ArrayLike, predicted: np.ndarray) -> np.ndarray:
    """``y`` as float64 of ``predicted``'s shape; refuses shapes that would broadcast."""
    y = np.asarray(y, np.float64)
    if y.size != predicted.size:
        raise ValueError(f"targets of shape {y.shape} do not match predictions of shape {predicted.shape}")
    return y.reshape(predicted.shape)


def _labels_for(probs: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``probs`` as float64 ``(n, K)`` and ``y`` as int ``(n,)``, checked against each other."""
    probs = np.asarray(probs, np.float64)
    y = np.asarray(y)
    if probs.ndim != 2 or y.shape != probs.shape[:1]:
        raise ValueError(f"need probs (n, K) and labels (n,), got {probs.shape} and {y.shape}")
    return probs, y.astype(np.int64)


def rmse(mean: ArrayLike, y: ArrayLike, *, scale: float = 1.0) -> float:
    """Root mean squared error of the predictive mean.

    Args:
        mean: predictive means ``(n,)``.
        y: targets ``(n,)`` in the same units as ``mean``.
        scale: multiply by this to report in other units (the target standard deviation
            for standardised targets; the mean shift cancels in the error).

    Returns:
        ``scale * sqrt(mean_i (mean_i - y_i)^2)``.
    """
    mean = np.asarray(mean, np.float64)
    return float(scale * np.sqrt(np.mean(np.square(mean - _targets_like(y, mean)))))


def log_likelihood(log_density: ArrayLike, *, scale: float = 1.0) -> float:
    """Test log-likelihood per point.

    Args:
        log_density: predictive log densities of the test targets ``(n,)``
            (``summarise(...)["log_density"]``, the log of the weighted mixture).
        scale: the standardisation scale of the targets: a density over standardised
            targets ``z = (y - m) / scale`` becomes one over ``y`` by dividing by ``scale``.

    Returns:
        ``mean_i log_density_i - log(scale)``.
    """
    return float(np.mean(np.asarray(log_density, np.float64)) - math.log(scale))


def accuracy(probs: ArrayLike, y: ArrayLike) -> float:
    """The fraction of test points whose most probable class is the label.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.

    Returns:
        A float in ``[0, 1]``.
    """
    probs, y = _labels_for(probs, y)
    return float(np.mean(np.argmax(probs, axis=-1) == y))


def nll(log_density: ArrayLike) -> float:
    """Negative log-likelihood per point of the averaged probabilities.

    Takes the predictive's log density rather than its probabilities: for a categorical
    likelihood ``summarise(...)["log_density"]`` is exactly ``log`` of the averaged
    probability of the true label, accumulated by log-sum-exp, so it needs no clipping
    where that probability underflows.

    Args:
        log_density: ``log p(y_i | x_i, D)`` per test point ``(n,)``.

    Returns:
        ``-mean_i log_density_i``.
    """
    return -log_likelihood(log_density)


def ece(probs: ArrayLike, y: ArrayLike, *, num_bins: int = 15) -> float:
    """Expected calibration error over equal-width bins of top-1 confidence.

    Each point falls in the bin ``((b - 1) / B, b / B]`` holding its top-1 confidence
    (a confidence of exactly 0 in the first bin); the ECE is the average over bins of
    ``|accuracy - mean confidence|``, each bin weighted by its fraction of the points.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.
        num_bins: ``B``, the number of bins on ``[0, 1]``.

    Returns:
        A float in ``[0, 1]``.

    References:
        Guo, Pleiss, Sun & Weinberger, On calibration of modern neural networks, ICML 2017.
    """
    probs, y = _labels_for(probs, y)
    confidence = np.max(probs, axis=-1)
    correct = (np.argmax(probs, axis=-1) == y).astype(np.float64)
    # The bin b with edges[b] < confidence <= edges[b + 1], against the same edges as the
    # usual implementations, so that points on an edge land where theirs do.
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    bins = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, num_bins - 1)
    count = np.bincount(bins, minlength=num_bins)
    # Per bin, sum of (correct - confidence) / n: the bin's fraction times its gap.
    gap = np.bincount(bins, weights=correct - confidence, minlength=num_bins)
    return float(np.sum(np.abs(gap)) / max(count.sum(), 1))


def brier(probs: ArrayLike, y: ArrayLike) -> float:
    """The Brier score: squared error of the probability vector against the one-hot label.

    Args:
        probs: predictive class probabilities ``(n, K)``.
        y: integer labels ``(n,)``.

    Returns:
        ``mean_i sum_k (p_ik - [y_i = k])^2``, in ``[0, 2]``.
    """
    probs, y = _labels_for(probs, y)
    one_hot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum(np.square(probs - one_hot), axis=-1)))


def regression_metrics(summary: dict[str, ArrayLike], y: ArrayLike, *, y_scale: float) -> dict[str, float]:
    """RMSE and test log-likelihood, in original units.

    Args:
        summary: ``posterior.predictive.summarise(...)`` of a Gaussian predictive, with
            ``mean`` and ``log_density`` in standardised units.
        y: test targets in the same standardised units.
        y_scale: the standard deviation the targets were divided by (1.0 when they were
            not standardised).

    Returns:
        ``{"test_rmse", "test_ll"}``; the log-likelihood is that of the predictive
        mixture (not a moment-matched Gaussian).
    """
    return {
        "test_rmse": rmse(summary["mean"], y, scale=y_scale),
        "test_ll": log_likelihood(summary["log_density"], scale=y_scale),
    }


def classification_metrics(summary: dict[str, ArrayLike], y: ArrayLike) -> dict[str, float]:
    """Accuracy, NLL, ECE and Brier score of a categorical predictive.

    Args:
        summary: ``posterior.predictive.summarise(...)`` with ``probs`` and
            ``log_density``.
        y: integer test labels ``(n,)``.

    Returns:
        ``{"test_accuracy", "test_nll", "test_ece", "test_brier"}``.
    """
    probs = summary["probs"]
    return {
        "test_accuracy": accuracy(probs, y),
        "test_nll": nll(summary["log_density"]),
        "test_ece": ece(probs, y),
        "test_brier": brier(probs, y),
    }
