"""``posterior.load_draws`` and ``posterior export RUN_DIR --arviz OUT.nc`` on a tiny run's saved draws."""

import argparse
import sys
import warnings

import numpy as np
import pytest
import yaml

import posterior
from conftest import run_posterior
from experiments import export
from samplers import checkpoint

LEAF_SHAPES = {("hidden_0", "bias"): (8,), ("hidden_0", "kernel"): (3, 8), ("output", "bias"): (1,),
               ("output", "kernel"): (8, 1)}  # width 8, 3 inputs


def import_arviz():
    with warnings.catch_warnings():  # 0.23 announces its coming refactor on import
        warnings.simplefilter("ignore", FutureWarning)
        return pytest.importorskip("arviz")


def test_a_run_s_saved_draws_load_and_export_to_arviz_draw_for_draw(tmp_path, uci_env, tiny_config):
    results = tmp_path / "results"
    done = run_posterior("run", str(tiny_config), "--results", str(results), "sampling.save_samples=true",
                         env=uci_env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    directory = results / "tiny" / "yacht" / "split-0" / "seed-0"

    draws = posterior.load_draws(directory)
    assert isinstance(draws, posterior.Draws) and (draws.num_chains, draws.num_draws) == (2, 10)
    assert set(draws.samples) == {"network"}
    assert {(layer, name): leaf.shape[2:] for layer, leaves in draws.samples["network"].items()
            for name, leaf in leaves.items()} == LEAF_SHAPES
    assert all(leaf.shape[:2] == (2, 10) for leaves in draws.samples["network"].values() for leaf in leaves.values())
    assert draws.weights.shape == (2, 10) and set(draws.info) >= {"logdensity", "step_size", "weight"}
    assert all(value.shape == (2, 10) for value in draws.info.values())
    # SGHMC weighs every draw 1; the predictive weighs the same draws, normalised, chain by chain.
    assert draws.weights.sum() == pytest.approx(2 * draws.metadata["metrics"]["draws_per_chain"])
    np.testing.assert_array_equal(draws.weights, draws.info["weight"])
    predictive = checkpoint.read_archive(directory / "predictive.npz")
    np.testing.assert_allclose((draws.weights / draws.weights.sum()).reshape(-1), predictive["weights"], rtol=1e-6)
    assert draws.metadata["config"] == yaml.safe_load((directory / "config.yaml").read_text())
    assert draws.metadata["config"]["sampling"]["save_samples"] is True
    assert draws.metadata["metrics"]["status"] == "ok"

    arviz = import_arviz()
    out = tmp_path / "exported" / "run.nc"
    exported = run_posterior("export", str(directory), "--arviz", str(out), timeout=120)
    assert exported.returncode == 0, exported.stderr[-2000:]
    assert [path.name for path in out.parent.iterdir()] == ["run.nc"]  # no temporary left
    data = arviz.from_netcdf(out)
    assert data.posterior.sizes["chain"] == data.sample_stats.sizes["chain"] == 2
    assert data.posterior.sizes["draw"] == data.sample_stats.sizes["draw"] == 10
    assert set(data.posterior.data_vars) == {f"network.{layer}.{name}" for layer, name in LEAF_SHAPES} | {
        "test_prediction"}
    for (layer, name), shape in LEAF_SHAPES.items():  # every draw, in its chain and place
        leaf = draws.samples["network"][layer][name]
        variable = data.posterior[f"network.{layer}.{name}"]
        assert variable.dims == ("chain", "draw", f"network.{layer}.{name}_dim")
        np.testing.assert_array_equal(variable.values, leaf.reshape(2, 10, -1))
        assert list(np.atleast_1d(variable.attrs["shape"])) == list(shape)
    predictions = data.posterior["test_prediction"]
    assert predictions.dims == ("chain", "draw", "test_point")
    np.testing.assert_array_equal(predictions.values, predictive["means"].reshape(2, 10, -1))
    np.testing.assert_array_equal(data.sample_stats["weights"].values, draws.weights)
    for name, value in draws.info.items():
        np.testing.assert_array_equal(data.sample_stats[name].values, value)

    kernel = draws.samples["network"]["hidden_0"]["kernel"].reshape(2, 10, -1)
    summary = arviz.summary(data, var_names=["network.hidden_0.kernel"], round_to="none")
    assert list(summary.index) == [f"network.hidden_0.kernel[{index}]" for index in range(24)]
    np.testing.assert_allclose(summary["mean"].to_numpy(), kernel.mean(axis=(0, 1)), rtol=1e-5, atol=1e-6)
    assert np.isfinite(summary["r_hat"].to_numpy()).all()


def test_export_of_a_run_without_saved_draws_exits_2_in_one_line(tmp_path):
    (tmp_path / "run").mkdir()
    out = tmp_path / "run.nc"
    done = run_posterior("export", str(tmp_path / "run"), "--arviz", str(out), timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert str(tmp_path / "run" / "samples" / "draws.npz") in done.stderr
    assert "sampling.save_samples=true" in done.stderr and not out.exists()


def test_load_draws_names_a_missing_or_corrupt_file_in_one_line(tmp_path):
    path = tmp_path / "samples" / "draws.npz"
    with pytest.raises(FileNotFoundError, match="sampling.save_samples=true") as missing:
        posterior.load_draws(tmp_path)
    assert str(path) in str(missing.value) and "\n" not in str(missing.value)

    path.parent.mkdir()
    path.write_bytes(b"PK\x03\x04 not really a zip archive\n")
    with pytest.raises(ValueError) as corrupt:
        posterior.load_draws(tmp_path)
    assert str(path) in str(corrupt.value) and "\n" not in str(corrupt.value)

    checkpoint.write_archive(path, {"leaf_0": np.zeros((2, 3))})  # an .npz, but no metadata
    with pytest.raises(ValueError, match="no readable metadata") as unlabelled:
        posterior.load_draws(tmp_path)
    assert str(path) in str(unlabelled.value)

    tree = {"samples": {"w": np.zeros((2, 3, 4))}, "weights": np.ones((2, 3)), "info": {}}
    checkpoint.write_tree(path, tree, {"config": {}})
    arrays = checkpoint.read_archive(path)
    arrays["leaf_0"] = arrays["leaf_0"][:, :2]  # a draw short of its layout
    checkpoint.write_archive(path, arrays)
    with pytest.raises(ValueError, match="its layout says") as short:
        posterior.load_draws(tmp_path)
    assert str(path) in str(short.value) and "\n" not in str(short.value)


def test_load_draws_rebuilds_the_tree_from_any_key_path(tmp_path):
    rng = np.random.default_rng(0)
    samples = {"network": {"odd]['key": rng.normal(size=(2, 3, 4)), 'quote"d': rng.normal(size=(2, 3))},
               "pair": (rng.normal(size=(2, 3, 1)), rng.normal(size=(2, 3, 2, 2)))}
    tree = {"samples": samples, "weights": rng.uniform(size=(2, 3)), "info": {"logdensity": rng.normal(size=(2, 3))}}
    checkpoint.write_tree(tmp_path / "samples" / "draws.npz", tree, {"config": {"seed": 4}})
    draws = posterior.load_draws(tmp_path)
    np.testing.assert_array_equal(draws.samples["network"]["odd]['key"], samples["network"]["odd]['key"])
    np.testing.assert_array_equal(draws.samples["network"]['quote"d'], samples["network"]['quote"d'])
    np.testing.assert_array_equal(draws.samples["pair"][1], samples["pair"][1])  # sequence indices are int keys
    np.testing.assert_array_equal(draws.weights, tree["weights"])
    assert set(draws.info) == {"logdensity"} and draws.metadata == {"config": {"seed": 4}}  # no metrics.json


def test_export_without_arviz_names_the_extra_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "arviz", None)  # `import arviz` raises ImportError
    status = export.run(argparse.Namespace(run_dir=tmp_path, arviz=tmp_path / "run.nc"))
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and "pip install 'posterior[arviz]'" in error, error
    assert not (tmp_path / "run.nc").exists()
