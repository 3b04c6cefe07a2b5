"""Run identity: a changed config never reuses a finished run, a checkpoint or a table row,
and the hostile inputs that used to slip through are refused in one line."""

import json
import pathlib
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from numpyro.diagnostics import effective_sample_size

import samplers
from conftest import run_posterior
from experiments import config as configs
from experiments import rundir, runs, table
from experiments.config import identity
from posterior import diagnostics

QUICK = {
    "name": "quick",
    "data": {"name": "toy1d"},
    "model": {"width": 8, "depth": 1},
    "sampler": {"name": "sgld", "step_size": 1e-4},
    "sampling": {"num_chains": 2, "num_steps": 200, "burn_in": 100, "thin": 20, "batch_size": 16},
    "seed": 1,
}


def test_a_finished_run_of_another_step_size_is_refused_naming_the_key(tmp_path):
    config_path = tmp_path / "quick.yaml"
    config_path.write_text(yaml.safe_dump(QUICK))
    results = tmp_path / "results"
    first = run_posterior("run", str(config_path), "--results", str(results), timeout=180)
    assert first.returncode == 0, first.stderr[-2000:]
    metrics_path = results / "quick" / "toy1d" / "split-0" / "seed-1" / rundir.METRICS
    before = metrics_path.read_bytes()

    second = run_posterior("run", str(config_path), "--results", str(results), "sampler.step_size=3e-4",
                           timeout=180)
    assert second.returncode == 2, second.stderr
    assert second.stderr.count("\n") == 1 and "Traceback" not in second.stderr
    assert "sampler.step_size is 0.0001 there, 0.0003 here" in second.stderr
    assert metrics_path.read_bytes() == before  # nothing replaced

    # A key that only says how the run is carried out reuses it.
    same = run_posterior("run", str(config_path), "--results", str(results), "checkpoint.every=50", timeout=180)
    assert same.returncode == 0 and "skipped" in same.stdout, same.stderr

    forced = run_posterior("run", str(config_path), "--results", str(results), "sampler.step_size=3e-4", "--force",
                           timeout=180)
    assert forced.returncode == 0, forced.stderr[-2000:]
    written = configs.load(metrics_path.parent / rundir.CONFIG)
    assert written.sampler.step_size == 3e-4
    assert json.loads(metrics_path.read_text())["config_hash"] == identity.identity_hash(identity.run_identity(written))


def fake_run(results: pathlib.Path, overrides: list[str], rmse: float) -> None:
    """A finished run directory with the given config and metrics, without sampling."""
    config = configs.from_dict(QUICK, overrides)
    directory = runs.directory_of(results, config)
    rundir.write_text(directory / rundir.CONFIG, yaml.safe_dump(configs.to_dict(config)))
    rundir.write_json(directory / rundir.METRICS, {"status": "ok", "test_rmse": rmse})


def test_the_table_never_averages_runs_of_two_configs(tmp_path, capsys):
    fake_run(tmp_path / "a", ["seed=1"], 1.0)
    fake_run(tmp_path / "b", ["seed=1", "sampler.step_size=3e-4"], 3.0)
    fake_run(tmp_path / "c", ["seed=2", "checkpoint.every=5"], 2.0)  # one setting, another seed
    groups = table.collect(tmp_path)
    columns, rows = table.summarise(groups)
    assert [(row["setting"], row["runs"], row["test_rmse"][0]) for row in rows] == [
        ("sampler.step_size=0.0001", 2, 1.5), ("sampler.step_size=0.0003", 1, 3.0)]
    markdown = table.to_markdown(columns, rows)
    assert "| quick | toy1d | sampler.step_size=0.0003 | 1 | 0 | 0 | 3.000 |" in markdown


def checkpointed_run(directory: pathlib.Path, step_size: float) -> samplers.SampleResult:
    return samplers.sample(
        samplers.sgld(lambda x, batch=None: -0.5 * x @ x, step_size), jax.random.key(0), jnp.zeros(2),
        num_chains=2, num_steps=100, thin=10, chunk_size=50, checkpoint_dir=directory, checkpoint_every=50,
        checkpoint_identity={"step_size": step_size}, progress=False)


