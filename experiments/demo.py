"""SGLD and SGHMC on a Bayesian linear regression with a known posterior.

The data are generated on the spot (nothing is read or downloaded); the exact posterior
comes from the normal equations, so the printed table shows how close each sampler's
minibatch chains get, and how fast they run on the devices at hand.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import samplers

NUM_ROWS, NUM_FEATURES, NOISE_STD, PRIOR_STD = 500, 4, 0.5, 1.0


def make_regression(key):
    """Correlated inputs, fixed true weights, Gaussian noise."""
    inputs_key, noise_key = jax.random.split(key)
    mixing = jnp.array([[1.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.0, 0.0], [0.0, 0.5, 1.0, 0.0], [0.3, 0.0, 0.0, 0.4]])
    inputs = jax.random.normal(inputs_key, (NUM_ROWS, NUM_FEATURES)) @ mixing.T
    targets = inputs @ jnp.array([1.5, -2.0, 0.5, 1.0]) + NOISE_STD * jax.random.normal(noise_key, (NUM_ROWS,))
    return inputs, targets


def exact_posterior(inputs, targets):
    """Mean and covariance of the Gaussian posterior of the weights."""
    precision = inputs.T @ inputs / NOISE_STD**2 + jnp.eye(NUM_FEATURES) / PRIOR_STD**2
    covariance = jnp.linalg.inv(precision)
    return covariance @ inputs.T @ targets / NOISE_STD**2, covariance


def minibatch_log_posterior(batch_size):
    """Log prior plus the minibatch log-likelihood scaled up to the whole data set."""

    def log_posterior(weights, batch):
        inputs, targets = batch
        log_likelihood = -0.5 * jnp.sum((inputs @ weights - targets) ** 2) / NOISE_STD**2
        return -0.5 * jnp.sum(weights**2) / PRIOR_STD**2 + NUM_ROWS / batch_size * log_likelihood

    return log_posterior


def main(args: argparse.Namespace) -> int:
    data = make_regression(jax.random.key(args.seed))
    mean, covariance = exact_posterior(*data)
    log_posterior = minibatch_log_posterior(args.batch_size)
    algorithms = {
        "SGLD": samplers.sgld(log_posterior, 1e-5),
        "SGHMC": samplers.sghmc(log_posterior, 1e-6, friction=0.1),
    }
    print(f"Bayesian linear regression, {NUM_ROWS} rows x {NUM_FEATURES} features, batch {args.batch_size}, "
          f"{args.chains} chains on {len(jax.devices())} {jax.default_backend().upper()} device(s)")
    print(f"{'':6} {'weight':>6} {'exact mean':>11} {'sampled':>9} {'exact std':>10} {'sampled':>9}")
    for name, alg in algorithms.items():
        result = samplers.sample(alg, jax.random.key(args.seed + 1), jnp.zeros(NUM_FEATURES), data,
                                 num_chains=args.chains, num_steps=args.steps, burn_in=args.steps // 5, thin=10,
                                 batch_size=args.batch_size)
        draws = result.samples.reshape(-1, NUM_FEATURES)
        for i in range(NUM_FEATURES):
            print(f"{name if i == 0 else '':6} {i:>6} {float(mean[i]):>11.4f} {draws[:, i].mean():>9.4f} "
                  f"{float(jnp.sqrt(covariance[i, i])):>10.4f} {draws[:, i].std():>9.4f}")
        steps_per_second = args.chains * args.steps / result.timings["sampling_seconds"]
        print(f"{'':6} {steps_per_second:,.0f} chain-steps/s, compiled in {result.timings['compile_seconds']:.1f} s, "
              f"max |mean error| / exact std = {float(np.max(np.abs(draws.mean(0) - mean) / np.sqrt(np.diag(covariance)))):.2f}")
    return 0


