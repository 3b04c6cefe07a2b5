"""The posterior predictive, accumulated online from a stream of weighted draws.

For draws ``theta_s`` with weights ``w_s`` (1, or a time-rescaled sampler's weights), the
predictive density at test point ``i`` is the mixture

    p(y_i | x_i, D) ~= sum_s w_s p(y_i | x_i, theta_s) / sum_s w_s,

and each predictive moment is the same weighted average of the per-draw moments that the
likelihood reports (``posterior.likelihoods``). A :class:`Predictive` keeps only running
sums, so memory does not grow with the number of draws: ``init`` once, ``update`` for
every draw, ``combine`` accumulators of draws split across devices,
``combine_chains`` those of different chains (each chain counting equally), and
``summarise`` at the end. The density sum is kept in log space and accumulated by
log-sum-exp, because a poorly fitted test point's density underflows in float32.

Every function is pure and works under ``jax.jit``, ``jax.vmap`` (e.g. one accumulator
per chain) and ``jax.lax.scan``. Accumulators merge with :func:`combine` or
:func:`combine_chains`, never with ``+``: the log density sum is a log-sum-exp, so a
driver that adds up per-draw results (as ``samplers.sample`` does with ``on_sample``)
gets the weight and moment sums right but not ``log_density_sum``. There, fold the
draws with :func:`update` inside a loop that carries the accumulator instead.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Predictive", "init", "update", "combine", "chain_balanced", "combine_chains", "summarise"]

ArrayTree = Any


class Predictive(NamedTuple):
    """Running weighted sums over posterior draws.

    Attributes:
        weight_sum: ``sum_s w_s``, a scalar.
        log_density_sum: ``log sum_s w_s p(y_i | theta_s)``, shape ``(n,)``; ``-inf``
            before any draw.
        moment_sums: ``sum_s w_s m_s`` for each per-example moment ``m`` that the
            likelihood reports (e.g. ``mean``, ``second_moment``, ``probs``).
    """

    weight_sum: jax.Array
    log_density_sum: jax.Array
    moment_sums: dict[str, jax.Array]


def init(likelihood: Any, lik_params: ArrayTree, outputs: jax.Array, y: jax.Array) -> Predictive:
    """An empty accumulator shaped for these test points.

    Only shapes and dtypes are read (nothing is computed), so any draw's parameters and
    outputs serve as the template.

    Args:
        likelihood: a likelihood from ``posterior.likelihoods``.
        lik_params: likelihood parameters of the form the draws will have.
        outputs: network outputs at the test inputs, of the shape every draw will give.
        y: the test targets.

    Returns:
        A :class:`Predictive` with zero sums and ``-inf`` log densities.
    """
    log_density = jax.eval_shape(likelihood.log_prob, lik_params, outputs, y)
    moments = jax.eval_shape(likelihood.moments, lik_params, outputs)
    return Predictive(
        weight_sum=jnp.zeros((), log_density.dtype),
        log_density_sum=jnp.full(log_density.shape, -jnp.inf, log_density.dtype),
        moment_sums={name: jnp.zeros(m.shape, m.dtype) for name, m in moments.items()},
    )


def update(
    predictive: Predictive,
    *,
    likelihood: Any,
    lik_params: ArrayTree,
    outputs: jax.Array,
    y: jax.Array,
    weight: jax.Array | float,
) -> Predictive:
    """Add one draw to the accumulator.

    Args:
        predictive: the accumulator so far.
        likelihood: the likelihood the draw was sampled under.
        lik_params: the draw's likelihood parameters.
        outputs: the draw's network outputs at the test inputs.
        y: the test targets.
        weight: the draw's weight ``w_s >= 0`` (``info.weight`` from the sampler).

    Returns:
        The accumulator with the draw added.
    """
    weight = jnp.asarray(weight, predictive.weight_sum.dtype)
    # log(0) = -inf makes a zero-weight draw a no-op, as it should be.
    weighted_log_density = jnp.log(weight) + likelihood.log_prob(lik_params, outputs, y)
    moments = likelihood.moments(lik_params, outputs)
    return Predictive(
        weight_sum=predictive.weight_sum + weight,
        log_density_sum=jnp.logaddexp(predictive.log_density_sum, weighted_log_density),
        moment_sums={name: total + weight * moments[name] for name, total in predictive.moment_sums.items()},
    )


def combine(a: Predictive, b: Predictive) -> Predictive:
    """Merge two accumulators, as if one had been fed the draws of both.

    Args:
        a, b: accumulators over the same test points (e.g. from two chains).

    Returns:
        The accumulator of all their draws.
    """
    return Predictive(
        weight_sum=a.weight_sum + b.weight_sum,
        log_density_sum=jnp.logaddexp(a.log_density_sum, b.log_density_sum),
        moment_sums=jax.tree.map(jnp.add, a.moment_sums, b.moment_sums),
    )


def _chain_scales(totals):
    """The factors that bring each chain's weight sum in ``totals`` to their mean (0 for a
    chain of zero total weight); arithmetic only, so NumPy and JAX arrays both work."""
    positive = totals > 0
    return totals.mean() / (totals + (1 - positive)) * positive


def chain_balanced(weights):
    """``(chain, draw)`` weights rescaled so that every chain's weights have the same sum
    (their mean): each chain then counts as one estimate, however its weights summed.

    A time-rescaled sampler's time average is exact chain by chain; pooling the raw
    weights of chains that never leave their starting modes would instead weigh each
    mode by how large its steps are (its chains' summed clock). With equal weights this
    changes nothing. Works on NumPy and JAX arrays.
    """
    return weights * _chain_scales(weights.sum(axis=1, keepdims=True))


def combine_chains(stacked: Predictive) -> Predictive:
    """Merge accumulators stacked on a leading chain axis (e.g. one per chain, from
    ``vmap``), each chain counting equally (:func:`chain_balanced`).

    Args:
        stacked: a :class:`Predictive` whose every leaf has a leading chain axis.

    Returns:
        One accumulator of all chains' draws, every chain's weights rescaled to the mean
        of the chains' weight sums (for equal weights and equal numbers of draws, exactly
        the accumulator of all draws).
    """
    scale = _chain_scales(stacked.weight_sum)
    return Predictive(
        weight_sum=jnp.sum(stacked.weight_sum * scale, axis=0),
        log_density_sum=jax.nn.logsumexp(
            stacked.log_density_sum + _expand_like(jnp.log(scale), stacked.log_density_sum), axis=0),
        moment_sums=jax.tree.map(lambda total: jnp.sum(_expand_like(scale, total) * total, axis=0),
                                 stacked.moment_sums),
    )


def _expand_like(weight_sum: jax.Array, total: jax.Array) -> jax.Array:
    """``weight_sum`` with trailing unit axes, to broadcast over ``total``'s example axes.

    ``weight_sum`` may carry leading axes (e.g. chains) that ``total`` shares.
    """
    return jnp.reshape(weight_sum, jnp.shape(weight_sum) + (1,) * (jnp.ndim(total) - jnp.ndim(weight_sum)))


def summarise(predictive: Predictive) -> dict[str, jax.Array]:
    """The predictive's per-example quantities: the accumulated sums over the weight sum.

    Works on a single accumulator and on stacked ones (one summary per leading index,
    e.g. per chain).

    Args:
        predictive: an accumulator with at least one draw of positive weight.

    Returns:
        ``{"log_density": (n,) log of the weighted-average density, **moments}`` with each
        moment the weighted average (e.g. ``probs`` for classification). When the moments
        include ``mean`` and ``second_moment`` (Gaussian likelihoods), also ``std``, the
        predictive mixture's standard deviation ``sqrt(E[y^2] - E[y]^2)`` (clipped at 0
        against rounding).
    """
    log_weight_sum = jnp.log(_expand_like(predictive.weight_sum, predictive.log_density_sum))
    summary = {"log_density": predictive.log_density_sum - log_weight_sum}
    for name, total in predictive.moment_sums.items():
        summary[name] = total / _expand_like(predictive.weight_sum, total)
    if "mean" in summary and "second_moment" in summary:
        variance = summary["second_moment"] - jnp.square(summary["mean"])
        summary["std"] = jnp.sqrt(jnp.maximum(variance, 0.0))
    return summary
