"""Entropy-MCMC: SGLD on the parameters and a Gaussian-coupled anchor, jointly.

The joint energy ``E(theta, theta_a) = U(theta) + |theta - theta_a|^2 / (2 eta)`` has
the posterior as its ``theta`` marginal, exactly, and the posterior smoothed by a
Gaussian of variance ``eta`` as its anchor marginal, where flat basins hold more of the
density than sharp ones. Both are moved together by SGLD on ``exp(-E / T)``, from the
old values of both; the coupling term is written once and differentiated for both, so
the two updates stay consistent (only the posterior's stochastic gradient is clipped).

The state holds ``theta`` and ``anchor``; its ``position`` (what the driver keeps and
predictions use) is ``theta``, the anchor, or the pair, as ``predict_with`` says. The
public reference code also applied weight decay to the anchor, which adds a Gaussian
prior on it that the method does not have; this does not.

References:
    Li & Zhang, Entropy-MCMC: sampling from flat basins with ease, ICLR 2024,
    arXiv 2310.05401.
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
from samplers.validation import check_positive

__all__ = ["EntropyMCMCState", "AnchorPositionState", "PairPositionState", "init", "build_kernel",
           "entropy_mcmc"]


class EntropyMCMCState(NamedTuple):
    """The state of an Entropy-MCMC chain; its ``position`` is ``theta``.

    Attributes:
        theta: the parameters.
        anchor: ``theta_a``, coupled to ``theta`` with variance ``eta``.
        step: steps taken.
    """

    theta: ArrayTree
    anchor: ArrayTree
    step: jax.Array

    @property
    def position(self) -> ArrayTree:
        return self.theta


class AnchorPositionState(EntropyMCMCState):
    """The same state, with the anchor as its ``position``."""

    @property
    def position(self) -> ArrayTree:
        return self.anchor


class PairPositionState(EntropyMCMCState):
    """The same state, with ``(theta, anchor)`` as its ``position``."""

    @property
    def position(self) -> tuple[ArrayTree, ArrayTree]:
        return self.theta, self.anchor


STATES = {"theta": EntropyMCMCState, "anchor": AnchorPositionState, "both": PairPositionState}


def init(position: ArrayTree, predict_with: str = "theta") -> EntropyMCMCState:
    """The state at ``position``, with the anchor starting there too; ``predict_with``
    (``theta``, ``anchor`` or ``both``) chooses what the state's ``position`` is."""
    return _init(STATES[predict_with], position)


def _init(state_type: type[EntropyMCMCState], position: ArrayTree) -> EntropyMCMCState:
    return state_type(position, position, jnp.zeros((), jnp.int32))


def _squared_distance(a: ArrayTree, b: ArrayTree) -> jax.Array:
    return sum(jnp.sum(jnp.square(x - y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def build_kernel(eta: float, max_grad_norm: float | None = None) -> Callable:
    """The joint SGLD transition on ``(theta, theta_a)``.

    Args:
        eta: the coupling variance.
        max_grad_norm: clip the posterior's gradient (not the coupling's) to this global
            norm (None: no clipping).

    Returns:
        ``kernel(key, state, batch, logdensity_fn, step_size, temperature)`` returning
        ``(state, info)``; ``info.logdensity`` is the joint log density's estimate.
    """

    def kernel(
        key: PRNGKey,
        state: EntropyMCMCState,
        batch: ArrayTree,
        logdensity_fn: LogDensityFn,
        step_size: jax.Array,
        temperature: float,
    ) -> tuple[EntropyMCMCState, SGMCMCInfo]:
        def coupling(pair):
            theta, anchor = pair
            return -_squared_distance(theta, anchor) / (2.0 * eta)

        pair = (state.theta, state.anchor)
        # Only the posterior's (stochastic) gradient is clipped: the coupling's is exact,
        # and its norm, about sqrt(d T / eta) in d dimensions, would otherwise set off
        # the clipping at every step and shrink the posterior's pull with it.
        logdensity, grad = jax.value_and_grad(logdensity_fn)(state.theta, batch)
        grad, grad_norm = clip_by_global_norm(grad, max_grad_norm)
        coupled, (theta_pull, anchor_pull) = jax.value_and_grad(coupling)(pair)
        joint_grad = (jax.tree.map(jnp.add, grad, theta_pull), anchor_pull)
        theta, anchor = langevin_step(key, pair, joint_grad, step_size, temperature)
        info = SGMCMCInfo(jnp.ones((), logdensity.dtype), step_size, logdensity + coupled, grad_norm)
        return type(state)(theta, anchor, state.step + 1), info

    return kernel


def entropy_mcmc(
    logdensity_fn: LogDensityFn,
    step_size: float | Schedule,
    eta: float,
    *,
    temperature: float = 1.0,
    max_grad_norm: float | None = None,
    predict_with: str = "theta",
) -> SamplingAlgorithm:
    """Entropy-MCMC as a :class:`SamplingAlgorithm`.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, an unbiased estimate of the log
            posterior.
        step_size: epsilon, a float or a schedule (the reference settings use
            ``samplers.schedules.cyclical_cosine`` with 4 cycles).
        eta: the coupling variance between ``theta`` and the anchor.
        temperature: T; the pair targets ``exp(-E / T)``.
        max_grad_norm: optional clipping of the posterior gradient's global norm.
        predict_with: what ``state.position`` (the draws the driver keeps) is:
            ``"theta"`` (distributed as the posterior), ``"anchor"`` (the smoothed
            posterior) or ``"both"`` (the pair ``(theta, anchor)``).

    Returns:
        ``SamplingAlgorithm(init, step)``; ``state.theta`` and ``state.anchor`` are
        always there.
    """
    check_sgmcmc_hyperparameters(step_size, temperature, max_grad_norm)
    check_positive("eta", eta)
    if predict_with not in STATES:
        raise ValueError(f"predict_with must be one of {', '.join(STATES)}, got {predict_with!r}")
    step = Partial(_step, logdensity_fn, as_schedule(step_size), eta, temperature, max_grad_norm)
    return SamplingAlgorithm(Partial(_init, STATES[predict_with]), step)


def _step(logdensity_fn: LogDensityFn, schedule: Schedule, eta: float, temperature: float,
          max_grad_norm: float | None, key: PRNGKey, state: EntropyMCMCState,
          batch: ArrayTree = None) -> tuple[EntropyMCMCState, SGMCMCInfo]:
    kernel = build_kernel(eta, max_grad_norm)
    return kernel(key, state, batch, logdensity_fn, schedule(state.step), temperature)
