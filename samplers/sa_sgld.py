"""SA-SGLD: SGLD with an adaptive step size by time rescaling (SamAdams), time-weighted.

A scalar ``zeta`` per chain follows ``dzeta = (-alpha zeta + g(theta)) dtau`` with the
monitor ``g(theta) = ||grad U~(theta)||^s / Omega``; the Sundman map
``psi(zeta) = m (zeta^r + M) / (zeta^r + m)``, in ``(m, M]``, turns it into the step
``dt = psi(zeta) dtau``, so steep regions get small steps. One step is Z-EM-Z: half a
step of ``zeta`` (exact, ``rho = exp(-alpha dtau / 2)``), an Euler–Maruyama SGLD step of
size ``dt``, then the other half with the monitor at the new point. The gradient at the
new point is kept in the state and drives the next step, so a step costs one gradient,
as SGLD does.

``psi`` is a clock, not a preconditioner: in physical time the chain is plain Langevin
dynamics, so the draws are not distributed as the target, but the time-weighted average
``sum psi_n f(theta_n) / sum psi_n`` is. Every step therefore reports the weight of the
state it returns, ``info.weight = psi`` at that state (the factor of the step about to
be taken from it), and the driver, predictive and metrics weigh draws by it. One clock
per chain: per-layer clocks would break the exactness argument.

The state holds the gradient at its position, so :func:`init` needs the log density and
a batch; the driver hands ``init`` each chain's first minibatch (the one its first step
also uses).

References:
    Rajpal, Leimkuhler & Jiang, 2025, arXiv 2511.11666 (SA-SGLD).
    Leimkuhler, Lohmann & Whalley, 2025 (SamAdams: adaptive step sizes by time
    rescaling).
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from samplers.base import (
    ArrayTree,
    LogDensityFn,
    PRNGKey,
    SamplingAlgorithm,
    SGMCMCInfo,
    check_sgmcmc_hyperparameters,
    clip_by_global_norm,
    global_norm,
    langevin_step,
)
from samplers.schedules import Schedule, as_schedule
from samplers.validation import check_positive

__all__ = ["SASGLDState", "Clock", "DEFAULT_CLOCK", "init", "build_kernel", "sa_sgld"]


class Clock(NamedTuple):
    """The hyperparameters of the time rescaling (the names and defaults of docs/algorithms.md#sa-sgld).

    Attributes:
        alpha: the relaxation rate of ``zeta``.
        power: ``s``, the power of the gradient norm in the monitor.
        omega: ``Omega``, the monitor's scale (for networks it must scale with the
            gradient norm, e.g. 5e4).
        smallest: ``m``, the smallest factor ``psi`` reaches.
        largest: ``M``, the largest.
        exponent: ``r``, the exponent of ``zeta`` in ``psi``.
    """

    alpha: float = 1.0
    power: float = 2.0
    omega: float = 1.0
    smallest: float = 0.1
    largest: float = 10.0
    exponent: float = 0.25

    def monitor(self, grad_norm: jax.Array) -> jax.Array:
        """``g = ||grad U~||^s / Omega``."""
        return grad_norm**self.power / self.omega

    def factor(self, zeta: jax.Array) -> jax.Array:
        """The Sundman map ``psi(zeta) = m (zeta^r + M) / (zeta^r + m)``."""
        scaled = zeta**self.exponent
        return self.smallest * (scaled + self.largest) / (scaled + self.smallest)

    def relax(self, zeta: jax.Array, monitor: jax.Array, dtau: jax.Array) -> jax.Array:
        """Half a step of ``dzeta = (-alpha zeta + g) dtau`` with ``g`` held fixed (exact)."""
        rho = jnp.exp(-self.alpha * dtau / 2.0)
        return rho * zeta + (1.0 - rho) * monitor / self.alpha


DEFAULT_CLOCK = Clock()


class SASGLDState(NamedTuple):
    """The state of an SA-SGLD chain.

    Attributes:
        position: the parameters.
        grad: the minibatch gradient of the log density at ``position`` (unclipped).
        monitor: ``g`` at ``position`` (from ``grad``).
        zeta: the clock variable after the last step's second half-update.
        step: steps taken.
    """

    position: ArrayTree
    grad: ArrayTree
    monitor: jax.Array
    zeta: jax.Array
    step: jax.Array


def init(position: ArrayTree, batch: ArrayTree, logdensity_fn: LogDensityFn,
         clock: Clock = DEFAULT_CLOCK) -> SASGLDState:
    """The state at ``position``: its gradient on ``batch``, and ``zeta_0 = g(theta_0)``."""
    grad = jax.grad(logdensity_fn)(position, batch)
    monitor = clock.monitor(global_norm(grad))
    return SASGLDState(position, grad, monitor, monitor, jnp.zeros((), jnp.int32))


def build_kernel(clock: Clock = DEFAULT_CLOCK, max_grad_norm: float | None = None) -> Callable:
    """The SA-SGLD transition (Z-EM-Z, one gradient per step).

    Args:
        clock: the time-rescaling hyperparameters.
        max_grad_norm: clip the drift's gradient to this global norm (None: no clipping).
            The monitor always sees the unclipped norm.

    Returns:
        ``kernel(key, state, batch, logdensity_fn, dtau, next_dtau, temperature)``
        returning ``(state, info)``: ``dtau`` is this step's base step size and
        ``next_dtau`` the next one's (the weight of the new state is the factor of the
        next step).
    """

    def kernel(
        key: PRNGKey,
        state: SASGLDState,
        batch: ArrayTree,
        logdensity_fn: LogDensityFn,
        dtau: jax.Array,
        next_dtau: jax.Array,
        temperature: float,
    ) -> tuple[SASGLDState, SGMCMCInfo]:
        zeta = clock.relax(state.zeta, state.monitor, dtau)
        dt = clock.factor(zeta) * dtau
        drift, _ = clip_by_global_norm(state.grad, max_grad_norm)
        position = langevin_step(key, state.position, drift, dt, temperature)
        logdensity, grad = jax.value_and_grad(logdensity_fn)(position, batch)
        grad_norm = global_norm(grad)
        monitor = clock.monitor(grad_norm)
        zeta = clock.relax(zeta, monitor, dtau)
        weight = clock.factor(clock.relax(zeta, monitor, next_dtau))
        info = SGMCMCInfo(weight.astype(logdensity.dtype), dt, logdensity, grad_norm)
        return SASGLDState(position, grad, monitor, zeta, state.step + 1), info

    return kernel


def sa_sgld(
    logdensity_fn: LogDensityFn,
    step_size: float | Schedule,
    *,
    temperature: float = 1.0,
    alpha: float = DEFAULT_CLOCK.alpha,
    power: float = DEFAULT_CLOCK.power,
    omega: float = DEFAULT_CLOCK.omega,
    smallest: float = DEFAULT_CLOCK.smallest,
    largest: float = DEFAULT_CLOCK.largest,
    exponent: float = DEFAULT_CLOCK.exponent,
    max_grad_norm: float | None = None,
) -> SamplingAlgorithm:
    """SA-SGLD as a :class:`SamplingAlgorithm`; draws carry weights ``info.weight``.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, an unbiased estimate of the log
            posterior (minibatch log-likelihood already scaled by N/|B|).
        step_size: the base step ``dtau``, a float or a schedule of the step count.
        temperature: T; the time-weighted chain targets ``p^(1/T)``.
        alpha: the clock's relaxation rate (defaults: :data:`DEFAULT_CLOCK`, docs/algorithms.md#sa-sgld).
        power: ``s``, the monitor's power of the gradient norm.
        omega: ``Omega``, the monitor's scale.
        smallest: ``m``, the smallest step factor.
        largest: ``M``, the largest step factor.
        exponent: ``r`` in the Sundman map.
        max_grad_norm: optional clipping of the drift's gradient norm.

    Returns:
        ``SamplingAlgorithm(init, step)`` with ``init(position, batch=None)`` (the
        gradient at the start needs a batch when the log density reads one) and
        ``step(key, state, batch=None)``.
    """
    check_sgmcmc_hyperparameters(step_size, temperature, max_grad_norm)
    for name, value in (("alpha", alpha), ("power", power), ("omega", omega), ("smallest", smallest),
                        ("largest", largest), ("exponent", exponent)):
        check_positive(name, value)
    if not smallest < largest:
        raise ValueError(f"smallest={smallest} must be below largest={largest}")
    clock = Clock(alpha, power, omega, smallest, largest, exponent)
    step = Partial(_step, logdensity_fn, clock, as_schedule(step_size), temperature, max_grad_norm)
    return SamplingAlgorithm(Partial(_init, logdensity_fn, clock), step)


def _init(logdensity_fn: LogDensityFn, clock: Clock, position: ArrayTree, batch: ArrayTree = None) -> SASGLDState:
    return init(position, batch, logdensity_fn, clock)


def _step(logdensity_fn: LogDensityFn, clock: Clock, schedule: Schedule, temperature: float,
          max_grad_norm: float | None, key: PRNGKey, state: SASGLDState,
          batch: ArrayTree = None) -> tuple[SASGLDState, SGMCMCInfo]:
    kernel = build_kernel(clock, max_grad_norm)
    return kernel(key, state, batch, logdensity_fn, schedule(state.step), schedule(state.step + 1), temperature)
