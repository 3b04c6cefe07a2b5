"""The Bayesian regression problem of ``posterior bench sgmcmc`` and ``posterior bench hmc``.

An 8-50-50-1 tanh MLP on 10,000 x 8 synthetic data (fixed seed), a Gaussian likelihood
with fixed noise and an N(0, 1) prior on every weight: the data (:func:`make_data`), the
network (:func:`init_params`, :func:`mlp`), the log densities the two benchmarks build on
(:func:`log_likelihood`, :func:`log_prior`, and the minibatch estimate
:func:`log_posterior_estimate` with ``B = 128``), and the problem in words for the
reports (:func:`problem_description`).
"""

import math

import jax
import jax.numpy as jnp

from experiments.bench.settings import DATA_SIZE

NUM_FEATURES = 8
HIDDEN_WIDTHS = (50, 50)
NOISE_STD = 0.2  # of the synthetic targets, and of the Gaussian likelihood
PRIOR_STD = 1.0
DATA_SEED = 0

Params = dict[str, dict[str, jax.Array]]
Batch = tuple[jax.Array, jax.Array]


def true_function(x: jax.Array) -> jax.Array:
    """The noiseless regression target: a fixed nonlinear function of the 8 features."""
    return (jnp.sin(2.0 * x[..., 0]) + 0.5 * x[..., 1] * x[..., 2] + jnp.tanh(x[..., 3] - x[..., 4])
            + 0.3 * jnp.cos(x[..., 5]) * x[..., 6] - 0.2 * x[..., 7] ** 2)


def make_data(seed: int = DATA_SEED) -> Batch:
    """``(X, y)``: ``X ~ N(0, 1)`` of shape (10000, 8), ``y = f(X) + N(0, NOISE_STD^2)``."""
    features_key, noise_key = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(features_key, (DATA_SIZE, NUM_FEATURES), jnp.float32)
    y = true_function(x) + NOISE_STD * jax.random.normal(noise_key, (DATA_SIZE,), jnp.float32)
    return x, y


def init_params(key: jax.Array) -> Params:
    """MLP weights ``N(0, 1/fan_in)`` and zero biases, layers ``layer0 .. layer2``."""
    widths = (NUM_FEATURES, *HIDDEN_WIDTHS, 1)
    keys = jax.random.split(key, len(widths) - 1)
    return {
        f"layer{i}": {
            "w": jax.random.normal(k, (fan_in, fan_out), jnp.float32) / math.sqrt(fan_in),
            "b": jnp.zeros((fan_out,), jnp.float32),
        }
        for i, (k, fan_in, fan_out) in enumerate(zip(keys, widths[:-1], widths[1:]))
    }


def mlp(params: Params, x: jax.Array) -> jax.Array:
    """The network's output for inputs ``x`` of shape ``(..., 8)``: shape ``(...)``."""
    layers = [params[f"layer{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return (x @ layers[-1]["w"] + layers[-1]["b"])[..., 0]


def log_likelihood(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Gaussian log-density of each target ``y`` given the network at ``x`` (shape of ``y``)."""
    residual = (y - mlp(params, x)) / NOISE_STD
    return -0.5 * residual**2 - math.log(NOISE_STD) - 0.5 * math.log(2.0 * math.pi)


def log_prior(params: Params) -> jax.Array:
    """Independent ``N(0, PRIOR_STD^2)`` on every weight and bias."""
    return sum(jnp.sum(-0.5 * (leaf / PRIOR_STD) ** 2 - math.log(PRIOR_STD) - 0.5 * math.log(2.0 * math.pi))
               for leaf in jax.tree.leaves(params))


def log_posterior_estimate(params: Params, batch: Batch) -> jax.Array:
    """Unbiased estimate of the log posterior: ``log prior + (N / B) * minibatch log-likelihood``."""
    x, y = batch
    return log_prior(params) + (DATA_SIZE / y.shape[0]) * jnp.sum(log_likelihood(params, x, y))


def problem_description() -> str:
    """The model and data, in words."""
    return (f"{DATA_SIZE:,} x {NUM_FEATURES} synthetic regression, "
            f"{'-'.join(map(str, (NUM_FEATURES, *HIDDEN_WIDTHS, 1)))} tanh MLP, Gaussian likelihood "
            f"(std {NOISE_STD}), N(0, {PRIOR_STD:g}) prior")
