"""``posterior run``, ``sweep`` and ``table`` on tiny configs and a generated UCI folder."""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from conftest import REPO, TINY, run_posterior, without_progress
from experiments.config import identity
from experiments import config as configs
from experiments import build, evaluate, experiment, runs
from posterior import data
import samplers

REGRESSION_KEYS = {"status", "wall_seconds", "test_rmse", "test_ll", "rhat_max", "ess_min"}


def test_run_writes_a_run_directory_then_skips_it(tmp_path, uci_env, tiny_config):
    results, cache_home = tmp_path / "results", tmp_path / "cache-home"
    # No cache directory chosen, so the CLI picks its own; a fast machine compiles the tiny
    # run's programs under JAX's 1 s threshold for storing one, hence the 0.
    done = run_posterior("run", str(tiny_config), "--results", str(results), "seed=3",
                         env={**uci_env, "JAX_COMPILATION_CACHE_DIR": "", "XDG_CACHE_HOME": str(cache_home),
                              "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    directory = results / "tiny" / "yacht" / "split-0" / "seed-3"
    metrics = json.loads((directory / "metrics.json").read_text())
    assert REGRESSION_KEYS <= set(metrics) and metrics["status"] == "ok"
    assert metrics["draws_per_chain"] == 10 and np.isfinite(metrics["test_rmse"])
    # Run from this checkout: named by its commit, beside the command that ran it.
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    assert metrics["revision"]["commit"] == head.stdout.strip()
    assert metrics["command"][1:] == ["run", str(tiny_config), "--results", str(results), "seed=3"]
    assert {"numpyro", "scipy", "matplotlib", "posterior"} <= set(metrics["versions"])
    assert configs.load(directory / "config.yaml") == configs.load(tiny_config, ["seed=3"])
    assert {path.name for path in (directory / "plots").iterdir()} == {"trace.png", "diagnostics.png"}
    assert "test_rmse=" in (directory / "log.txt").read_text() and "test_rmse=" in done.stdout
    assert not [path for path in directory.parent.iterdir() if path.name.startswith(".")]  # no staging left
    assert any((cache_home / "posterior" / "jax").iterdir())  # later runs of these shapes skip compiling

    again = run_posterior("run", str(tiny_config), "--results", str(results), "seed=3", env=uci_env, timeout=180)
    assert again.returncode == 0 and "skipped" in again.stdout
    assert json.loads((directory / "metrics.json").read_text()) == metrics


def test_sweep_then_table(tmp_path, uci_env, tiny_config):
    results = tmp_path / "results"
    done = run_posterior("sweep", str(tiny_config), "--results", str(results), "--over", "data.split=0:2",
                         "--set", "sampling.num_chains=1", env=uci_env, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sweep: 2 run(s) finished, 0 diverged" in done.stdout
    assert sorted(path.name for path in (results / "tiny" / "yacht").iterdir()) == ["split-0", "split-1"]

    table = run_posterior("table", str(results), timeout=60)
    assert table.returncode == 0, table.stderr[-2000:]
    row = next(line for line in table.stdout.splitlines() if line.startswith("| tiny | yacht |"))
    assert row.startswith("| tiny | yacht | 2 | 0 |") and "±" in row
    assert (results / "table.md").read_text() == table.stdout
    header = (results / "table.csv").read_text().splitlines()[0]
    assert "test_rmse_mean,test_rmse_se,test_ll_mean,test_ll_se" in header


@pytest.mark.parametrize("arguments, message", [
    (["sampler.stepsize=0.1"], "unknown config key 'sampler.stepsize'"),
    (["sampling.num_steps=many"], "config key 'sampling.num_steps' must be an integer, got 'many'"),
    (["data.split=7"], "split 7"),
    (["data.root=/nonexistent/uci"], "/nonexistent/uci"),
    (["sampler.step_size=-1"], "step_size"),
])
def test_bad_runs_exit_2_with_one_line(tmp_path, uci_env, tiny_config, arguments, message):
    env = {} if any(a.startswith("data.root") for a in arguments) else uci_env
    results = tmp_path / "results"
    done = run_posterior("run", str(tiny_config), "--results", str(results), *arguments, env=env, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("posterior: error: "), done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not results.exists()  # nothing written


def test_table_refuses_a_folder_without_runs(tmp_path):
    done = run_posterior("table", str(tmp_path), timeout=60)
    assert done.returncode == 2 and "no finished runs" in done.stderr


def test_toy1d_run_draws_the_predictive_bands(tmp_path):
    config = configs.from_dict({**TINY, "data": {"name": "toy1d"}})
    directory, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok"
    assert (directory / "plots" / "predictive.png").stat().st_size > 10_000


def test_digits_classification_reports_its_metrics(tmp_path):
    config = configs.from_dict({
        **TINY, "data": {"name": "digits"}, "likelihood": {"name": "categorical"},
        "sampler": {"name": "sgld", "step_size": 1e-4},
        "sampling": {"num_chains": 2, "num_steps": 600, "burn_in": 300, "thin": 30, "batch_size": 64}})
    directory, metrics = runs.execute(config, results=tmp_path, force=False)
    assert {"test_accuracy", "test_nll", "test_ece", "test_brier", "rhat_max", "ess_min"} <= set(metrics)
    assert metrics["test_accuracy"] > 0.8  # 600 SGLD steps of a 1x8 network already classify digits
    with np.load(directory / "predictive.npz", allow_pickle=False) as stored:
        assert stored["task"].item() == "classification" and stored["probs"].shape == (metrics["num_test"], 10)
        np.testing.assert_allclose(stored["probs"].sum(axis=1), 1.0, rtol=1e-5)
    # The same config and seed again (identical draws), judged against the first run's predictive.
    again = dataclasses.replace(config, name="again", eval=configs.EvalConfig(reference=str(directory)))
    _, compared = runs.execute(again, results=tmp_path, force=False)
    assert compared["reference_agreement"] == 1.0 and compared["reference_tv"] == 0.0


def read_predictive(path: pathlib.Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def test_a_reference_predictive_is_written_compared_and_tabled(tmp_path, uci_env, tiny_config):
    """A run writes predictive.npz; the same config and seed judged against it (identical draws) has TV 0 and
    agreement 1, another seed a TV in (0, 1); a reference of another split is refused; the table shows both."""
    results = tmp_path / "results"

    def run(*arguments):
        return run_posterior("run", str(tiny_config), "--results", str(results), *arguments, env=uci_env,
                             timeout=180)

    def metrics_of(experiment_name, seed=0):
        return json.loads((results / experiment_name / "yacht" / "split-0" / f"seed-{seed}" / "metrics.json")
                          .read_text())

    done = run("name=reference")
    assert done.returncode == 0, done.stderr[-2000:]
    directory = results / "reference" / "yacht" / "split-0" / "seed-0"
    saved = read_predictive(directory / "predictive.npz")
    assert {name: saved[name].item() for name in ("task", "dataset", "split", "num_test")} == {
        "task": "regression", "dataset": "yacht", "split": 0, "num_test": 6}
    assert saved["means"].shape == (2 * 10, 6) and saved["weights"].sum() == pytest.approx(1.0)
    # Original units: the draws' noise is the config's (standardised) noise_std times the targets' scale,
    # and the mixture's mean gives the run's RMSE.
    dataset = data.load("yacht", root=uci_env["POSTERIOR_DATA"], split=0)
    np.testing.assert_allclose(saved["stds"], np.full(20, 0.1**0.5 * dataset.y_std), rtol=1e-6)
    y_test = dataset.y_test * dataset.y_std + dataset.y_mean
    rmse = np.sqrt(np.mean((saved["weights"] @ saved["means"] - y_test) ** 2))
    assert rmse == pytest.approx(metrics_of("reference")["test_rmse"], rel=1e-5)

    assert run(f"eval.reference={directory}").returncode == 0
    same = metrics_of("tiny")
    assert same["reference_tv"] == pytest.approx(0.0, abs=1e-12) and same["reference_agreement"] == 1.0
    assert same["reference"] == str(directory / "predictive.npz")
    # {split} in the path is the run's split, so that a sweep over splits meets each split's reference.
    template = results / "reference" / "yacht" / "split-{split}" / "seed-0" / "predictive.npz"
    assert run("seed=1", f"eval.reference={template}").returncode == 0
    other = metrics_of("tiny", seed=1)
    assert 0.0 < other["reference_tv"] < 1.0 and 0.0 <= other["reference_agreement"] <= 1.0
    assert other["reference"] == str(directory / "predictive.npz")
    # The table groups by config, and a template is another eval.reference than the directory: seed 2 names the
    # directory as seed 0 did, so the two share a row.
    assert run("seed=2", f"eval.reference={directory}").returncode == 0

    refused = run("data.split=1", f"eval.reference={directory}")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(f"posterior: error: eval.reference: {directory / 'predictive.npz'} is the "
                                     f"predictive of split 0, this run's split is 1"), refused.stderr
    assert not (results / "tiny" / "yacht" / "split-1").exists()

    table = run_posterior("table", str(results), timeout=60)
    assert table.returncode == 0, table.stderr[-2000:]
    header, _, *rows = table.stdout.splitlines()
    columns = [cell.strip() for cell in header.split("|")[1:-1]]
    assert columns[columns.index("test_ll") + 1:][:2] == ["reference_agreement", "reference_tv"]
    cells = {row.split("|")[1].strip(): [cell.strip() for cell in row.split("|")[1:-1]]
             for row in rows if row.startswith("| ")}
    agreement, tv = columns.index("reference_agreement"), columns.index("reference_tv")
    assert cells["reference"][agreement] == cells["reference"][tv] == "-"
    tiny = [[cell.strip() for cell in row.split("|")[1:-1]] for row in rows if row.startswith("| tiny ")]
    assert sorted(row[columns.index("runs")] for row in tiny) == ["1", "2"], table.stdout
    assert any(row[columns.index("runs")] == "2" and "±" in row[tv] for row in tiny), table.stdout
    assert "reference_agreement_mean,reference_agreement_se" in (results / "table.csv").read_text()


def test_eval_reference_is_not_part_of_the_checkpoint_identity():
    judged = configs.from_dict({**TINY, "eval": {"reference": "results/hmc/yacht/split-0/seed-0"}})
    assert identity.checkpoint_identity(judged) == identity.checkpoint_identity(configs.from_dict(TINY))


def test_a_likelihood_that_does_not_fit_the_task_is_refused(tmp_path):
    config = configs.from_dict({**TINY, "data": {"name": "digits"}})
    with pytest.raises(ValueError, match="likelihood.name='gaussian' does not fit digits"):
        runs.execute(config, results=tmp_path, force=False)


def test_sa_sgld_runs_from_a_config_with_its_clock(tmp_path):
    config = configs.from_dict({
        **TINY, "data": {"name": "toy1d"},
        "sampler": {"name": "sa_sgld", "step_size": 1e-3, "clock": {"alpha": 50.0, "omega": 1e4}}})
    directory, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok" and np.isfinite(metrics["test_ll"])
    assert configs.load(directory / "config.yaml").sampler.clock.omega == 1e4


def test_hmc_runs_on_the_whole_data_and_reports_its_acceptance(tmp_path):
    config = configs.from_dict({
        **TINY, "data": {"name": "toy1d"},
        "sampler": {"name": "hmc", "step_size": 1e-3, "num_integration_steps": 10, "target_acceptance_rate": 0.8},
        "sampling": {"num_chains": 2, "num_steps": 300, "burn_in": 200, "thin": 20, "batch_size": None}})
    _, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok" and np.isfinite(metrics["test_ll"])
    # 200 steps of dual averaging bring the acceptance rate near its target (~0.1 spread on 2 x 5 draws).
    assert 0.5 < metrics["acceptance_rate"] <= 1.0
    assert metrics["final_step_size"] != 1e-3


@pytest.mark.parametrize("sampler", ["sa_sgld", "entropy_mcmc", "hmc"])
@pytest.mark.parametrize("kind", ["fh", "gpih"])
def test_a_sampler_without_gibbs_moves_refuses_a_hierarchical_prior(sampler, kind):
    with pytest.raises(configs.ConfigError, match=f"{sampler} cannot sample the hierarchical prior.kind={kind}"):
        configs.from_dict({**TINY, "data": {"name": "toy1d"}, "prior": {"kind": kind},
                           "sampler": {"name": sampler, "step_size": 1e-3},
                           "sampling": {**TINY["sampling"], "batch_size": None}})


def test_entropy_mcmc_keeps_cycle_ends_and_predicts_with_both(tmp_path):
    config = configs.from_dict({
        **TINY, "data": {"name": "digits"}, "likelihood": {"name": "categorical"},
        "sampler": {"name": "entropy_mcmc", "step_size": 2e-4, "eta": 1e-3, "predict_with": "both",
                    "schedule": {"kind": "cyclical_cosine", "num_cycles": 4}},
        "sampling": {"num_chains": 2, "num_steps": 800, "burn_in": 0, "thin": 200, "batch_size": 64}})
    schedule = build.build_schedule(config)
    np.testing.assert_allclose([schedule(0), schedule(100), schedule(199), schedule(200)],
                               [2e-4, 1e-4, 2e-4 * (np.cos(np.pi * 199 / 200) + 1) / 2, 2e-4], rtol=1e-3)
    _, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok" and metrics["test_accuracy"] > 0.8
    assert metrics["draws_per_chain"] == 2 * 4  # a theta and its anchor at the end of each of 4 cycles


def test_both_makes_each_pair_two_draws():
    config = configs.from_dict({**TINY, "sampler": {"name": "entropy_mcmc", "predict_with": "both"}})
    theta, anchor = {"w": np.arange(3.0)}, {"w": -np.arange(3.0)}
    assert evaluate.draws_of(config, (theta, anchor)) == (theta, anchor)
    assert evaluate.predicted_draws(config, 4) == 8
    theta_only = configs.from_dict({**TINY, "sampler": {"name": "entropy_mcmc"}})
    assert evaluate.draws_of(theta_only, theta) == (theta,)
    ensemble = configs.from_dict({**TINY, "sampler": {"name": "sgd"}})
    assert evaluate.counted_draws(ensemble, 20) == range(19, 20) and evaluate.predicted_draws(ensemble, 20) == 1


def test_the_compilation_cache_lives_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert samplers.programs.default_cache_path() == tmp_path / "posterior" / "jax"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert samplers.programs.default_cache_path() == pathlib.Path.home() / ".cache" / "posterior" / "jax"


def test_enabling_the_compilation_cache_keeps_a_chosen_directory_unless_told(tmp_path):
    chosen = jax.config.jax_compilation_cache_dir  # conftest's
    try:
        assert samplers.enable_compilation_cache() == pathlib.Path(chosen)
        assert samplers.enable_compilation_cache(tmp_path) == tmp_path
        assert jax.config.jax_compilation_cache_dir == str(tmp_path)
    finally:
        jax.config.update("jax_compilation_cache_dir", chosen)


def test_importing_the_library_turns_no_compilation_cache_on():
    script = "import samplers, posterior, priors, jax; print(jax.config.jax_compilation_cache_dir)"
    env = {key: value for key, value in os.environ.items() if not key.startswith("JAX_COMPILATION_CACHE")}
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert output.stdout.strip() in ("", "None")


def numbers_in(values):
    """Every number in a parsed JSON value, however deeply nested."""
    if isinstance(values, dict):
        return [number for value in values.values() for number in numbers_in(value)]
    if isinstance(values, list):
        return [number for value in values for number in numbers_in(value)]
    return [values] if isinstance(values, (int, float)) and not isinstance(values, bool) else []


DIVERGING = ["sampler.name=sgld", "sampler.step_size=10"]


def test_a_diverged_run_exits_3_naming_chain_and_step(tmp_path, uci_env, tiny_config):
    results = tmp_path / "results"
    done = run_posterior("run", str(tiny_config), "--results", str(results), *DIVERGING, env=uci_env, timeout=180)
    assert done.returncode == 3, done.stderr[-2000:]
    stderr = without_progress(done.stderr)
    assert stderr.count("\n") == 1 and "Traceback" not in stderr, done.stderr
    directory = results / "tiny" / "yacht" / "split-0" / "seed-0"
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["dropped_chains"] == []
    first = min(metrics["divergences"], key=lambda divergence: divergence["step"])
    assert stderr.startswith(f"posterior: diverged: chain {first['chain']} became non-finite at step "
                                  f"{first['step']} ({len(metrics['divergences'])} of 2 chains diverged; "
                                  f"sampler.step_size=10)"), done.stderr
    assert all(np.isfinite(number) for number in numbers_in(metrics)), metrics
    assert not {"test_rmse", "test_ll", "rhat_max", "ess_min"} & set(metrics)
    assert {path.name for path in directory.iterdir()} == {"config.yaml", "log.txt", "metrics.json", "plots"}
    assert {path.name for path in (directory / "plots").iterdir()} == {"trace.png"}  # nothing drawn from draws
    assert "became non-finite at step" in (directory / "log.txt").read_text()
    assert configs.load(directory / "config.yaml").sampling.on_divergence == "stop"


def test_a_sweep_goes_on_past_diverged_runs(tmp_path, uci_env, tiny_config):
    results = tmp_path / "results"
    done = run_posterior("sweep", str(tiny_config), "--results", str(results), "--over", "data.split=0:2",
                         "--set", *DIVERGING, "sampling.num_chains=1", env=uci_env, timeout=240)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "sweep: 2 run(s) finished, 2 diverged" in done.stdout
    assert done.stderr.count("posterior: diverged: chain 0 became non-finite") == 2, done.stderr
    for split in (0, 1):
        metrics = json.loads((results / "tiny" / "yacht" / f"split-{split}" / "seed-0" / "metrics.json").read_text())
        assert metrics["status"] == "diverged"


def test_drop_chain_predicts_with_the_chains_that_stayed_finite(uci_env):
    # On this data, SGLD at 2e-3 is at the edge of stability: with seed 3, one of four chains diverges.
    config = configs.from_dict({**TINY, "seed": 3, "sampler": {"name": "sgld", "step_size": 2e-3},
                                "sampling": {**TINY["sampling"], "num_chains": 4, "on_divergence": "drop_chain"}})
    outcome = experiment.run_experiment(config, data_root=uci_env["POSTERIOR_DATA"], log=lambda message: None,
                                        progress=False)
    metrics = outcome.metrics
    dropped = [divergence["chain"] for divergence in metrics["divergences"]]
    assert 0 < len(dropped) < 4, "the premise: some chains diverge, not all"
    assert metrics["status"] == "ok" and metrics["dropped_chains"] == dropped
    assert REGRESSION_KEYS <= set(metrics) and all(np.isfinite(number) for number in numbers_in(metrics))
    assert outcome.test_predictions.shape[0] == 4 - len(dropped) and np.isfinite(outcome.test_predictions).all()

    # The same chains under `stop`: the run is diverged, at the same steps.
    stopped = experiment.run_experiment(dataclasses.replace(config, sampling=dataclasses.replace(
        config.sampling, on_divergence="stop")), data_root=uci_env["POSTERIOR_DATA"], log=lambda message: None,
        progress=False).metrics
    assert stopped["status"] == "diverged" and stopped["divergences"] == metrics["divergences"]
    assert "test_rmse" not in stopped


def test_a_data_axis_splits_every_batch_and_gives_the_same_metrics(tmp_path, uci_env, tiny_config):
    metrics = {}
    for data_devices in (1, 2):  # `posterior` makes each of the 2 cores a device
        results = tmp_path / f"data-{data_devices}"
        done = run_posterior("run", str(tiny_config), "--results", str(results), f"mesh.data={data_devices}",
                             "mesh.chain=1", env=uci_env, timeout=180)
        assert done.returncode == 0, done.stderr[-2000:]
        metrics[data_devices] = json.loads((results / "tiny" / "yacht" / "split-0" / "seed-0" / "metrics.json")
                                           .read_text())
    for key in ("test_rmse", "test_ll"):
        assert metrics[2][key] == pytest.approx(metrics[1][key], rel=1e-4), key
