"""Targets with known moments, and the exact stationary covariance of the samplers on them.

Used by ``test_sampler_statistics.py``. Two kinds of target:

* :func:`correlated_gaussian`: a 2-D Gaussian, no data (``batch`` is None).
* :func:`linear_regression`: Bayesian linear regression with a Gaussian prior and known
  noise, whose posterior is Gaussian with mean and covariance from the normal equations;
  its ``logdensity`` scales a minibatch log-likelihood by N/|B| (unbiased for the full
  log posterior).

On a Gaussian target, SGLD and SGHMC are linear recursions, so their *discrete*
stationary covariance (which differs from the target's by the step-size bias) can be
computed exactly: :func:`sgld_stationary_cov` and :func:`sghmc_stationary_cov` solve the
discrete Lyapunov equation; :func:`minibatch_stationary_moments` does the same for the
minibatch recursion, with the driver's batching (a fresh permutation of the data each
epoch, consecutive slices of it as batches). The tests use these to show that the
samplers' bias at the chosen step sizes is far below the 10% tolerance, so that a failed
test points at the sampler, not at a step size chosen too large.
"""

from dataclasses import dataclass
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class GaussianTarget:
    """A target whose (tempered) distribution is exactly Gaussian.

    Attributes:
        name: shown in failure messages.
        mean, cov: the exact moments at temperature 1 (float64 NumPy).
        logdensity: ``logdensity(params, batch)`` as the samplers take it.
        data: the ``data`` argument for :func:`samplers.sample` (None: no data).
        noise_std, prior_std: for linear regression, the known noise and prior standard
            deviations (what :func:`minibatch_stationary_moments` needs).
    """

    name: str
    mean: np.ndarray
    cov: np.ndarray
    logdensity: Callable
    data: tuple | None = None
    noise_std: float | None = None
    prior_std: float | None = None

    @property
    def precision(self) -> np.ndarray:
        """The precision matrix A (the Hessian of -log density), float64."""
        return np.linalg.inv(self.cov)

    def init_fn(self, overdispersion: float = 2.0) -> Callable:
        """Per-chain starting points ``mean + overdispersion * chol(cov) @ z``.

        Overdispersed starts (Gelman & Rubin): the chains begin further apart than the
        target, so a too-short burn-in shows up as a too-large covariance, and the chains
        are independent from the first step.
        """
        mean = jnp.asarray(self.mean, jnp.float32)
        factor = jnp.asarray(overdispersion * np.linalg.cholesky(self.cov), jnp.float32)

        def init(key):
            return mean + factor @ jax.random.normal(key, mean.shape, jnp.float32)

        return init


def correlated_gaussian() -> GaussianTarget:
    """N(mean, cov) in 2-D: variances 1 and 2, correlation 0.8, non-zero mean.

    Precision eigenvalues 0.365 and 3.80 (condition number 10.4): the slow direction is
    what makes covariance estimation expensive, the fast one what limits the step size.
    """
    mean = np.array([1.0, -2.0])
    sd = np.array([1.0, np.sqrt(2.0)])
    corr = np.array([[1.0, 0.8], [0.8, 1.0]])
    cov = corr * np.outer(sd, sd)
    precision = jnp.asarray(np.linalg.inv(cov), jnp.float32)
    mean32 = jnp.asarray(mean, jnp.float32)

    def logdensity(params, batch):
        del batch
        centred = params - mean32
        return -0.5 * centred @ precision @ centred

    return GaussianTarget("correlated 2-D Gaussian", mean, cov, logdensity)


def linear_regression(
    num_data: int = 500,
    noise_std: float = 0.5,
    prior_std: float = 1.0,
    seed: int = 0,
) -> GaussianTarget:
    """Bayesian linear regression y = X w + noise with a closed-form posterior.

    Features: 3 correlated Gaussian columns (pairwise correlation 0.5, standard
    deviations 1, 0.7, 1.3) with non-zero means (1, -0.5, 0.5), no intercept; true
    weights (0.8, -1.2, 0.4); noise N(0, noise_std^2) known; prior N(0, prior_std^2 I).
    The posterior is N(m, S) with S = (I / prior_std^2 + X'X / noise_std^2)^-1 and
    m = S X'y / noise_std^2, computed in float64 from the float32 data the sampler sees.
    With the defaults the posterior correlations are 0.31, -0.66, -0.30 and the
    precision's eigenvalues are 951, 1951, 6952 (condition number 7.3).

    ``logdensity(w, (X_B, y_B))`` = log prior + (N/|B|) * minibatch log-likelihood (up to
    a constant): an unbiased estimate of the log posterior for any batch size.
    """
    rng = np.random.default_rng(seed)
    feature_mean = np.array([1.0, -0.5, 0.5])
    feature_sd = np.array([1.0, 0.7, 1.3])
    feature_corr = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    x = rng.multivariate_normal(feature_mean, feature_corr * np.outer(feature_sd, feature_sd), size=num_data)
    y = x @ np.array([0.8, -1.2, 0.4]) + noise_std * rng.normal(size=num_data)
    x, y = x.astype(np.float32), y.astype(np.float32)
    x64, y64 = x.astype(np.float64), y.astype(np.float64)
    precision = np.eye(3) / prior_std**2 + x64.T @ x64 / noise_std**2
    cov = np.linalg.inv(precision)
    mean = cov @ (x64.T @ y64) / noise_std**2

    def logdensity(w, batch):
        xb, yb = batch
        log_prior = -0.5 * jnp.sum(jnp.square(w)) / prior_std**2
        log_lik = -0.5 * jnp.sum(jnp.square(yb - xb @ w)) / noise_std**2
        return log_prior + (num_data / yb.shape[0]) * log_lik

    return GaussianTarget("Bayesian linear regression", mean, cov, logdensity, (x, y), noise_std, prior_std)


