"""Interleave an exact Gibbs update of part of the position into any sampler.

Hierarchical priors put variables in the position whose conditional given the rest is
known in closed form, e.g. the per-layer precisions of a Gamma hyperprior given the
weights (conjugacy: ``Gamma(a + n/2, b + sum w^2 / 2)``). :func:`with_gibbs` wraps a
sampler so that every ``every`` steps the position is also passed through such an exact
conditional draw, which mixes those variables far faster than gradient steps do.

References:
    Geman & Geman, Stochastic relaxation, Gibbs distributions, and the Bayesian
    restoration of images, IEEE TPAMI 1984 (Gibbs sampling).
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (a Gibbs step on the prior
    precisions every k SGHMC steps).
"""

import numbers
from typing import Callable

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from samplers.base import ArrayTree, PRNGKey, SamplingAlgorithm

__all__ = ["with_gibbs"]


def with_gibbs(
    algorithm: SamplingAlgorithm,
    update_fn: Callable[[PRNGKey, ArrayTree], ArrayTree],
    *,
    every: int,
) -> SamplingAlgorithm:
    """``algorithm`` with the Gibbs update ``update_fn`` after every ``every``-th step.

    The wrapped step splits its key in two, takes the inner step with one half, and, if
    the new ``state.step`` is a multiple of ``every`` (steps ``every, 2 every, ...``),
    replaces ``state.position`` by ``update_fn(other half, state.position)``. The info
    of the inner step is returned unchanged.

    Why the composition is valid: each move leaves the joint target ``p(theta)``
    invariant on its own (the gradient sampler up to its discretisation error, the Gibbs
    draw exactly, since it redraws some coordinates from their conditional given the
    others), and a composition of invariant kernels is invariant. That the gradient
    sampler moves the Gibbs-managed coordinates too does no harm. For samplers with
    auxiliary variables (SGHMC's momentum ``v``) the invariant target is the extended
    ``p(theta) N(v; 0, M)``, under which ``v`` is independent of ``theta``: the
    conditional of the Gibbs-managed coordinates given the rest of ``theta`` and ``v``
    is the same as given the rest of ``theta`` alone, so a Gibbs draw on the position
    that keeps the momentum keeps the extended target invariant as well.

    Args:
        algorithm: any :class:`SamplingAlgorithm` whose states are NamedTuples with
            ``position`` and ``step`` fields (the number of steps taken).
        update_fn: ``update_fn(key, position) -> position``, an exact conditional draw
            of part of the position, returning a position of the same structure, shapes
            and dtypes (e.g. ``{**position, "prior": prior.gibbs(key,
            position["network"])}``).
        every: a positive integer, the number of inner steps between Gibbs updates.

    Returns:
        ``SamplingAlgorithm(init, step)`` with the inner ``init`` and ``step(key, state,
        batch=None)``.

    Raises:
        ValueError: naming ``every`` unless it is a positive integer.
    """
    if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
        raise ValueError(f"every must be a positive integer, got {every!r}")
    step = Partial(_step, algorithm.step, update_fn, int(every))
    return SamplingAlgorithm(algorithm.init, step, full_batch=getattr(algorithm, "full_batch", False))


def _step(inner_step: Callable, update_fn: Callable[[PRNGKey, ArrayTree], ArrayTree], every: int, key: PRNGKey,
          state, batch: ArrayTree = None):
    def gibbs(key: PRNGKey, position: ArrayTree) -> ArrayTree:
        updated = update_fn(key, position)
        # Both branches of the cond must have identical types.
        return jax.tree.map(lambda new, old: jnp.asarray(new, jnp.result_type(old)), updated, position)

    step_key, gibbs_key = jax.random.split(key)
    # Without data the driver calls ``step(key, state)``, as blackjax kernels take it.
    state, info = inner_step(step_key, state) if batch is None else inner_step(step_key, state, batch)
    position = jax.lax.cond(state.step % every == 0, gibbs, lambda _, position: position, gibbs_key, state.position)
    return state._replace(position=position), info
