"""Distances between (weighted) samples and a reference sample or exact moments.

Every function takes optional weights for the samples judged, so that time-weighted
draws (SA-SGLD) are judged as the distribution they represent: a draw of weight 2 counts
as two draws of weight 1. Weights are normalised internally. All arithmetic is float64
NumPy: these run once per experiment on a few thousand points.

- :func:`squared_mmd` and :func:`mmd`: maximum mean discrepancy with an RBF kernel whose
  bandwidth is the median pairwise distance of the reference sample (the median
  heuristic, taken on the truth so that every sampler judged against it is judged by the
  same kernel). :func:`squared_mmd` is by default the unbiased estimate (a sample's
  kernel with itself left out), whose mean is zero for exact draws however few there
  are, so that samplers near the truth are told apart; :func:`mmd` is the root of the
  biased (V-statistic) estimate, never negative. Weights enter linearly in both.
- :func:`sliced_wasserstein`: the sliced 2-Wasserstein distance, averaging the exact 1-D
  W2 between weighted empirical distributions over random directions.
- :func:`moment_errors`: the error of the weighted mean (in units of the exact standard
  deviations) and of the covariance (relative Frobenius norm).

References:
    Gretton, Borgwardt, Rasch, Schölkopf & Smola, A kernel two-sample test, JMLR 2012.
    Bonneel, Rabin, Peyré & Pfister, Sliced and Radon Wasserstein barycenters of
    measures, JMIV 2015.
"""

from typing import Callable

import numpy as np

__all__ = ["mmd", "squared_mmd", "squared_mmd_to", "median_bandwidth", "sliced_wasserstein", "moment_errors",
           "weighted_moments"]


