"""Likelihoods and the log posterior: values against scipy, minibatch unbiasedness, tempering."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, special, stats

from posterior import density, likelihoods, models
from priors.weight import IsotropicGaussian

OUTPUTS = jnp.array([[0.5], [-1.0], [2.0], [0.0]])
Y = jnp.array([0.7, -0.2, 2.5, -1.5])


def test_gaussian_log_prob_and_moments():
    likelihood = likelihoods.Gaussian(noise_std=0.4)
    expected = stats.norm.logpdf(np.asarray(Y), loc=np.asarray(OUTPUTS[:, 0]), scale=0.4)
    np.testing.assert_allclose(likelihood.log_prob({}, OUTPUTS, Y), expected, rtol=1e-5)
    np.testing.assert_allclose(likelihood.log_prob({}, OUTPUTS, Y[:, None]), expected, rtol=1e-5)
    moments = likelihood.moments({}, OUTPUTS)
    np.testing.assert_allclose(moments["mean"], OUTPUTS[:, 0])
    np.testing.assert_allclose(moments["second_moment"], OUTPUTS[:, 0] ** 2 + 0.16, rtol=1e-6)
    assert likelihood.init(jax.random.key(0)) == {} and float(likelihood.log_prior({})) == 0.0
    assert float(likelihood.std({})) == pytest.approx(0.4)


def test_gaussian_refuses_shapes_that_would_broadcast():
    likelihood = likelihoods.Gaussian(noise_std=1.0)
    with pytest.raises(ValueError, match="targets"):
        likelihood.log_prob({}, OUTPUTS, Y[:3])
    with pytest.raises(ValueError, match="outputs"):
        likelihood.log_prob({}, jnp.zeros((4, 2)), Y)


def test_gamma_precision_log_prob_is_scipy_norm():
    likelihood = likelihoods.GaussianGammaPrecision()
    tau = 6.0
    lik_params = {"log_precision": jnp.log(tau)}
    expected = stats.norm.logpdf(np.asarray(Y), loc=np.asarray(OUTPUTS[:, 0]), scale=1 / math.sqrt(tau))
    np.testing.assert_allclose(likelihood.log_prob(lik_params, OUTPUTS, Y), expected, rtol=1e-5)
    np.testing.assert_allclose(likelihood.moments(lik_params, OUTPUTS)["second_moment"],
                               OUTPUTS[:, 0] ** 2 + 1 / tau, rtol=1e-5)
    assert float(likelihood.std(lik_params)) == pytest.approx(1 / math.sqrt(tau), rel=1e-6)


def test_gamma_precision_prior_includes_the_log_jacobian():
    likelihood = likelihoods.GaussianGammaPrecision(shape=2.5, rate=0.7, init_precision=3.0)
    lik_params = likelihood.init(jax.random.key(0))
    assert float(lik_params["log_precision"]) == pytest.approx(math.log(3.0))
    for tau in (0.1, 1.0, 3.0, 20.0):
        expected = stats.gamma.logpdf(tau, a=2.5, scale=1 / 0.7) + math.log(tau)
        assert float(likelihood.log_prior({"log_precision": jnp.log(tau)})) == pytest.approx(expected, rel=1e-5)
    # A density in log tau integrates to one over the real line only with the Jacobian.
    mass, _ = integrate.quad(lambda u: math.exp(float(likelihood.log_prior({"log_precision": u}))), -30.0, 10.0)
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_categorical_log_prob_and_probs():
    logits = jnp.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    labels = jnp.array([0, 2])
    likelihood = likelihoods.Categorical()
    log_probs = special.log_softmax(np.asarray(logits), axis=-1)
    np.testing.assert_allclose(likelihood.log_prob({}, logits, labels), log_probs[[0, 1], [0, 2]], rtol=1e-6)
    np.testing.assert_allclose(likelihood.moments({}, logits)["probs"], np.exp(log_probs), rtol=1e-6)
    with pytest.raises(ValueError, match="labels"):
        likelihood.log_prob({}, logits, labels[:, None])


def regression_problem(num_rows=12, input_dim=2):
    x = jax.random.normal(jax.random.key(1), (num_rows, input_dim))
    y = jnp.sin(x[:, 0]) + 0.1 * jax.random.normal(jax.random.key(2), (num_rows,))
    network = models.mlp(width=4, depth=1, output_dim=1)
    likelihood = likelihoods.GaussianGammaPrecision(shape=2.0, rate=1.0)
    position = density.initial_position(jax.random.key(3), network=network, likelihood=likelihood,
                                        input_shape=input_dim)
    return x, y, network, likelihood, position


def test_full_batch_log_posterior_is_prior_plus_likelihood():
    x, y, network, likelihood, position = regression_problem()
    logdensity_fn = density.log_posterior(network.apply, IsotropicGaussian(0.5), likelihood, data_size=12)
    leaves = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(position["network"])])
    tau = float(jnp.exp(position["likelihood"]["log_precision"]))
    mean = np.asarray(network.apply(position["network"], x))[:, 0]
    expected = (
        stats.norm.logpdf(leaves, scale=0.5).sum()
        + stats.gamma.logpdf(tau, a=2.0, scale=1.0) + math.log(tau)
        + stats.norm.logpdf(np.asarray(y), loc=mean, scale=1 / math.sqrt(tau)).sum()
    )
    assert float(logdensity_fn(position, (x, y))) == pytest.approx(expected, rel=1e-5)


def test_minibatch_log_posterior_is_unbiased():
    """The average over all disjoint batches of a partition is the full-data value."""
    x, y, network, likelihood, position = regression_problem()
    logdensity_fn = jax.jit(density.log_posterior(network.apply, IsotropicGaussian(), likelihood, data_size=12))
    full = float(logdensity_fn(position, (x, y)))
    for batch_size in (3, 4):
        estimates = [float(logdensity_fn(position, (x[i:i + batch_size], y[i:i + batch_size])))
                     for i in range(0, 12, batch_size)]
        assert np.mean(estimates) == pytest.approx(full, rel=1e-5)
        assert np.std(estimates) > 1e-3 * abs(full)  # each batch alone is only an estimate


def test_temperature_divides_the_log_posterior():
    x, y, network, likelihood, position = regression_problem()
    make = lambda temperature: density.log_posterior(network.apply, IsotropicGaussian(), likelihood, data_size=40,
                                                     temperature=temperature)
    batch = (x[:4], y[:4])
    assert float(make(0.25)(position, batch)) == pytest.approx(float(make(1.0)(position, batch)) / 0.25, rel=1e-6)
    with pytest.raises(ValueError, match="temperature"):
        make(0.0)
    with pytest.raises(ValueError, match="data_size"):
        density.log_posterior(network.apply, IsotropicGaussian(), likelihood, data_size=0)


def test_initial_position_holds_both_parts_from_split_keys():
    network = models.mlp(width=3, depth=1, output_dim=1)
    likelihood = likelihoods.GaussianGammaPrecision(init_precision=5.0)
    position = density.initial_position(jax.random.key(7), network=network, likelihood=likelihood, input_shape=2)
    assert set(position) == {"network", "likelihood"}
    assert float(position["likelihood"]["log_precision"]) == pytest.approx(math.log(5.0))
    expected_network = network.init(jax.random.split(jax.random.key(7))[0], 2)
    jax.tree.map(np.testing.assert_array_equal, position["network"], expected_network)
