"""Stochastic gradient Langevin dynamics (SGLD).

The Euler–Maruyama discretisation of overdamped Langevin dynamics with a minibatch
gradient: ``theta <- theta + eps * grad log p~(theta) + sqrt(2 eps T) xi``, which leaves
``p^(1/T)`` invariant as the step size goes to zero.

References:
    Welling & Teh, Bayesian learning via stochastic gradient Langevin dynamics, ICML 2011.
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
    langevin_step,
)
from samplers.schedules import Schedule, as_schedule

__all__ = ["SGLDState", "init", "build_kernel", "sgld"]


class SGLDState(NamedTuple):
    """The state of an SGLD chain: where it is and how many steps it has taken."""

    position: ArrayTree
    step: jax.Array


def init(position: ArrayTree) -> SGLDState:
    """The SGLD state at ``position``, before its first step."""
    return SGLDState(position, jnp.zeros((), jnp.int32))


def build_kernel(max_grad_norm: float | None = None) -> Callable:
    """The SGLD transition as a function of the target and its hyperparameters.

    Args:
        max_grad_norm: clip the gradient to this global norm (None: no clipping).

    Returns:
        ``kernel(key, state, batch, logdensity_fn, step_size, temperature)`` returning
        ``(state, info)``; ``step_size`` is the number for this step.
    """

    def kernel(
        key: PRNGKey,
        state: SGLDState,
        batch: ArrayTree,
        logdensity_fn: LogDensityFn,
        step_size: jax.Array,
        temperature: float,
    ) -> tuple[SGLDState, SGMCMCInfo]:
        logdensity, grad = jax.value_and_grad(logdensity_fn)(state.position, batch)
        grad, grad_norm = clip_by_global_norm(grad, max_grad_norm)
        position = langevin_step(key, state.position, grad, step_size, temperature)
        info = SGMCMCInfo(jnp.ones((), logdensity.dtype), step_size, logdensity, grad_norm)
        return SGLDState(position, state.step + 1), info

    return kernel


def sgld(
    logdensity_fn: LogDensityFn,
    step_size: float | Schedule,
    *,
    temperature: float = 1.0,
    max_grad_norm: float | None = None,
) -> SamplingAlgorithm:
    """SGLD as a :class:`SamplingAlgorithm`.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, an unbiased estimate of the log
            posterior (minibatch log-likelihood already scaled by N/|B|).
        step_size: epsilon, a float or a schedule of the step count.
        temperature: T; the chain targets ``p^(1/T)`` (T < 1 is a cold posterior).
        max_grad_norm: optional clipping of the gradient's global norm (this biases the
            chain wherever it binds; the reference BNN settings use 100 as a guard).

    Returns:
        ``SamplingAlgorithm(init, step)`` with ``step(key, state, batch=None)``.
    """
    check_sgmcmc_hyperparameters(step_size, temperature, max_grad_norm)
    step = Partial(_step, logdensity_fn, as_schedule(step_size), temperature, max_grad_norm)
    return SamplingAlgorithm(init, step)


def _step(logdensity_fn: LogDensityFn, schedule: Schedule, temperature: float, max_grad_norm: float | None,
          key: PRNGKey, state: SGLDState, batch: ArrayTree = None) -> tuple[SGLDState, SGMCMCInfo]:
    kernel = build_kernel(max_grad_norm)
    return kernel(key, state, batch, logdensity_fn, schedule(state.step), temperature)
