"""The log posterior of a network, in the form every sampler takes.

``log p(theta | D) = log p(w) + log p(phi) + sum_i log p(y_i | f(x_i; w), phi)`` up to a
constant, for network parameters ``w`` and likelihood parameters ``phi`` (e.g. a noise
precision). A minibatch ``B`` gives the unbiased estimate with the likelihood sum scaled
by ``N / |B|``. The result is ``logdensity_fn(position, batch)``, what ``samplers`` and
blackjax kernels expect, with ``position = {"network": w, "likelihood": phi}``, plus
``"prior": h`` for a hierarchical prior with parameters of its own (e.g. per-layer log
precisions, ``log p(w | h) + log p(h)`` in place of ``log p(w)``).
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from posterior.models import InputShape, Network

__all__ = ["log_posterior", "initial_position", "is_hierarchical"]

ArrayTree = Any
PRNGKey = jax.Array


def log_posterior(
    apply_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    prior: Any,
    likelihood: Any,
    *,
    data_size: int,
    temperature: float = 1.0,
    batch_sum: Callable[[Callable], Callable] | None = None,
    terms: bool = False,
) -> Callable[[dict[str, ArrayTree], tuple[jax.Array, jax.Array]], Any]:
    """The (minibatch estimate of the) tempered log posterior.

    ``logdensity_fn(position, (x, y))`` with ``|B|`` rows in ``x`` returns

        (log p(w) + log p(phi) + N / |B| * sum_{i in B} log p(y_i | f(x_i; w), phi)) / T,

    unbiased for the full-data log posterior over uniformly drawn batches, and exact
    when the batch is the whole data set.

    The samplers in this project also take a ``temperature``; the two are alternatives,
    not to be combined (that would target ``p^(1 / T^2)``). Leave ``temperature=1`` here
    when the sampler has one, and temper here for kernels without one (e.g. blackjax
    NUTS or HMC), for which dividing the log density by ``T`` is the only way to target
    ``p^(1/T)``.

    Args:
        apply_fn: ``apply_fn(network_params, x) -> outputs`` (e.g. ``Network.apply``).
        prior: any object with ``log_prob(network_params) -> scalar`` (see ``priors``),
            or a hierarchical prior (:func:`is_hierarchical`) with
            ``log_prob(network_params, prior_params)``.
        likelihood: a likelihood from ``posterior.likelihoods`` (``log_prior`` and
            ``log_prob``).
        data_size: ``N``, the number of training examples.
        temperature: ``T > 0``; the density returned is ``log p / T``.
        batch_sum: a transform of the batch's sums, ``f(position, batch) -> (sum of
            log p(y_i | ...), number of rows)``, e.g. ``samplers.mesh.sum_over_data``,
            which adds them up over the devices that each hold a slice of the batch
            (None: the batch is all there is).
        terms: return ``(log prior, scaled log likelihood)``, each divided by ``T``, in
            place of their sum: full-batch HMC differences each term on its own, which
            keeps its acceptance test exact in float32 (``samplers.hmc``).

    Returns:
        ``logdensity_fn(position, batch) -> scalar`` (a pair with ``terms``) with
        ``position = {"network": ..., "likelihood": ...}`` and ``batch = (x, y)``.
    """
    if data_size < 1:
        raise ValueError(f"data_size must be a positive number of examples, got {data_size}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

    hierarchical = is_hierarchical(prior)

    def batch_sums(position: dict[str, ArrayTree], batch: tuple[jax.Array, jax.Array]):
        x, y = batch
        outputs = apply_fn(position["network"], x)
        return jnp.sum(likelihood.log_prob(position["likelihood"], outputs, y)), jnp.float32(jnp.shape(x)[0])

    summed = batch_sums if batch_sum is None else batch_sum(batch_sums)

    def logdensity_fn(position: dict[str, ArrayTree], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        network_params, lik_params = position["network"], position["likelihood"]
        log_likelihood, rows = summed(position, batch)
        scale = data_size / rows
        if hierarchical:
            log_prior = prior.log_prob(network_params, position["prior"])
        else:
            log_prior = prior.log_prob(network_params)
        log_prior = log_prior + likelihood.log_prior(lik_params)
        if terms:
            return log_prior / temperature, scale * log_likelihood / temperature
        return (log_prior + scale * log_likelihood) / temperature

    return logdensity_fn


def is_hierarchical(prior: Any) -> bool:
    """Whether ``prior`` has parameters of its own in the position (it has a Gibbs update)."""
    return hasattr(prior, "gibbs")


def initial_position(
    key: PRNGKey, *, network: Network, likelihood: Any, input_shape: InputShape, prior: Any = None
) -> dict[str, ArrayTree]:
    """A starting position for a chain: fresh network parameters and the likelihood's.

    Args:
        key: a JAX PRNG key, split between the network and the likelihood.
        network: the :class:`~posterior.models.Network`.
        likelihood: a likelihood from ``posterior.likelihoods``.
        input_shape: the shape of one input: the number of features, or an image's
            ``(height, width, channels)`` (see :class:`~posterior.models.Network`).
        prior: the prior; a hierarchical one adds its parameters, started at
            ``prior.init(network_params)``.

    Returns:
        ``{"network": network.init(...), "likelihood": likelihood.init(...)}``, and
        ``"prior"`` for a hierarchical prior.
    """
    key_network, key_likelihood = jax.random.split(key)
    position = {"network": network.init(key_network, input_shape), "likelihood": likelihood.init(key_likelihood)}
    if prior is not None and is_hierarchical(prior):
        position["prior"] = prior.init(position["network"])
    return position