# ---------------------------------------------------------------------------------------
# Exact stationary moments of the discretised samplers on Gaussian targets.


def whitened_error(cov_hat: np.ndarray, cov: np.ndarray) -> float:
    """max |eigenvalue - 1| of L^-1 cov_hat L^-T, with cov = L L^T.

    Equivalently the largest relative error of the variance of any linear combination:
    max over u of |u' cov_hat u - u' cov u| / u' cov u. This is the covariance criterion
    of the tests (the tolerance is 0.1): it is invariant to linear reparameterisation
    and, unlike an entrywise criterion, sees errors in the low-variance direction of a
    correlated target.
    """
    factor = np.linalg.cholesky(cov)
    inv = np.linalg.inv(factor)
    return float(np.max(np.abs(np.linalg.eigvalsh(inv @ cov_hat @ inv.T) - 1.0)))


def sgld_stationary_cov(precision: np.ndarray, step_size: float, temperature: float = 1.0) -> np.ndarray:
    """Stationary covariance of full-gradient SGLD on N(m, precision^-1).

    x' = (I - eps A) x + sqrt(2 eps T) xi; per eigenvalue lambda of A the variance is
    T / (lambda (1 - eps lambda / 2)).
    """
    d = len(precision)
    transition = np.eye(d) - step_size * precision
    return scipy.linalg.solve_discrete_lyapunov(transition, 2.0 * step_size * temperature * np.eye(d))


def _sghmc_matrices(precision, step_size, friction, temperature, inv_mass):
    """Transition F, noise loading H and gradient loading G of SGHMC on z = (x, v).

    v' = (1 - a) v - eta P A x + eta P zeta + sqrt(2 a eta T P) xi,  x' = x + v',
    with P = diag(inv_mass) and zeta the gradient noise.
    """
    d = len(precision)
    inv_mass = np.ones(d) if inv_mass is None else np.asarray(inv_mass, np.float64)
    p = np.diag(inv_mass)
    momentum_row = np.hstack([-step_size * p @ precision, (1.0 - friction) * np.eye(d)])
    position_row = momentum_row + np.hstack([np.eye(d), np.zeros((d, d))])
    transition = np.vstack([position_row, momentum_row])
    noise = np.diag(np.sqrt(2.0 * friction * step_size * temperature * inv_mass))
    return transition, np.vstack([noise, noise]), np.vstack([step_size * p, step_size * p])


def sghmc_stationary_cov(
    precision: np.ndarray,
    step_size: float,
    friction: float,
    temperature: float = 1.0,
    inv_mass: np.ndarray | None = None,
) -> np.ndarray:
    """Stationary covariance of the position under full-gradient SGHMC on N(m, precision^-1)."""
    d = len(precision)
    transition, noise, _ = _sghmc_matrices(precision, step_size, friction, temperature, inv_mass)
    joint = scipy.linalg.solve_discrete_lyapunov(transition, noise @ noise.T)
    return joint[:d, :d]