def test_a_draws_file_of_another_run_is_refused_on_resume(tmp_path):
    checkpointed_run(tmp_path / "a", 0.05)
    checkpointed_run(tmp_path / "b", 0.01)
    # A checkpoint folder as a run left it: the state after the last step and its draws files.
    draws = sorted(path.name for path in (tmp_path / "a").glob("draws-*.npz"))
    assert draws == sorted(path.name for path in (tmp_path / "b").glob("draws-*.npz"))
    shutil.copy(tmp_path / "b" / draws[0], tmp_path / "a" / draws[0])
    with pytest.raises(samplers.checkpoint.CheckpointError, match=f"{draws[0]} was written by another run"):
        checkpointed_run(tmp_path / "a", 0.05)


def test_yaml_that_gives_a_key_twice_is_refused_naming_key_and_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("name: a\ndata: {name: toy1d}\nsampler:\n  name: sgld\nsampler:\n  step_size: 0.1\n")
    with pytest.raises(configs.ConfigError, match=r"gives the key 'sampler' twice \(line 5\)"):
        configs.load(path)
    path.write_text("name: a\ndata: {name: toy1d, split: 0, split: 1}\n")
    with pytest.raises(configs.ConfigError, match=r"'split' twice \(line 2\)"):
        configs.load(path)
    path.write_text("base: &base {name: sgld}\nname: a\ndata: {name: toy1d}\n")
    with pytest.raises(configs.ConfigError, match="unknown config key 'base'"):  # aliases still read
        configs.load(path)


@pytest.mark.parametrize("overrides, message", [
    (["name=" + "x" * 256], "config key 'name' must be at most 255 bytes"),
    (["name=" + "é" * 128], "config key 'name' must be at most 255 bytes"),
    (["name=a\udcff"], "config key 'name' must be UTF-8 text"),
    (["data.root=a\udcff"], "config key 'data.root' must be UTF-8 text"),
    (["name=a\tb"], "config key 'name' must be free of control characters"),
    (["seed=" + "1" * 5001], "config key 'seed' must be an integer"),
])
def test_names_and_numbers_that_cannot_be_used_are_refused_naming_the_key(overrides, message):
    with pytest.raises(configs.ConfigError, match=message):
        configs.from_dict(QUICK, overrides)


def test_an_integer_of_thousands_of_digits_in_a_file_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "long.yaml"
    path.write_text("name: a\ndata: {name: toy1d}\nseed: " + "1" * 5001 + "\n")
    with pytest.raises(configs.ConfigError, match=f"config {path} holds a number too long to read"):
        configs.load(path)


def test_a_sweep_can_vary_a_path_valued_key(tmp_path):
    path = tmp_path / "quick.yaml"
    path.write_text(yaml.safe_dump(QUICK))
    swept = runs.sweep_configs(path, [], ["eval.reference=/a/{split},/b"])
    assert [config.eval.reference for config in swept] == ["/a/{split}", "/b"]
    assert [config.name for config in swept] == ["quick[eval.reference=%2Fa%2F{split}]", "quick[eval.reference=%2Fb]"]


def test_ess_is_never_negative_where_numpyro_gives_a_negative_estimate():
    predictions = np.random.default_rng(0).normal(size=(2, 6, 5000))  # too few draws for the estimator
    raw = effective_sample_size(predictions)
    assert raw.min() < 0  # numpyro's own estimate goes negative here
    ess = diagnostics.per_prediction(predictions)[1]
    assert ess.min() == 0.0
    valid = raw >= 0
    np.testing.assert_array_equal(ess[valid], raw[valid])
    weighted_ess = diagnostics.per_prediction(predictions, np.ones((2, 6)))[1]
    assert weighted_ess.min() >= 0.0
    assert diagnostics.worst(*diagnostics.per_prediction(predictions))["ess_min"] == 0.0


def test_the_key_rules_are_stated_once():
    for module in (runs, table):
        source = pathlib.Path(module.__file__).read_text()
        assert "from experiments.config.identity import" in source
    for name in ("experiment", "prior_fit"):
        source = (pathlib.Path(runs.__file__).parent / f"{name}.py").read_text()
        assert "from experiments.config.identity import" in source
    assert identity.checkpoint_identity(configs.from_dict(QUICK, ["eval.reference=/r"])) == \
        identity.checkpoint_identity(configs.from_dict(QUICK))
    assert identity.run_identity(configs.from_dict(QUICK, ["eval.reference=/r"])) != \
        identity.run_identity(configs.from_dict(QUICK))
