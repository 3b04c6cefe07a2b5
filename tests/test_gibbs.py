"""``samplers.with_gibbs``: when the Gibbs update happens, and that SGLD + Gibbs samples a
hierarchical target correctly.

The target is a hierarchical prior with no data, whose answer is known in closed form:
``lambda ~ Gamma(a=3, b=2)`` (rate parameterisation), ``w | lambda ~ N(0, I_5 / lambda)``,
sampled in ``(w, u = log lambda)`` so the density carries the Jacobian ``lambda``. Then
``E[lambda] = a / b = 1.5`` and ``E[w_i^2] = E[1 / lambda] = b / (a - 1) = 1``. The Gibbs
update draws ``lambda`` from its exact conditional ``Gamma(a + 5/2, b + sum w^2 / 2)``.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from priors.weight import GammaPrecision

SHAPE, RATE, DIM = 3.0, 2.0, 5


def log_density(position, batch=None):
    """log N(w; 0, I / lambda) + log Gamma(lambda; a, b) + log lambda, in (w, u = log lambda)."""
    del batch
    w, u = position["w"], position["log_lambda"]
    precision = jnp.exp(u)
    log_normal = 0.5 * DIM * (u - math.log(2.0 * math.pi)) - 0.5 * precision * jnp.sum(jnp.square(w))
    log_gamma = SHAPE * math.log(RATE) - math.lgamma(SHAPE) + (SHAPE - 1.0) * u - RATE * precision
    return log_normal + log_gamma + u


def gibbs_update(key, position):
    """log lambda from its exact conditional given w."""
    post_shape = SHAPE + 0.5 * DIM
    post_rate = RATE + 0.5 * jnp.sum(jnp.square(position["w"]))
    return {**position, "log_lambda": jax.random.loggamma(key, post_shape) - jnp.log(post_rate)}


HIERARCHICAL_PRIOR = GammaPrecision(shape={"w": SHAPE}, rate={"w": RATE})


def prior_log_density(position, batch=None):
    """The same target through ``GammaPrecision`` (w has one axis: a bias, fan-in 1)."""
    del batch
    return HIERARCHICAL_PRIOR.log_prob({"w": position["w"]}, {"w": position["log_lambda"]})


def prior_gibbs_update(key, position):
    """The same update through ``GammaPrecision.gibbs``."""
    return {**position, "log_lambda": HIERARCHICAL_PRIOR.gibbs(key, {"w": position["w"]})["w"]}


def exact_draw(key):
    """A draw from the joint target, so that chains start in stationarity."""
    precision_key, noise_key = jax.random.split(key)
    u = jax.random.loggamma(precision_key, SHAPE) - math.log(RATE)
    return {"w": jnp.exp(-0.5 * u) * jax.random.normal(noise_key, (DIM,)), "log_lambda": u}


@pytest.mark.parametrize("target", ["by_hand", "gamma_precision"])
def test_sgld_with_gibbs_reproduces_the_hierarchical_moments(target):
    """E[lambda] = 1.5 and E[w^2] = 1 within 4 Monte Carlo standard errors.

    The standard error is the spread of the 1024 independent chains' means over
    sqrt(1024). Discretisation bias: SGLD at step size 0.005 inflates the conditional
    variance of w by about a factor 1 / (1 - eps lambda / 2), which lowers E[lambda]
    slightly; measured on 4096 chains x 20,000 steps it is -0.005 +- 0.0014 for lambda
    (about 1.2 of this test's standard errors of ~0.004) and +0.004 +- 0.005 for w^2
    (0.3 standard errors), so a correct sampler passes with a wide margin. Breaking the
    conditional (e.g. shape + n instead of shape + n/2) shifts E[lambda] by tens of
    percent, far beyond it.

    Run twice: with the density and update written out here, and with those of
    ``priors.weight.GammaPrecision`` (its ``log_prob`` and ``gibbs``), as a posterior
    sampler uses them.
    """
    density, update = (log_density, gibbs_update) if target == "by_hand" else (prior_log_density, prior_gibbs_update)
    alg = samplers.with_gibbs(samplers.sgld(density, 0.005), update, every=5)
    num_chains = 1024
    result = samplers.sample(alg, jax.random.key(0), exact_draw, num_chains=num_chains, num_steps=8000,
                             burn_in=1000, thin=5, progress=False)
    precision = np.exp(np.asarray(result.samples["log_lambda"], np.float64))
    w_squared = np.mean(np.square(np.asarray(result.samples["w"], np.float64)), axis=-1)
    for name, draws, truth in [("lambda", precision, SHAPE / RATE), ("w^2", w_squared, RATE / (SHAPE - 1.0))]:
        chain_means = draws.mean(axis=1)
        standard_error = chain_means.std(ddof=1) / math.sqrt(num_chains)
        # The check is only meaningful if the Monte Carlo error is small against the truth.
        assert standard_error < 0.03 * truth, (name, standard_error)
        assert abs(chain_means.mean() - truth) < 4.0 * standard_error, (name, chain_means.mean(), standard_error)


class CountingState(NamedTuple):
    position: dict
    step: jax.Array


class CountingInfo(NamedTuple):
    weight: jax.Array
    marker: jax.Array


def counting_algorithm() -> samplers.SamplingAlgorithm:
    """An inner 'sampler' that only counts its steps and records its key and batch."""

    def init(position):
        return CountingState(position, jnp.zeros((), jnp.int32))

    def step(key, state, batch=None):
        position = {**state.position, "steps": state.position["steps"] + 1,
                    "inner_noise": jax.random.normal(key)}
        if batch is not None:
            position["batch"] = jnp.asarray(batch, jnp.float32)
        info = CountingInfo(jnp.ones(()), jnp.full((), 7.0))
        return CountingState(position, state.step + 1), info

    return samplers.SamplingAlgorithm(init, step)


def counting_update(key, position):
    return {**position, "calls": position["calls"] + 1, "gibbs_noise": jax.random.normal(key)}


COUNTING_START = {"steps": jnp.zeros((), jnp.int32), "calls": jnp.zeros((), jnp.int32),
                  "inner_noise": jnp.zeros(()), "gibbs_noise": jnp.zeros(()), "batch": jnp.zeros(())}


@pytest.mark.parametrize("every", [1, 3, 4])
def test_gibbs_update_happens_exactly_at_multiples_of_every(every):
    alg = samplers.with_gibbs(counting_algorithm(), counting_update, every=every)
    num_steps = 4 * every + 2
    result = samplers.sample(alg, jax.random.key(1), COUNTING_START, num_chains=2, num_steps=num_steps,
                             progress=False)
    steps = np.arange(1, num_steps + 1)
    for chain in range(2):
        np.testing.assert_array_equal(result.samples["steps"][chain], steps)
        # After step t the update has run floor(t / every) times: at every, 2 every, ...
        np.testing.assert_array_equal(result.samples["calls"][chain], steps // every)
    # The info of the inner step passes through unchanged.
    np.testing.assert_array_equal(result.info["marker"], 7.0)


def test_gibbs_and_inner_step_get_independent_keys_and_the_batch_is_passed_on():
    alg = samplers.with_gibbs(counting_algorithm(), counting_update, every=2)
    state = alg.init(COUNTING_START)
    step = jax.jit(alg.step)
    for t in range(1, 5):
        state, info = step(jax.random.key(t), state, jnp.float32(t))
        assert int(state.step) == t and float(state.position["batch"]) == t
        assert int(state.position["calls"]) == t // 2
        assert float(info.marker) == 7.0
    # At a Gibbs step the two moves used different keys.
    assert float(state.position["gibbs_noise"]) != float(state.position["inner_noise"])


def test_gibbs_composes_with_sghmc_and_replaces_only_the_position():
    """Off Gibbs steps the wrapped step is the inner one; on them only the position changes."""
    inner = samplers.sghmc(log_density, 0.01)
    alg = samplers.with_gibbs(inner, gibbs_update, every=2)
    state = alg.init(exact_draw(jax.random.key(2)))
    for t in (1, 2):
        key = jax.random.key(10 + t)
        expected, _ = inner.step(jax.random.split(key)[0], state)
        state, _ = jax.jit(alg.step)(key, state)
        assert type(state) is type(expected) and int(state.step) == t
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6), state.momentum, expected.momentum)
        np.testing.assert_allclose(state.position["w"], expected.position["w"], rtol=1e-6)
        same_precision = np.isclose(float(state.position["log_lambda"]), float(expected.position["log_lambda"]))
        assert same_precision == (t == 1), t


@pytest.mark.parametrize("every", [0, -3, 2.0, True, None])
def test_every_must_be_a_positive_integer(every):
    with pytest.raises(ValueError, match="every"):
        samplers.with_gibbs(samplers.sgld(log_density, 0.01), gibbs_update, every=every)
