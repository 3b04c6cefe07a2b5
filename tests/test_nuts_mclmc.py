"""blackjax's NUTS, MCLMC and adjusted MCLMC through the driver (samplers/nuts.py,
samplers/mclmc.py, samplers/adjusted_mclmc.py): each chain tuned by blackjax in ``init``
with its own key, then sampled with its own parameters, reproduces the correlated
Gaussian's moments within Monte Carlo error.

The chains start from exact draws of the target, so every kept draw has the target's
distribution if the tuning and the steps leave it there; the moments are judged by
:func:`test_hmc.assert_moments` (standard errors from the spread over independent chains,
and a refusal to judge a run too short to have power). MCLMC has no Metropolis test: its
bias is set by the tuned energy error (5e-4 per dimension), which on this target lowers
the whitened variances by about 0.5-1% (measured over 256 chains), below their Monte
Carlo error here (1.5-2%). Adjusted MCLMC has a Metropolis test and no such bias: it is
judged at the same tolerance, tuned toward an acceptance rate of 0.6 rather than its 0.9
so that the test has power against a missing or broken Metropolis test (without its
accept step, the same run's covariance is 17 standard errors off at 0.6, but only 3 at
0.9, where the energy errors are small). Breaking the wrappers' bookkeeping (a stale
gradient or log density carried in the state) fails these tests.
"""

import functools
import importlib

import jax
import jax.numpy as jnp
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
ADJUSTED_MODULE = importlib.import_module("samplers.adjusted_mclmc")

NUM_CHAINS, NUM_STEPS = 48, 1000
ADJUSTED_TARGET = 0.6  # adjusted MCLMC's target acceptance rate in the moment test (see above)


def nuts_run(seed: int = 0):
    target = correlated_gaussian()
    alg = samplers.nuts(target.logdensity, adaptation_steps=200)
    return target, run(alg, seed, target.init_fn(overdispersion=1.0), num_chains=NUM_CHAINS, num_steps=NUM_STEPS)


def mclmc_run(seed: int = 0):
    target = correlated_gaussian()
    alg = samplers.mclmc(target.logdensity, num_steps=NUM_STEPS)
    return target, run(alg, seed, target.init_fn(overdispersion=1.0), num_chains=NUM_CHAINS, num_steps=NUM_STEPS)


def adjusted_mclmc_run(seed: int = 0):
    target = correlated_gaussian()
    alg = samplers.adjusted_mclmc(target.logdensity, num_steps=NUM_STEPS, target_acceptance_rate=ADJUSTED_TARGET)
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


def test_adjusted_mclmc_reproduces_the_correlated_gaussian():
    target, result = adjusted_mclmc_run()
    assert np.all(result.diverged_at == -1)
    assert_moments(result.samples, target.mean, target.cov, label="adjusted MCLMC on the correlated Gaussian")
    step_sizes = np.asarray(result.state.step_size)
    assert np.all(result.info["step_size"] == step_sizes[:, None]) and len(np.unique(step_sizes)) == NUM_CHAINS
    # blackjax keeps the mean trajectory at 2 integrator steps (L = 2 step sizes).
    np.testing.assert_allclose(np.asarray(result.state.L), 2 * step_sizes, rtol=1e-5)
    assert 1.9 < result.info["num_integration_steps"].mean() < 2.1
    assert 0.55 < result.info["acceptance_rate"].mean() < 0.8  # the tuning aimed at 0.6
    # The state counts a start's gradient, 2 per integrator step of the tuning's 300
    # trajectories (at least one step each), then 2 per step of every trajectory after.
    sampled = ADJUSTED_MODULE.GRADIENTS_PER_STEP * result.info["num_integration_steps"].sum(axis=1)
    tuning = np.asarray(result.state.gradient_evaluations) - 1 - sampled
    assert np.all(tuning % 2 == 0) and np.all(tuning >= 2 * 300)


EVALUATIONS = []  # appended to by every evaluation of ``counted_logdensity``


