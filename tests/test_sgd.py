"""Optimisation as a sampler: the MAP of Bayesian linear regression, and ensemble members
that are independent optimisations of their own starts."""

import json

import jax
import numpy as np
import optax
import pytest

import samplers
from conftest import TINY, run_posterior
from experiments import config as configs
from experiments import experiment
from targets import linear_regression

NUM_ROWS, NUM_FEATURES = 200, 3
# Bayesian linear regression: its posterior is Gaussian, so the MAP is the closed-form mean.
TARGET = linear_regression(num_data=NUM_ROWS)
log_posterior = TARGET.logdensity


def random_start(key):
    return 3.0 * jax.random.normal(key, (NUM_FEATURES,))


def test_full_batch_adam_reaches_the_closed_form_map():
    data = TARGET.data
    alg = samplers.sgd(log_posterior, optax.adam(0.05), scale=1.0 / NUM_ROWS)
    result = samplers.sample(alg, jax.random.key(0), random_start, data, num_chains=2, num_steps=1500,
                             burn_in=1499, progress=False)
    expected = TARGET.mean
    # float32 arithmetic on a problem with condition number about 7: the optimum to 1e-4.
    np.testing.assert_allclose(result.samples[:, -1], np.broadcast_to(expected, (2, NUM_FEATURES)), atol=1e-4)
    assert result.info["grad_norm"][:, -1].max() < 1e-2 * NUM_ROWS


def test_minibatch_sgd_with_momentum_and_a_decaying_rate_reaches_the_map():
    data = TARGET.data
    schedule = optax.cosine_decay_schedule(0.05, decay_steps=3000, alpha=0.01)
    alg = samplers.sgd(log_posterior, optax.sgd(schedule, momentum=0.9), scale=1.0 / NUM_ROWS)
    result = samplers.sample(alg, jax.random.key(1), random_start, data, num_chains=2, num_steps=3000,
                             burn_in=2999, batch_size=20, progress=False)
    # The last steps, at a hundredth of the rate, average minibatch noise of about
    # 0.05 * 0.01 * |g| / (1 - 0.9) per step: 1e-2 of the weights is many times that.
    np.testing.assert_allclose(result.samples[:, -1], np.broadcast_to(TARGET.mean, (2, NUM_FEATURES)),
                               atol=1e-2)


def test_each_member_is_the_optimisation_of_its_own_start():
    """Members of an ensemble do not interact: each is what optax alone gives from its
    start (the start the driver draws for chain c: the first of three keys split from
    the chain's key)."""
    data = TARGET.data
    optimizer = optax.adam(0.05)
    key, num_chains, num_steps = jax.random.key(2), 3, 40
    result = samplers.sample(samplers.sgd(log_posterior, optimizer, scale=1.0 / NUM_ROWS), key, random_start, data,
                             num_chains=num_chains, num_steps=num_steps, burn_in=num_steps - 1, progress=False)
    for chain, chain_key in enumerate(jax.random.split(key, num_chains)):
        weights = random_start(jax.random.split(chain_key, 3)[0])
        state = optimizer.init(weights)
        for _ in range(num_steps):
            grad = jax.grad(lambda w: -log_posterior(w, data) / NUM_ROWS)(weights)
            updates, state = optimizer.update(grad, state, weights)
            weights = optax.apply_updates(weights, updates)
        np.testing.assert_allclose(result.samples[chain, -1], weights, rtol=1e-5, atol=1e-6)
    assert len({tuple(np.round(result.samples[chain, 0], 3)) for chain in range(num_chains)}) == num_chains


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan")])
def test_a_scale_that_is_not_positive_is_refused(scale):
    with pytest.raises(ValueError, match="scale"):
        samplers.sgd(log_posterior, optax.sgd(0.1), scale=scale)


