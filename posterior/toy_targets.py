"""Two-dimensional targets with exact samplers and exact moments, for judging samplers.

Each :class:`ToyTarget` has a log density for the samplers (JAX, of a ``(2,)`` position),
an exact sampler for reference draws (NumPy) and its exact mean and covariance:

- :func:`star`: ``U = x^2 + y^2 + 1000 x^2 y^2``, two narrow ridges along the axes whose
  curvature across the ridge grows with the distance from the origin: fixed-step
  samplers must use the step the tips allow everywhere.
- :func:`funnel`: Neal's funnel, ``y ~ N(0, 1)``, ``x | y ~ N(0, e^y)``.
- :func:`gaussian_mixture`: two modes, weights 0.45/0.55, means (-4, 0) and (4.5, 0).
- :func:`sharp_flat_mixture`: equal weights on a sharp mode (std 0.2) at (-3, 0) and a
  flat one (std 1) at (3, 0). Its flat basin is ``x > x*``, ``x*`` where the density
  along the line between the modes is lowest (the barrier, close to the sharp mode);
  :func:`flat_mass` is the exact probability of the flat basin under the target, or
  under the target smoothed by a Gaussian of variance ``eta`` (Entropy-MCMC's anchor
  marginal), which moves mass out of the sharp basin into the flat one.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import integrate, optimize, stats

__all__ = ["ToyTarget", "star", "funnel", "gaussian_mixture", "sharp_flat_mixture", "TARGETS"]


class ToyTarget(NamedTuple):
    """A 2-D target.

    Attributes:
        name: a short name.
        logdensity: ``logdensity(position, batch=None)``, the log density up to a
            constant of a ``(2,)`` position, as the samplers take it.
        sample: ``sample(rng, n) -> (n, 2)``, exact independent draws
            (``rng`` a ``numpy.random.Generator``).
        mean: the exact mean, ``(2,)``.
        cov: the exact covariance, ``(2, 2)``.
    """

    name: str
    logdensity: Callable[..., jax.Array]
    sample: Callable[[np.random.Generator, int], np.ndarray]
    mean: np.ndarray
    cov: np.ndarray


_STAR_COUPLING = 1000.0


def star() -> ToyTarget:
    """``p(x, y) ∝ exp(-(x^2 + y^2 + 1000 x^2 y^2))``.

    Exact draws: ``x`` from its marginal ``∝ exp(-x^2) / sqrt(1 + 1000 x^2)`` by rejection
    from ``N(0, 1/2)`` (accepting with probability ``1 / sqrt(1 + 1000 x^2)``), then
    ``y | x ~ N(0, 1 / (2 (1 + 1000 x^2)))``. Symmetric in ``x`` and ``y``, so the mean
    is zero and the covariance ``v I``, ``v = E[x^2]`` by quadrature of the marginal.
    """

    def logdensity(position, batch=None):
        del batch
        x, y = position[0], position[1]
        return -(x**2 + y**2 + _STAR_COUPLING * x**2 * y**2)

    def marginal(x):
        return np.exp(-x**2) / np.sqrt(1.0 + _STAR_COUPLING * x**2)

    def sample(rng, n):
        xs = []
        while sum(len(x) for x in xs) < n:
            proposal = rng.normal(0.0, np.sqrt(0.5), size=4 * n)
            xs.append(proposal[rng.uniform(size=4 * n) < 1.0 / np.sqrt(1.0 + _STAR_COUPLING * proposal**2)])
        x = np.concatenate(xs)[:n]
        y = rng.normal(size=n) / np.sqrt(2.0 * (1.0 + _STAR_COUPLING * x**2))
        return np.stack([x, y], axis=1)

    def half_integral(f):
        # The marginal has a peak of width ~0.03 at 0: integrate it on its own piece.
        return sum(integrate.quad(f, a, b, limit=200)[0] for a, b in ((0.0, 0.1), (0.1, np.inf)))

    variance = half_integral(lambda x: x**2 * marginal(x)) / half_integral(marginal)
    return ToyTarget("star", logdensity, sample, np.zeros(2), variance * np.eye(2))


def funnel() -> ToyTarget:
    """Neal's funnel in 2-D, position ``(x, y)``: ``y ~ N(0, 1)``, ``x | y ~ N(0, e^y)``.

    ``Var(x) = E[e^y] = e^(1/2)``, ``Var(y) = 1``, uncorrelated.
    """

    def logdensity(position, batch=None):
        del batch
        x, y = position[0], position[1]
        return -0.5 * y**2 - 0.5 * x**2 * jnp.exp(-y) - 0.5 * y

    def sample(rng, n):
        y = rng.normal(size=n)
        return np.stack([np.exp(0.5 * y) * rng.normal(size=n), y], axis=1)

    return ToyTarget("funnel", logdensity, sample, np.zeros(2), np.diag([np.exp(0.5), 1.0]))


def _mixture(name: str, weights, means, covs) -> ToyTarget:
    """A Gaussian mixture with exact draws and moments."""
    weights, means, covs = (np.asarray(v, np.float64) for v in (weights, means, covs))
    precisions = np.linalg.inv(covs)
    log_norms = np.log(weights) - 0.5 * np.log(np.linalg.det(2 * np.pi * covs))
    precisions32, means32, log_norms32 = (jnp.asarray(v, jnp.float32) for v in (precisions, means, log_norms))

    def logdensity(position, batch=None):
        del batch
        centred = position - means32
        quadratic = jnp.einsum("ki,kij,kj->k", centred, precisions32, centred)
        return jax.nn.logsumexp(log_norms32 - 0.5 * quadratic)

    def sample(rng, n):
        component = rng.choice(len(weights), size=n, p=weights)
        draws = np.empty((n, 2))
        for k in range(len(weights)):
            chosen = component == k
            draws[chosen] = rng.multivariate_normal(means[k], covs[k], size=int(chosen.sum()))
        return draws

    mean = weights @ means
    cov = np.einsum("k,kij->ij", weights, covs + np.einsum("ki,kj->kij", means, means)) - np.outer(mean, mean)
    return ToyTarget(name, logdensity, sample, mean, cov)


def gaussian_mixture() -> ToyTarget:
    """Weights 0.45/0.55, means (-4, 0) and (4.5, 0), covariances diag(1.5, 1) and
    [[0.5, 0.1], [0.1, 0.3]]."""
    return _mixture("mixture", [0.45, 0.55], [[-4.0, 0.0], [4.5, 0.0]],
                    [np.diag([1.5, 1.0]), [[0.5, 0.1], [0.1, 0.3]]])


SHARP_STD, FLAT_STD, MODE_OFFSET = 0.2, 1.0, 3.0


def sharp_flat_mixture() -> ToyTarget:
    """Equal weights on N((-3, 0), 0.2^2 I) (sharp) and N((3, 0), I) (flat)."""
    return _mixture("sharp-flat", [0.5, 0.5], [[-MODE_OFFSET, 0.0], [MODE_OFFSET, 0.0]],
                    [SHARP_STD**2 * np.eye(2), FLAT_STD**2 * np.eye(2)])


@functools.cache
def flat_boundary() -> float:
    """``x*``: where the sharp/flat mixture's density along the x axis is lowest between its modes."""
    target = sharp_flat_mixture()
    result = optimize.minimize_scalar(lambda x: float(target.logdensity(jnp.array([x, 0.0]))),
                                      bounds=(-MODE_OFFSET, MODE_OFFSET), method="bounded",
                                      options={"xatol": 1e-6})
    return float(result.x)


def flat_region(draws: np.ndarray) -> np.ndarray:
    """Whether each of ``draws`` ``(..., 2)`` lies in the flat mode's basin (``x > x*``)."""
    return np.asarray(draws)[..., 0] > flat_boundary()


def flat_mass(smoothing: float = 0.0) -> float:
    """The exact probability of :func:`flat_region` under :func:`sharp_flat_mixture`, or
    under it convolved with ``N(0, smoothing I)`` (the anchor marginal for ``eta``)."""
    boundary = flat_boundary()
    flat = stats.norm.cdf((MODE_OFFSET - boundary) / np.sqrt(FLAT_STD**2 + smoothing))
    sharp = stats.norm.cdf((-MODE_OFFSET - boundary) / np.sqrt(SHARP_STD**2 + smoothing))
    return float(0.5 * (flat + sharp))


TARGETS: dict[str, Callable[[], ToyTarget]] = {
    "star": star, "funnel": funnel, "mixture": gaussian_mixture, "sharp-flat": sharp_flat_mixture}
