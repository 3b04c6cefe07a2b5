"""The driver notices chains that become non-finite, at the step they do, inside the loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers

NUM_CHAINS, NUM_STEPS = 4, 200


def poisoned_gaussian(threshold, poison: str):
    """A standard Gaussian whose log density (``poison="logdensity"``) or also its
    gradient (``poison="gradient"``) is NaN where the first coordinate exceeds
    ``threshold``; ``threshold=inf`` is the same computation, never poisoned."""
    def logdensity(x, batch=None):
        del batch
        healthy = -0.5 * x @ x
        above = x[0] > threshold
        if poison == "gradient":
            return healthy * jnp.where(above, jnp.nan, 1.0)
        return jnp.where(above, jnp.nan, healthy)  # the gradient stays finite: only the value is bad

    return logdensity


def without_logdensity(alg: samplers.SamplingAlgorithm) -> samplers.SamplingAlgorithm:
    """``alg`` with no info, so that only the position can give a divergence away."""
    return samplers.SamplingAlgorithm(alg.init, lambda key, state: (alg.step(key, state)[0], None))


def sgld_run(logdensity, *, hide_logdensity=False, **kwargs):
    alg = samplers.sgld(logdensity, 0.05)
    alg = without_logdensity(alg) if hide_logdensity else alg
    return samplers.sample(alg, jax.random.key(11), jnp.zeros(2), num_chains=NUM_CHAINS, num_steps=NUM_STEPS,
                           progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference():
    """Every position of an unpoisoned run, and a threshold that half of its chains pass."""
    result = sgld_run(poisoned_gaussian(jnp.inf, "gradient"))
    # Step t evaluates the density at the position after step t - 1 (the start, 0, for t = 1).
    evaluated = result.samples[:, :-1, 0]
    highest = np.sort(evaluated.max(axis=1))
    threshold = float((highest[1] + highest[2]) / 2)
    crossed = evaluated > threshold
    first_bad_step = np.where(crossed.any(axis=1), crossed.argmax(axis=1) + 2, -1)
    return result, threshold, first_bad_step


def test_a_run_that_stays_finite_reports_no_divergence(reference):
    result, _, first_bad_step = reference
    np.testing.assert_array_equal(result.diverged_at, -1)
    assert result.diverged_at.shape == (NUM_CHAINS,)
    assert sorted(first_bad_step >= 0) == [False, False, True, True], "half the chains pass the threshold"


@pytest.mark.parametrize("poison, hide_logdensity", [
    ("gradient", False),  # position and log density both turn NaN
    ("gradient", True),  # no info.logdensity: the position alone tells
    ("logdensity", False),  # the position stays finite: info.logdensity alone tells
])
def test_the_first_bad_step_of_each_chain_is_reported(reference, poison, hide_logdensity):
    unpoisoned, threshold, first_bad_step = reference
    burn_in, thin = 30, 3
    # Short chunks, so that divergences fall in burn-in and recording calls, across their ends.
    result = sgld_run(poisoned_gaussian(threshold, poison), hide_logdensity=hide_logdensity, burn_in=burn_in,
                      thin=thin, chunk_size=16)
    np.testing.assert_array_equal(result.diverged_at, first_bad_step)

    kept_steps = np.arange(burn_in + thin, NUM_STEPS + 1, thin)  # draw k is the state after step kept_steps[k]
    same_as_unpoisoned = unpoisoned.samples[:, kept_steps - 1]
    healthy = first_bad_step < 0
    np.testing.assert_array_equal(result.samples[healthy], same_as_unpoisoned[healthy])
    for chain in np.flatnonzero(~healthy):
        before = kept_steps < first_bad_step[chain]
        np.testing.assert_array_equal(result.samples[chain, before], same_as_unpoisoned[chain, before])


def test_a_non_finite_start_is_step_0():
    alg = samplers.sgld(poisoned_gaussian(jnp.inf, "gradient"), 0.05)
    result = samplers.sample(alg, jax.random.key(0), jnp.array([jnp.nan, 0.0]), num_chains=2, num_steps=3,
                             progress=False)
    np.testing.assert_array_equal(result.diverged_at, [0, 0])