def minibatch_stationary_moments(
    target: GaussianTarget,
    kind: str,
    batch_size: int,
    step_size: float,
    friction: float | None = None,
    temperature: float = 1.0,
    inv_mass: np.ndarray | None = None,
    num_permutations: int = 1000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Stationary mean offset and covariance of minibatch SGLD/SGHMC on linear regression.

    With a minibatch B the gradient is -A_B (w - m) + c_B, with A_B and c_B random but
    linear in w, so the state z = (w - m [, v], 1) evolves by random affine maps. Over one
    epoch (N/|B| steps through one random permutation of the data, as the driver draws
    batches) the second moment E[z z'] obeys Z <- E[Phi Z Phi'] + Q with Phi the product
    of the epoch's maps; the expectation over permutations is a Monte Carlo average over
    ``num_permutations`` permutations, everything else is exact. The fixed point gives the
    moments at the start of an epoch; propagating them through k steps gives those at
    phase k. The result is the mixture over all phases (draws whose spacing is coprime to
    the epoch length visit every phase equally often).

    Sampling without replacement makes the gradient noise of one epoch sum to zero at a
    fixed w, which is why the bias is several times smaller than an i.i.d.-batch
    analysis (gradient-noise covariance added to the Lyapunov equation) predicts. Feeding
    this function independent batches instead reproduces that i.i.d. analysis.

    Returns:
        (mean offset from the posterior mean, covariance) of the position.
    """
    x, y = (np.asarray(a, np.float64) for a in target.data)
    num_data, d = x.shape
    steps_per_epoch = num_data // batch_size
    rng = np.random.default_rng(seed)
    rows = np.argsort(rng.random((num_permutations, num_data)), axis=1)[:, : steps_per_epoch * batch_size]
    rows = rows.reshape(num_permutations, steps_per_epoch, batch_size)
    xb, yb = x[rows], y[rows]
    scale = num_data / batch_size
    a_hat = np.eye(d) / target.prior_std**2 + scale * np.einsum("pkbi,pkbj->pkij", xb, xb) / target.noise_std**2
    b_hat = scale * np.einsum("pkbi,pkb->pki", xb, yb) / target.noise_std**2
    c_hat = b_hat - np.einsum("pkij,j->pki", a_hat, target.mean)

    # Per-step affine maps on z = (x[, v], 1): z' = M z + H xi.
    if kind == "sgld":
        size = d + 1
        maps = np.zeros((num_permutations, steps_per_epoch, size, size))
        maps[..., :d, :d] = np.eye(d) - step_size * a_hat
        maps[..., :d, d] = step_size * c_hat
        noise = np.zeros((size, d))
        noise[:d] = np.sqrt(2.0 * step_size * temperature) * np.eye(d)
    elif kind == "sghmc":
        size = 2 * d + 1
        inv_mass = np.ones(d) if inv_mass is None else np.asarray(inv_mass, np.float64)
        maps = np.zeros((num_permutations, steps_per_epoch, size, size))
        momentum = -step_size * inv_mass[:, None] * a_hat  # rows of P A_B
        maps[..., d : 2 * d, :d] = momentum
        maps[..., d : 2 * d, d : 2 * d] = (1.0 - friction) * np.eye(d)
        maps[..., d : 2 * d, 2 * d] = step_size * inv_mass * c_hat
        maps[..., :d, :] = maps[..., d : 2 * d, :]
        maps[..., :d, :d] += np.eye(d)
        noise_scale = np.diag(np.sqrt(2.0 * friction * step_size * temperature * inv_mass))
        noise = np.zeros((size, d))
        noise[:d] = noise_scale
        noise[d : 2 * d] = noise_scale
    else:
        raise ValueError(kind)
    maps[..., -1, -1] = 1.0
    injected = noise @ noise.T

    # Through one epoch: Phi (product of maps) and the noise accumulated, per permutation.
    phi = np.broadcast_to(np.eye(size), (num_permutations, size, size)).copy()
    accumulated = np.zeros((num_permutations, size, size))
    prefixes, noises = [phi.copy()], [accumulated.copy()]
    for k in range(steps_per_epoch):
        step = maps[:, k]
        phi = step @ phi
        accumulated = step @ accumulated @ np.swapaxes(step, 1, 2) + injected
        prefixes.append(phi.copy())
        noises.append(accumulated.copy())

    # Fixed point of Z = E[Phi Z Phi'] + E[Q] with Z[-1, -1] = 1.
    kron = np.einsum("pij,pkl->ikjl", phi, phi).reshape(size * size, size * size) / num_permutations
    system = np.eye(size * size) - kron
    rhs = noises[-1].mean(0).reshape(-1).copy()
    system[-1] = 0.0
    system[-1, -1] = 1.0
    rhs[-1] = 1.0
    start = np.linalg.solve(system, rhs).reshape(size, size)
    start = 0.5 * (start + start.T)

    # Moments at every phase of the epoch, mixed.
    second = np.zeros((d, d))
    first = np.zeros(d)
    for k in range(steps_per_epoch):
        moment = np.einsum("pij,jk,plk->il", prefixes[k], start, prefixes[k]) / num_permutations + noises[k].mean(0)
        second += moment[:d, :d] / steps_per_epoch
        first += moment[:d, -1] / steps_per_epoch
    return first, second - np.outer(first, first)
