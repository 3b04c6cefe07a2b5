"""blackjax's NUTS and MCLMC through the driver (samplers/nuts.py, samplers/mclmc.py):
each chain tuned by blackjax in ``init`` with its own key, then sampled with its own
parameters, reproduces the correlated Gaussian's moments within Monte Carlo error.

The chains start from exact draws of the target, so every kept draw has the target's
distribution if the tuning and the steps leave it there; the moments are judged by
:func:`test_hmc.assert_moments` (standard errors from the spread over independent chains,
and a refusal to judge a run too short to have power). MCLMC has no Metropolis test: its
bias is set by the tuned energy error (5e-4 per dimension), which on this target lowers
the whitened variances by about 0.5-1% (measured over 256 chains), below their Monte
Carlo error here (1.5-2%). Breaking the wrappers' bookkeeping (a stale gradient or log
density carried in the state) fails these tests.
"""

import importlib

import jax
import numpy as np
import pytest

import samplers
from conftest import TINY
from experiments import config as configs
from experiments import experiment
from targets import correlated_gaussian
from test_hmc import assert_moments, run

# Not ``samplers.mclmc``: the package re-exports the constructor under the module's name.
MCLMC_MODULE = importlib.import_module("samplers.mclmc")

NUM_CHAINS, NUM_STEPS = 48, 1000


def nuts_run(seed: int = 0):
    target = correlated_gaussian()
    alg = samplers.nuts(target.logdensity, adaptation_steps=200)
    return target, run(alg, seed, target.init_fn(overdispersion=1.0), num_chains=NUM_CHAINS, num_steps=NUM_STEPS)


def mclmc_run(seed: int = 0):
    target = correlated_gaussian()
    alg = samplers.mclmc(target.logdensity, num_steps=NUM_STEPS)
    return target, run(alg, seed, target.init_fn(overdispersion=1.0), num_chains=NUM_CHAINS, num_steps=NUM_STEPS)


def test_nuts_reproduces_the_correlated_gaussian():
    target, result = nuts_run()
    assert np.all(result.diverged_at == -1)
    assert_moments(result.samples, target.mean, target.cov, label="NUTS on the correlated Gaussian")
    step_sizes = result.info["step_size"]
    # Tuned once per chain before step 0, then fixed; each chain found its own.
    assert np.all(step_sizes == step_sizes[:, :1]) and len(np.unique(step_sizes[:, 0])) == NUM_CHAINS
    assert 0.7 < result.info["acceptance_rate"].mean() < 0.95  # the adaptation aimed at 0.8
    # The state counts the adaptation's gradients, then every trajectory's leapfrog steps.
    sampled = result.info["num_integration_steps"].sum(axis=1)
    adaptation = np.asarray(result.state.gradient_evaluations) - sampled
    assert np.all(adaptation >= 200) and np.all(adaptation <= 200 * 1023)


def test_mclmc_reproduces_the_correlated_gaussian():
    target, result = mclmc_run()
    assert np.all(result.diverged_at == -1)
    assert_moments(result.samples, target.mean, target.cov, label="MCLMC on the correlated Gaussian")
    step_sizes = np.asarray(result.state.step_size)
    assert np.all(result.info["step_size"] == step_sizes[:, None]) and len(np.unique(step_sizes)) == NUM_CHAINS
    # blackjax's tuning for 1,000 steps takes 100 + 100 + 33 + 100 of them; a start's
    # gradient, then two per step (McLachlan's integrator).
    expected = 1 + MCLMC_MODULE.GRADIENTS_PER_STEP * (333 + NUM_STEPS)
    assert np.all(np.asarray(result.state.gradient_evaluations) == expected)


def test_a_run_is_reproduced_by_its_key_and_a_chain_by_its_own():
    """The tuning draws from each chain's own key: the first 2 chains of a 2-chain run are
    those of a 4-chain run of the same key (up to rounding: XLA vectorises 2 and 4 chains
    differently)."""
    target = correlated_gaussian()
    alg = samplers.nuts(target.logdensity, adaptation_steps=20)
    two, four = (samplers.sample(alg, jax.random.key(5), target.init_fn(overdispersion=1.0), None, num_chains=n,
                                 num_steps=20, burn_in=0, progress=False) for n in (2, 4))
    np.testing.assert_allclose(np.asarray(two.samples), np.asarray(four.samples)[:2], atol=1e-4)
    np.testing.assert_allclose(np.asarray(two.state.step_size), np.asarray(four.state.step_size)[:2], rtol=1e-4)


@pytest.mark.parametrize("build, argument", [
    (lambda f: samplers.nuts(f, adaptation_steps=10), "adaptation_steps"),
    (lambda f: samplers.nuts(f, target_acceptance_rate=1.0), "target_acceptance_rate"),
    (lambda f: samplers.nuts(f, max_num_doublings=0), "max_num_doublings"),
    (lambda f: samplers.mclmc(f, num_steps=5), "num_steps"),
    (lambda f: samplers.mclmc(f, num_steps=100, desired_energy_variance=0.0), "desired_energy_variance"),
])
def test_bad_settings_raise_naming_the_argument(build, argument):
    with pytest.raises(ValueError, match=argument):
        build(correlated_gaussian().logdensity)


def test_mclmc_from_map_and_nuts_run_as_configs(uci_env):
    """``sampler.name: mclmc`` (from MAP starts) and ``nuts`` run from a config, and the
    metrics count the tuning's gradients."""
    sampling = {**TINY["sampling"], "batch_size": None, "num_steps": 60, "burn_in": 0, "thin": 3}
    # Without the preconditioner, whose phase compiles one more loop (it is tested above).
    mclmc_config = configs.from_dict({**TINY, "sampler": {"name": "mclmc", "mass_adaptation": False},
                                      "sampling": sampling,
                                      "init": {"from": "map", "steps": 50, "learning_rate": 0.01}})
    metrics = experiment.run_experiment(mclmc_config, data_root=uci_env["POSTERIOR_DATA"], log=lambda _: None,
                                        progress=False).metrics
    assert metrics["status"] == "ok" and np.isfinite(metrics["test_rmse"]) and metrics["final_step_size"] > 0
    # Per chain: 50 Adam steps; then a start's gradient and 2 per step, for blackjax's
    # 6 + 6 + 6 tuning steps (10% of 60 per phase) and the 60.
    assert metrics["gradient_evaluations"] == 2 * (50 + 1 + 2 * (18 + 60))

    nuts_config = configs.from_dict({**TINY, "sampler": {"name": "nuts", "adaptation_steps": 20, "step_size": 0.01},
                                     "sampling": sampling})
    metrics = experiment.run_experiment(nuts_config, data_root=uci_env["POSTERIOR_DATA"], log=lambda _: None,
                                        progress=False).metrics
    assert metrics["status"] == "ok" and np.isfinite(metrics["test_rmse"]) and 0.0 <= metrics["acceptance_rate"] <= 1
    assert metrics["gradient_evaluations"] >= 2 * (20 + 60)  # at least one leapfrog step per step
