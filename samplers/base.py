"""The sampler interface shared by every kernel and the driver.

A sampler is a pair of pure functions bundled in :class:`SamplingAlgorithm`, exactly as
in blackjax: ``init(position) -> state`` and ``step(key, state, batch=None) -> (state,
info)``. States are NamedTuples exposing ``position`` (the parameters a prediction uses)
and ``step`` (how many steps were taken, which schedules read). Infos are NamedTuples
with at least ``weight``: the weight a draw carries in every expectation (1.0 except for
time-rescaled samplers). Because the shape matches blackjax's, a blackjax kernel such as
``blackjax.nuts(...)`` can be handed to :func:`samplers.sample` unchanged; the driver
treats a missing ``weight`` as 1.0.

The constructors here build ``init`` and ``step`` as ``jax.tree_util.Partial`` objects:
module-level functions with their arguments bound as pytree leaves. Numbers among those
leaves (step sizes, friction, temperature, a schedule's constants) are what
:func:`samplers.sample` passes to its compiled programs at run time; everything else (the
log density, :class:`Static` settings) identifies the program. Two samplers that differ
only in numbers therefore run the same compiled code.
"""

import dataclasses
import itertools
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from samplers.validation import check_positive

ArrayTree = Any
PRNGKey = jax.Array
LogDensityFn = Callable[[ArrayTree, ArrayTree], jax.Array]

_DRAW_MULTIPLE = 8  # see normal_like


class SamplingAlgorithm(NamedTuple):
    """A sampler as two pure functions, blackjax-compatible.

    Attributes:
        init: ``init(position) -> state``.
        step: ``step(key, state, batch=None) -> (state, info)``; jit-, vmap- and
            scan-able. ``batch`` is whatever ``logdensity_fn`` takes as its second
            argument (a minibatch, the whole data set, or None).
        full_batch: the step needs the whole data set every time (a Metropolis test
            compares log densities, which on two different minibatches measure
            different targets); :func:`samplers.sample` refuses a ``batch_size`` for it.
    """

    init: Callable[..., Any]
    step: Callable[..., tuple[Any, Any]]
    full_batch: bool = False


class Fold(NamedTuple):
    """What :func:`samplers.sample` carries through each chain's kept draws in place of
    keeping them (its ``on_sample``): a state folded over the draws on device, so that
    memory follows the state, not the number of draws.

    Attributes:
        init: ``init(position) -> state``, one chain's state before its first draw; it
            is given the chain's start and must read only its shapes and dtypes.
        update: ``update(state, position, weight, draw) -> state``, the state with a
            kept draw folded in: its position, its ``weight`` (a float32 scalar) and
            ``draw``, its index among the chain's kept draws (an int32 scalar counting
            from 0 across chunks and resumed runs, the same for every chain). jit- and
            vmap-able; the driver vmaps it over chains with ``draw`` shared, so a
            ``jax.lax.cond`` on ``draw`` stays a branch.
    """

    init: Callable[[ArrayTree], ArrayTree]
    update: Callable[[ArrayTree, ArrayTree, jax.Array, jax.Array], ArrayTree]


@dataclasses.dataclass(frozen=True)
class Static:
    """A sampler setting that shapes its compiled program (a loop length, a branch taken
    in Python), bound into a ``Partial`` beside the run-time numbers: programs are told
    apart by its value, and it is never traced."""

    value: Any


def normal_like(key: PRNGKey, tree: ArrayTree) -> ArrayTree:
    """Standard normal noise with the structure, shapes and dtypes of ``tree``.

    One draw for all the leaves, cut into them: every random draw is a threefry
    computation of its own in the compiled program, so one draw compiles faster than one
    per leaf, and on CPUs it also runs faster. Its length is rounded up to a multiple of
    8 because XLA's CPU code for threefry is several times slower per number at odd
    lengths (2,751 numbers took 124 us a draw, 2,752 took 32 us).
    """
    leaves, treedef = jax.tree.flatten(tree)
    if not leaves:
        return tree
    sizes = [math.prod(jnp.shape(x)) for x in leaves]
    total = sum(sizes)
    flat = jax.random.normal(key, (total + -total % _DRAW_MULTIPLE,), jnp.result_type(*leaves))
    starts = itertools.accumulate(sizes, initial=0)
    noise = [flat[start:start + size].reshape(jnp.shape(x)).astype(jnp.result_type(x))
             for start, size, x in zip(starts, sizes, leaves)]
    return jax.tree.unflatten(treedef, noise)


def langevin_step(key: PRNGKey, position: ArrayTree, grad: ArrayTree, step_size: jax.Array,
                  temperature: float) -> ArrayTree:
    """One Euler–Maruyama step of overdamped Langevin dynamics on ``p^(1/T)``.

    ``position + step_size * grad + sqrt(2 step_size T) xi`` leaf by leaf, each leaf kept
    in its own dtype; ``grad`` is the gradient of ``log p`` at ``position``. SGLD, SA-SGLD
    (with the rescaled step) and Entropy-MCMC (on the pair) all take this step.
    """
    noise = normal_like(key, position)
    noise_scale = jnp.sqrt(2.0 * step_size * temperature)
    return jax.tree.map(lambda x, g, n: x + (step_size * g + noise_scale * n).astype(x.dtype), position, grad, noise)


def on_batch(logdensity_fn: LogDensityFn, batch: ArrayTree) -> Callable[[ArrayTree], jax.Array]:
    """``logdensity_fn`` with its batch bound: the one-argument log density blackjax's
    kernels take."""
    return lambda position: logdensity_fn(position, batch)


def tree_where(condition: jax.Array, new: ArrayTree, old: ArrayTree) -> ArrayTree:
    """``new`` where the scalar ``condition`` holds, else ``old``, leaf by leaf (a select:
    both are computed, as under ``vmap`` a ``cond`` would be too)."""
    return jax.tree.map(lambda n, o: jnp.where(condition, n, o), new, old)


def global_norm(tree: ArrayTree) -> jax.Array:
    """The Euclidean norm of all leaves of ``tree`` taken together."""
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def clip_by_global_norm(tree: ArrayTree, max_norm: float | None) -> tuple[ArrayTree, jax.Array]:
    """Scale ``tree`` down so that its global norm is at most ``max_norm``.

    Returns the (possibly) clipped tree and the norm before clipping. ``max_norm=None``
    leaves the tree unchanged.
    """
    norm = global_norm(tree)
    if max_norm is None:
        return tree, norm
    scale = jnp.minimum(1.0, max_norm / jnp.maximum(norm, jnp.finfo(norm.dtype).tiny))
    return jax.tree.map(lambda x: x * scale.astype(x.dtype), tree), norm


class SGMCMCInfo(NamedTuple):
    """What a stochastic-gradient step reports.

    Attributes:
        weight: the weight of the new state in expectations (1.0 here).
        step_size: the step size used at this step (after the schedule).
        logdensity: the estimate of the log density at the state the gradient was
            taken at (from the same minibatch).
        grad_norm: the global norm of that gradient, before any clipping.
    """

    weight: jax.Array
    step_size: jax.Array
    logdensity: jax.Array
    grad_norm: jax.Array


def check_sgmcmc_hyperparameters(step_size: Any, temperature: float, max_grad_norm: float | None) -> None:
    """The checks every stochastic-gradient sampler makes on its shared hyperparameters."""
    check_positive("step_size", step_size)
    check_positive("temperature", temperature, allow_zero=True)
    if max_grad_norm is not None:
        check_positive("max_grad_norm", max_grad_norm)
