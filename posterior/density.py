"""The log posterior of a network, in the form every sampler takes.

``log p(theta | D) = log p(w) + log p(phi) + sum_i log p(y_i | f(x_i; w), phi)`` up to a
constant, for network parameters ``w`` and likelihood parameters ``phi`` (e.g. a noise
precision). A minibatch ``B`` gives the unbiased estimate with the likelihood sum scaled
by ``N / |B|``. The result is ``logdensity_fn(position, batch)``, what ``samplers`` and
blackjax kernels expect, with ``position = {"network": w, "likelihood": phi}``.
"""

from typing import Any, Callable

import jax
import jax.numpy as jnp

from posterior.models import Network

__all__ = ["log_posterior", "initial_position"]

ArrayTree = Any
PRNGKey = jax.Array


def log_posterior(
    apply_fn: Callable[[ArrayTree, jax.Array], jax.Array],
    prior: Any,
    likelihood: Any,
    *,
    data_size: int,
    temperature: float = 1.0,
) -> Callable[[dict[str, ArrayTree], tuple[jax.Array, jax.Array]], jax.Array]:
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
        prior: any object with ``log_prob(network_params) -> scalar`` (see ``priors``).
        likelihood: a likelihood from ``posterior.likelihoods`` (``log_prior`` and
            ``log_prob``).
        data_size: ``N``, the number of training examples.
        temperature: ``T > 0``; the density returned is ``log p / T``.

    Returns:
        ``logdensity_fn(position, batch) -> scalar`` with ``position = {"network": ...,
        "likelihood": ...}`` and ``batch = (x, y)``.
    """
    if data_size < 1:
        raise ValueError(f"data_size must be a positive number of examples, got {data_size}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")

    def logdensity_fn(position: dict[str, ArrayTree], batch: tuple[jax.Array, jax.Array]) -> jax.Array:
        x, y = batch
        network_params, lik_params = position["network"], position["likelihood"]
        log_likelihood = jnp.sum(likelihood.log_prob(lik_params, apply_fn(network_params, x), y))
        # The batch size is a static shape, so the N/|B| scale is a constant under jit.
        scale = data_size / jnp.shape(x)[0]
        log_prior = prior.log_prob(network_params) + likelihood.log_prior(lik_params)
        return (log_prior + scale * log_likelihood) / temperature

    return logdensity_fn


def initial_position(key: PRNGKey, *, network: Network, likelihood: Any, input_dim: int) -> dict[str, ArrayTree]:
    """A starting position for a chain: fresh network parameters and the likelihood's.

    Args:
        key: a JAX PRNG key, split between the network and the likelihood.
        network: the :class:`~posterior.models.Network`.
        likelihood: a likelihood from ``posterior.likelihoods``.
        input_dim: the number of input features.

    Returns:
        ``{"network": network.init(...), "likelihood": likelihood.init(...)}``.
    """
    key_network, key_likelihood = jax.random.split(key)
    return {"network": network.init(key_network, input_dim), "likelihood": likelihood.init(key_likelihood)}