def _normalised(weights: np.ndarray | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    weights = np.asarray(weights, np.float64).reshape(-1)
    if weights.shape != (n,) or np.any(weights < 0) or not np.isfinite(weights).all() or weights.sum() <= 0:
        raise ValueError(f"weights must be {n} finite non-negative numbers with a positive sum")
    return weights / weights.sum()


def _points(samples: np.ndarray) -> np.ndarray:
    samples = np.asarray(samples, np.float64)
    return samples.reshape(-1, samples.shape[-1])


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum(np.sum(a**2, 1)[:, None] + np.sum(b**2, 1)[None, :] - 2.0 * a @ b.T, 0.0)


_KERNEL_ROWS = 2048  # rows of a kernel matrix held at once: 2048 x 16384 float64 is 256 MiB


def _kernel_mean(p: np.ndarray, u: np.ndarray, q: np.ndarray, v: np.ndarray, bandwidth: float, *,
                 without_diagonal: bool = False) -> float:
    """``p @ K(u, v) @ q`` for the RBF kernel, a block of rows at a time (optionally with
    ``K``'s diagonal left out, when ``u`` and ``v`` are the same points)."""
    total = 0.0
    for start in range(0, len(u), _KERNEL_ROWS):
        block = np.exp(-_squared_distances(u[start:start + _KERNEL_ROWS], v) / (2.0 * bandwidth**2))
        if without_diagonal:
            rows = np.arange(len(block))
            block[rows, start + rows] = 0.0
        total += float(p[start:start + _KERNEL_ROWS] @ block @ q)
    return total


def median_bandwidth(reference, *, max_points: int = 4096) -> float:
    """The median heuristic: the median pairwise distance of (at most ``max_points``
    evenly spaced) reference points."""
    y = _points(reference)
    y = y[np.linspace(0, len(y) - 1, min(max_points, len(y))).astype(int)]
    return float(np.sqrt(np.median(_squared_distances(y, y))))


def squared_mmd_to(reference, *, bandwidth: float | None = None,
                   unbiased: bool = True) -> Callable[..., float]:
    """:func:`squared_mmd` against a fixed ``reference``, whose kernel with itself (the
    largest of the three terms when the reference is the larger sample) is computed
    once for every sample judged.

    Args:
        reference: ``(m, d)`` points, e.g. exact draws from the target.
        bandwidth: the kernel's length scale; None takes :func:`median_bandwidth` of the
            reference.
        unbiased: leave out the diagonal terms.

    Returns:
        ``judge(samples, weights=None)``, the estimate of ``MMD^2`` between weighted
        ``samples`` and ``reference``.
    """
    y = _points(reference)
    b = _normalised(None, len(y))
    if bandwidth is None:
        bandwidth = median_bandwidth(y)
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")

    def within(p, u):
        pairs = 1.0 - float(p @ p) if unbiased else 1.0
        if not pairs > 0:
            raise ValueError("the unbiased MMD needs at least two points with positive weight on each side")
        return _kernel_mean(p, u, p, u, bandwidth, without_diagonal=unbiased) / pairs

    reference_term = within(b, y)

    def judge(samples, weights=None) -> float:
        x = _points(samples)
        a = _normalised(weights, len(x))
        return within(a, x) + reference_term - 2.0 * _kernel_mean(a, x, b, y, bandwidth)

    return judge


def squared_mmd(samples, reference, *, weights=None, bandwidth: float | None = None, unbiased: bool = True) -> float:
    """The squared RBF-kernel MMD between weighted ``samples`` and an unweighted ``reference``.

    ``MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)``. The unbiased estimate leaves out
    each point's kernel with itself from the first two terms (renormalising the weights
    of the pairs left), so it may be slightly negative; the biased one keeps them, which
    adds about ``1/n + 1/m`` for ``n`` samples and ``m`` reference points. To judge many
    samples against one reference, :func:`squared_mmd_to` computes the reference's own
    term once.

    Args:
        samples: ``(..., d)`` points (leading axes are flattened, e.g. chain and draw).
        reference: ``(m, d)`` points, e.g. exact draws from the target.
        weights: the samples' weights, shaped like their leading axes (None: equal).
        bandwidth: the kernel's length scale; None takes :func:`median_bandwidth` of the
            reference.
        unbiased: leave out the diagonal terms.

    Returns:
        The estimate of ``MMD^2`` with ``k(x, y) = exp(-|x - y|^2 / (2 bandwidth^2))``.
    """
    _normalised(weights, len(_points(samples)))  # bad weights are named before a bad reference
    return squared_mmd_to(reference, bandwidth=bandwidth, unbiased=unbiased)(samples, weights)


def mmd(samples, reference, *, weights=None, bandwidth: float | None = None) -> float:
    """The RBF-kernel MMD between weighted ``samples`` and an unweighted ``reference``:
    the root of :func:`squared_mmd`'s biased estimate (never negative).

    Args:
        samples: ``(..., d)`` points (leading axes are flattened, e.g. chain and draw).
        reference: ``(m, d)`` points, e.g. exact draws from the target.
        weights: the samples' weights, shaped like their leading axes (None: equal).
        bandwidth: the kernel's length scale; None takes the median heuristic.

    Returns:
        ``sqrt(max(MMD^2, 0))``.
    """
    squared = squared_mmd(samples, reference, weights=weights, bandwidth=bandwidth, unbiased=False)
    return float(np.sqrt(max(squared, 0.0)))


def _sorted_with_cumulative(values: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(values)
    return values[order], np.cumsum(weights[order])


def _w2_squared(x: np.ndarray, a: np.ndarray, y: np.ndarray, b: np.ndarray) -> float:
    """The squared 2-Wasserstein distance between two weighted 1-D empirical distributions.

    Both quantile functions are steps, constant between consecutive jumps of either, so
    the L2 distance between them is a finite sum over those intervals.
    """
    x, x_cumulative = _sorted_with_cumulative(x, a)
    y, y_cumulative = _sorted_with_cumulative(y, b)
    levels = np.unique(np.concatenate([x_cumulative, y_cumulative, [0.0]]).clip(0.0, 1.0))
    midpoints = 0.5 * (levels[1:] + levels[:-1])

    def quantiles(values, cumulative):
        return values[np.minimum(np.searchsorted(cumulative, midpoints * cumulative[-1]), len(values) - 1)]

    return float(np.diff(levels) @ (quantiles(x, x_cumulative) - quantiles(y, y_cumulative)) ** 2)


def sliced_wasserstein(samples, reference, *, weights=None, num_directions: int = 200, seed: int = 0) -> float:
    """The sliced 2-Wasserstein distance between weighted ``samples`` and ``reference``.

    For each of ``num_directions`` uniform random directions, the exact W2 between the
    two projected empirical distributions (the L2 distance between their quantile
    functions, evaluated where either jumps); the result is the root mean square over
    directions.

    Args:
        samples: ``(..., d)`` points (leading axes flattened).
        reference: ``(m, d)`` points.
        weights: the samples' weights (None: equal).
        num_directions: random projections.
        seed: for the directions (fixed, so that calls are comparable).

    Returns:
        ``sqrt(mean over directions of W2^2)``.
    """
    x, y = _points(samples), _points(reference)
    a, b = _normalised(weights, len(x)), _normalised(None, len(y))
    directions = np.random.default_rng(seed).normal(size=(num_directions, x.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    total = sum(_w2_squared(x @ direction, a, y @ direction, b) for direction in directions)
    return float(np.sqrt(total / num_directions))


def weighted_moments(samples, weights=None) -> tuple[np.ndarray, np.ndarray]:
    """The weighted mean ``(d,)`` and covariance ``(d, d)`` of ``samples`` ``(..., d)``."""
    x = _points(samples)
    a = _normalised(weights, len(x))
    mean = a @ x
    centred = x - mean
    return mean, (a[:, None] * centred).T @ centred


def moment_errors(samples, mean, cov, *, weights=None) -> dict[str, float]:
    """How far the weighted moments of ``samples`` are from the exact ``mean`` and ``cov``.

    Returns:
        ``mean_error``: the largest ``|mean_hat_i - mean_i| / sqrt(cov_ii)``;
        ``cov_error``: ``||cov_hat - cov||_F / ||cov||_F``.
    """
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    mean_hat, cov_hat = weighted_moments(samples, weights)
    return {"mean_error": float(np.max(np.abs(mean_hat - mean) / np.sqrt(np.diag(cov)))),
            "cov_error": float(np.linalg.norm(cov_hat - cov) / np.linalg.norm(cov))}