def test_an_ensemble_run_predicts_with_the_last_iterate_of_each_member(tmp_path, uci_env, tiny_config):
    """``sampler.name: sgd`` through the CLI: three members, one draw each, diagnostics
    reported as not applicable rather than as NaN."""
    results = tmp_path / "results"
    done = run_posterior("run", str(tiny_config), "--results", str(results), "sampler.name=sgd",
                         "sampler.step_size=0.01", "sampling.num_chains=3", env=uci_env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    directory = results / "tiny" / "yacht" / "split-0" / "seed-0"
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["draws_per_chain"] == 1 and metrics["num_chains"] == 3
    assert metrics["gradient_evaluations"] == 3 * 300  # TINY's 300 steps, one gradient each
    assert "not applicable" in metrics["diagnostics"] and not {"rhat_max", "ess_min"} & set(metrics)
    assert np.isfinite(metrics["test_rmse"]) and np.isfinite(metrics["test_ll"]) and metrics["warnings"] == []
    assert {path.name for path in (directory / "plots").iterdir()} == {"trace.png"}


@pytest.mark.parametrize("override, key", [("sampler.optimizer=rmsprop", "sampler.optimizer"),
                                           ("sampler.momentum=1.0", "sampler.momentum"),
                                           ("sampler.weight_decay=-1", "sampler.weight_decay"),
                                           ("prior.kind=fh", "prior.kind")])
def test_a_bad_optimiser_setting_is_refused_in_one_line_naming_the_key(tmp_path, uci_env, tiny_config,
                                                                        override, key):
    done = run_posterior("run", str(tiny_config), "--results", str(tmp_path / "results"), "sampler.name=sgd",
                         override, env=uci_env, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and key in done.stderr, done.stderr


def test_chains_started_from_map_start_where_the_optimisation_ended(uci_env):
    """``init.from: map``: each chain is optimised, then sampled from its optimum. With a
    step size so small that the chains barely move, the first draws are the starts the
    optimisation returns (computed again here), and they fit far better than prior draws."""
    config = configs.from_dict({**TINY, "sampler": {"name": "sgld", "step_size": 1e-12},
                                "init": {"from": "map", "steps": 300, "optimizer": "adam", "learning_rate": 0.01},
                                "sampling": {**TINY["sampling"], "burn_in": 0, "thin": 1, "num_steps": 5}})
    outcome = experiment.run_experiment(config, data_root=uci_env["POSTERIOR_DATA"], log=lambda _: None,
                                        progress=False)
    metrics = outcome.metrics
    assert metrics["status"] == "ok" and metrics["init"]["steps"] == 300 and metrics["init"]["divergences"] == []
    assert metrics["gradient_evaluations"] == 2 * (5 + 300)
    from_prior = experiment.run_experiment(configs.from_dict({**configs.to_dict(config), "init": {"from": "prior"}}),
                                           data_root=uci_env["POSTERIOR_DATA"], log=lambda _: None, progress=False)
    first_map = outcome.draws["info"]["logdensity"][:, 0]
    first_prior = from_prior.draws["info"]["logdensity"][:, 0]
    assert np.all(first_map > first_prior + 100.0), (first_map, first_prior)
    assert metrics["test_rmse"] < from_prior.metrics["test_rmse"]


@pytest.mark.parametrize("overrides, key", [
    (["init.from=map"], "init.steps"),
    (["init.from=map", "init.steps=-1"], "init.steps"),
    (["init.steps=10"], "init.steps"),
    (["init.from=map", "init.steps=10", "init.optimizer=lbfgs"], "init.optimizer"),
    (["init.from=map", "init.steps=10", "init.learning_rate=.nan"], "init.learning_rate"),
    (["init.from=map", "init.steps=10", "init.learning_rate=0"], "init.learning_rate"),
    (["init.from=maximum"], "init.from"),
])
def test_a_bad_init_is_refused_in_one_line_naming_the_key(tmp_path, uci_env, tiny_config, overrides, key):
    done = run_posterior("run", str(tiny_config), "--results", str(tmp_path / "results"), *overrides, env=uci_env,
                         timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and key in done.stderr, done.stderr


def test_hmc_from_map_optimises_the_summed_log_posterior(tmp_path, uci_env, tiny_config):
    """HMC takes its log density as terms; the starts' optimiser climbs their sum, on the whole data."""
    done = run_posterior("run", str(tiny_config), "--results", str(tmp_path / "results"), "sampler.name=hmc",
                         "sampler.step_size=1e-3", "sampler.num_integration_steps=3", "sampling.batch_size=null",
                         "sampling.num_steps=60", "sampling.burn_in=20", "sampling.thin=10", "init.from=map",
                         "init.steps=50", env=uci_env, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((tmp_path / "results" / "tiny" / "yacht" / "split-0" / "seed-0" / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["init"]["steps"] == 50
    assert metrics["gradient_evaluations"] == 2 * (60 * 3 + 50)