def counted_logdensity(position, batch):
    """The correlated Gaussian's log density, counting its evaluations as they happen (on
    one chain, without ``vmap``, a callback runs once per evaluation)."""
    jax.debug.callback(lambda: EVALUATIONS.append(1))
    return correlated_gaussian().logdensity(position, batch)


@functools.cache
def adjusted_mclmc_programs():
    """One chain's tuning (for 100 steps to follow, from the target's mean) and step,
    compiled once for the tests below."""
    tune = jax.jit(lambda key: ADJUSTED_MODULE.init(
        jnp.asarray(correlated_gaussian().mean, jnp.float32), None, key=key, logdensity_fn=counted_logdensity,
        num_steps=100, target_acceptance_rate=0.9, diagonal_preconditioning=True))
    step = jax.jit(lambda key, state: ADJUSTED_MODULE.build_kernel()(key, state, None, counted_logdensity))
    return tune, step


def test_adjusted_mclmc_counts_every_gradient_it_takes():
    """The state's counter against the log density's evaluations (each of the kernel's is
    a value and gradient), in the tuning and in each step."""
    tune, step = adjusted_mclmc_programs()
    EVALUATIONS.clear()
    state = tune(jax.random.key(0))
    assert int(state.gradient_evaluations) == len(EVALUATIONS) > 1 + 2 * 30  # 30 tuning trajectories
    for key in jax.random.split(jax.random.key(1), 5):
        before = int(state.gradient_evaluations)
        EVALUATIONS.clear()
        state, info = step(key, state)
        assert int(state.gradient_evaluations) - before == len(EVALUATIONS) == 2 * int(info.num_integration_steps)


def test_adjusted_mclmc_tunes_each_chain_from_its_own_key():
    """A chain's tuning is that of its key: tuned again with the same key from the same
    start, it ends identical; with another key, with a step size, preconditioner and
    position of its own. (The driver's handing each chain its own key is the test below,
    on NUTS; a driver run here would double the compilation.)"""
    tune, _ = adjusted_mclmc_programs()
    first, other, again = (tune(jax.random.key(seed)) for seed in (5, 6, 5))
    first, other, again = (state._replace(random_generator_arg=jax.random.key_data(state.random_generator_arg))
                           for state in (first, other, again))
    for leaf, same in zip(jax.tree.leaves(first), jax.tree.leaves(again)):
        np.testing.assert_array_equal(leaf, same)
    assert first.step_size != other.step_size and np.all(first.inverse_mass_matrix != other.inverse_mass_matrix)
    assert np.all(first.position != other.position)


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
    (lambda f: samplers.adjusted_mclmc(f, num_steps=19), "num_steps"),
    (lambda f: samplers.adjusted_mclmc(f, num_steps=100, target_acceptance_rate=0.0), "target_acceptance_rate"),
    (lambda f: samplers.adjusted_mclmc(f, num_steps=100, initial_step_size=-1.0), "initial_step_size"),
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


def test_adjusted_mclmc_runs_as_a_config(uci_env):
    """``sampler.name: adjusted_mclmc`` runs from a config (without the preconditioner, as
    mclmc above), reports its acceptance rate and step size, and the metrics count the
    tuning's gradients."""
    sampling = {**TINY["sampling"], "batch_size": None, "num_steps": 60, "burn_in": 0, "thin": 3}
    config = configs.from_dict({**TINY, "sampler": {"name": "adjusted_mclmc", "mass_adaptation": False,
                                                    "target_acceptance_rate": 0.9}, "sampling": sampling})
    metrics = experiment.run_experiment(config, data_root=uci_env["POSTERIOR_DATA"], log=lambda _: None,
                                        progress=False).metrics
    assert metrics["status"] == "ok" and np.isfinite(metrics["test_rmse"]) and metrics["final_step_size"] > 0
    assert 0.0 <= metrics["acceptance_rate"] <= 1.0
    # Per chain: a start's gradient, then 2 per integrator step (at least one per
    # trajectory) for blackjax's 6 + 6 + 6 tuning trajectories (10% of 60 each) and the 60.
    assert metrics["gradient_evaluations"] >= 2 * (1 + 2 * (18 + 60)) and metrics["gradient_evaluations"] % 2 == 0
