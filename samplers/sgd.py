"""Optimisation run as a sampler: MAP estimates, one deep-ensemble member per chain.

:func:`sgd` wraps an optax optimiser as a :class:`SamplingAlgorithm` whose step is one
optimiser step up a log density estimate, with no noise. The driver runs it as it runs
any sampler: many independent chains, each from its own starting key (so ``K`` chains
are a deep ensemble of ``K`` members), sharded over devices, checkpointed, watched for
divergence. Given a log posterior, each chain goes to a mode of it: the MAP estimate,
with the log prior as the regulariser.

The optimiser minimises ``-scale * logdensity_fn``. With ``scale = 1 / N`` a log
posterior estimate becomes the mean loss per datum of everyday training, whose learning
rates users know.

References:
    Lakshminarayanan, Pritzel & Blundell, Simple and scalable predictive uncertainty
    estimation using deep ensembles, NeurIPS 2017.
"""

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.tree_util import Partial

from samplers.base import ArrayTree, LogDensityFn, PRNGKey, SamplingAlgorithm, global_norm
from samplers.validation import check_positive

__all__ = ["SGDInfo", "SGDState", "init", "build_kernel", "sgd"]


class SGDState(NamedTuple):
    """Where an optimisation chain is, its optimiser's state and the steps taken."""

    position: ArrayTree
    optimizer_state: optax.OptState
    step: jax.Array


class SGDInfo(NamedTuple):
    """What an optimisation step reports.

    Attributes:
        weight: 1.0 (every member counts alike).
        logdensity: the estimate of the log density at the position the gradient was
            taken at (from the same minibatch).
        grad_norm: the global norm of that gradient.
    """

    weight: jax.Array
    logdensity: jax.Array
    grad_norm: jax.Array


def init(position: ArrayTree, optimizer: optax.GradientTransformation) -> SGDState:
    """The state at ``position``, before the first optimiser step."""
    return SGDState(position, optimizer.init(position), jnp.zeros((), jnp.int32))


def build_kernel() -> Callable:
    """The optimiser step as a function of the target and the optimiser.

    Returns:
        ``kernel(key, state, batch, logdensity_fn, optimizer, scale)`` returning
        ``(state, info)``; ``key`` is unused (the step is deterministic given the batch).
    """

    def kernel(key: PRNGKey, state: SGDState, batch: ArrayTree, logdensity_fn: LogDensityFn,
               optimizer: optax.GradientTransformation, scale: jax.Array) -> tuple[SGDState, SGDInfo]:
        del key
        logdensity, grad = jax.value_and_grad(logdensity_fn)(state.position, batch)
        loss_grad = jax.tree.map(lambda g: -scale * g, grad)
        updates, optimizer_state = optimizer.update(loss_grad, state.optimizer_state, state.position)
        position = optax.apply_updates(state.position, updates)
        info = SGDInfo(jnp.ones((), logdensity.dtype), logdensity, global_norm(grad))
        return SGDState(position, optimizer_state, state.step + 1), info

    return kernel


def sgd(logdensity_fn: LogDensityFn, optimizer: optax.GradientTransformation, *, scale: float = 1.0
        ) -> SamplingAlgorithm:
    """An optax optimiser climbing ``logdensity_fn``, as a :class:`SamplingAlgorithm`.

    The optimiser (and any learning-rate schedule in it, which reads its own step count)
    is part of the compiled program: a new optimiser object compiles again, unlike a
    sampler's numbers.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, an estimate of the log density
            (e.g. the log posterior, minibatch log-likelihood scaled by N/|B|).
        optimizer: an optax ``GradientTransformation`` (``optax.sgd(lr, momentum)``,
            ``optax.adam(lr)``, ...), applied to the gradient of ``-scale *
            logdensity_fn``.
        scale: the loss's scale (``1 / N`` makes a log posterior the mean loss per datum).

    Returns:
        ``SamplingAlgorithm(init, step)`` with ``step(key, state, batch=None)``.
    """
    check_positive("scale", scale)
    return SamplingAlgorithm(Partial(init, optimizer=optimizer), Partial(_step, logdensity_fn, optimizer, scale))


def _step(logdensity_fn: LogDensityFn, optimizer: optax.GradientTransformation, scale: jax.Array, key: PRNGKey,
          state: SGDState, batch: ArrayTree = None) -> tuple[SGDState, SGDInfo]:
    return build_kernel()(key, state, batch, logdensity_fn, optimizer, scale)
