"""Stochastic gradient Hamiltonian Monte Carlo (SGHMC), momentum-SGD parameterisation.

``v <- (1 - alpha) v + eta M^-1 grad log p~(theta) + sqrt(2 alpha eta T M^-1) xi``;
``theta <- theta + v``, with ``v_0 = 0``. ``eta`` is the learning rate (the square of the
physical step), ``alpha`` the friction (one minus the momentum). With scale adaptation
the diagonal ``M^-1`` is ``1/sqrt(E[g^2])`` of the stochastic gradient, estimated with
the adaptive window of Springenberg et al. during the first ``scale_adaptation_steps``
steps and frozen afterwards: a preconditioner that keeps adapting depends on the chain's
past and biases it, a frozen one is just a constant mass matrix. Without adaptation
``M = I``.

References:
    Chen, Fox & Guestrin, Stochastic gradient Hamiltonian Monte Carlo, ICML 2014.
    Springenberg, Klein, Falkner & Hutter, Bayesian optimization with robust Bayesian
    neural networks, NeurIPS 2016.
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
    normal_like,
    tree_where,
)
from samplers.schedules import Schedule, as_schedule

__all__ = ["ScaleAdaptationState", "SGHMCState", "init", "build_kernel", "sghmc"]

# Keeps M^-1 (and the window update) finite where a gradient is exactly zero while adapting.
_SCALE_EPSILON = 1e-8


class ScaleAdaptationState(NamedTuple):
    """Per-parameter running moments of the gradient (Springenberg et al. 2016).

    Attributes:
        grad_mean: running mean of the gradient.
        grad_sq_mean: running mean of its square; ``M^-1 = 1/sqrt(grad_sq_mean)``.
        window: the adaptive averaging window tau; it grows while the gradient's mean
            is small against its spread, so noisy parameters average over longer.
    """

    grad_mean: ArrayTree
    grad_sq_mean: ArrayTree
    window: ArrayTree


class SGHMCState(NamedTuple):
    """The state of an SGHMC chain.

    Attributes:
        position: the parameters.
        momentum: v, in parameter units (the last increment of the position).
        step: the number of steps taken.
        scale: the scale-adaptation moments, or None without adaptation.
    """

    position: ArrayTree
    momentum: ArrayTree
    step: jax.Array
    scale: ScaleAdaptationState | None


def init(position: ArrayTree, *, adapt_scale: bool = False) -> SGHMCState:
    """The SGHMC state at ``position`` with zero momentum.

    The window starts at zero so that the first gradient replaces the initial moments.
    """
    zeros = jax.tree.map(jnp.zeros_like, position)
    scale = None
    if adapt_scale:
        scale = ScaleAdaptationState(zeros, jax.tree.map(jnp.ones_like, position), zeros)
    return SGHMCState(position, zeros, jnp.zeros((), jnp.int32), scale)


def _adapt_scale(scale: ScaleAdaptationState, grad: ArrayTree) -> ScaleAdaptationState:
    rate = jax.tree.map(lambda window: 1.0 / (window + 1.0), scale.window)
    window = jax.tree.map(
        lambda window, mean, sq_mean: window * (1.0 - mean * mean / (sq_mean + _SCALE_EPSILON)) + 1.0,
        scale.window,
        scale.grad_mean,
        scale.grad_sq_mean,
    )
    mean = jax.tree.map(lambda m, r, g: (1.0 - r) * m + r * g, scale.grad_mean, rate, grad)
    sq_mean = jax.tree.map(lambda s, r, g: (1.0 - r) * s + r * g * g, scale.grad_sq_mean, rate, grad)
    return ScaleAdaptationState(mean, sq_mean, window)


def build_kernel(scale_adaptation_steps: int = 0, max_grad_norm: float | None = None) -> Callable:
    """The SGHMC transition as a function of the target and its hyperparameters.

    Args:
        scale_adaptation_steps: adapt the preconditioner while ``state.step`` is below
            this, then freeze it (0: no preconditioning).
        max_grad_norm: clip the gradient to this global norm (None: no clipping).

    Returns:
        ``kernel(key, state, batch, logdensity_fn, step_size, friction, temperature)``
        returning ``(state, info)``.
    """

    def kernel(
        key: PRNGKey,
        state: SGHMCState,
        batch: ArrayTree,
        logdensity_fn: LogDensityFn,
        step_size: jax.Array,
        friction: float,
        temperature: float,
    ) -> tuple[SGHMCState, SGMCMCInfo]:
        logdensity, grad = jax.value_and_grad(logdensity_fn)(state.position, batch)
        grad, grad_norm = clip_by_global_norm(grad, max_grad_norm)
        scale = state.scale
        if scale is None:
            inverse_mass = jax.tree.map(lambda _: 1.0, grad)
        else:
            adapting = state.step < scale_adaptation_steps
            adapted = _adapt_scale(scale, grad)
            scale = tree_where(adapting, adapted, scale)
            inverse_mass = jax.tree.map(lambda s: jax.lax.rsqrt(s + _SCALE_EPSILON), scale.grad_sq_mean)
        noise = normal_like(key, state.position)

        def update_momentum(v, g, m, n):
            noise_scale = jnp.sqrt(2.0 * friction * step_size * temperature * m)
            return ((1.0 - friction) * v + step_size * m * g + noise_scale * n).astype(v.dtype)

        momentum = jax.tree.map(update_momentum, state.momentum, grad, inverse_mass, noise)
        position = jax.tree.map(jnp.add, state.position, momentum)
        info = SGMCMCInfo(jnp.ones((), logdensity.dtype), step_size, logdensity, grad_norm)
        return SGHMCState(position, momentum, state.step + 1, scale), info

    return kernel


def sghmc(
    logdensity_fn: LogDensityFn,
    step_size: float | Schedule,
    *,
    friction: float = 0.05,
    temperature: float = 1.0,
    scale_adaptation_steps: int = 0,
    max_grad_norm: float | None = None,
) -> SamplingAlgorithm:
    """SGHMC as a :class:`SamplingAlgorithm`.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, an unbiased estimate of the log
            posterior (minibatch log-likelihood already scaled by N/|B|).
        step_size: eta, the learning rate (square of the physical step); a float or a
            schedule of the step count.
        friction: alpha in (0, 1], one minus the momentum (typical: 0.01 to 0.1).
        temperature: T; the chain targets ``p^(1/T)``.
        scale_adaptation_steps: adapt a diagonal preconditioner for this many steps
            (usually the burn-in) and freeze it afterwards; 0 turns it off. Draws taken
            while it adapts are not from the target: keep them in the burn-in.
        max_grad_norm: optional clipping of the gradient's global norm (the reference
            functional-prior settings clip at 100).

    Returns:
        ``SamplingAlgorithm(init, step)`` with ``step(key, state, batch=None)``.
    """
    check_sgmcmc_hyperparameters(step_size, temperature, max_grad_norm)
    if not 0.0 < friction <= 1.0:
        raise ValueError(f"friction must be in (0, 1], got {friction}")
    if scale_adaptation_steps < 0:
        raise ValueError(f"scale_adaptation_steps must be >= 0, got {scale_adaptation_steps}")
    step = Partial(_step, logdensity_fn, as_schedule(step_size), friction, temperature, scale_adaptation_steps,
                   max_grad_norm)
    return SamplingAlgorithm(_init_adapting if scale_adaptation_steps > 0 else init, step)


def _init_adapting(position: ArrayTree) -> SGHMCState:
    return init(position, adapt_scale=True)


def _step(logdensity_fn: LogDensityFn, schedule: Schedule, friction: float, temperature: float,
          scale_adaptation_steps: int, max_grad_norm: float | None, key: PRNGKey, state: SGHMCState,
          batch: ArrayTree = None) -> tuple[SGHMCState, SGMCMCInfo]:
    kernel = build_kernel(scale_adaptation_steps, max_grad_norm)
    return kernel(key, state, batch, logdensity_fn, schedule(state.step), friction, temperature)
