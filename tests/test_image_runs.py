"""Runs on images: convolutional networks from the config, held-out classes, OOD metrics and plots."""

import dataclasses
import functools
import json

import jax
import numpy as np
import pytest

from conftest import REPO
from experiments.config import identity
from experiments import config as configs
from experiments import experiment, report, runs, table
from posterior import data, models
from priors import wasserstein
from test_image_data import CIFAR10_TRAIN_FILES, cifar_records, idx_bytes, write_file

TINY_DIGITS = {
    "name": "tiny-images",
    "data": {"name": "digits"},
    "model": {"kind": "mlp", "width": 8, "depth": 1},
    "likelihood": {"name": "categorical"},
    "sampler": {"name": "sgld", "step_size": 1e-4},
    "sampling": {"num_chains": 2, "num_steps": 400, "burn_in": 200, "thin": 40, "batch_size": 64},
    "checkpoint": {"every": None},
}
CLASSIFICATION_PLOTS = {"reliability.png", "per_class_accuracy.png"}


def tiny(**sections) -> configs.Config:
    return configs.from_dict({**TINY_DIGITS, **sections})


def test_digits_are_8x8_grey_images_and_an_mlp_reads_them_flattened():
    digits = data.load("digits", split=0)
    assert digits.x_train.shape == (1617, 8, 8, 1) and digits.x_test.shape == (180, 8, 8, 1)
    assert digits.input_shape == (8, 8, 1) and digits.input_dim == 64
    network = models.mlp(width=4, depth=1, output_dim=10)
    params = network.init(jax.random.key(0), digits.input_shape)
    assert params["hidden_0"]["kernel"].shape == (64, 4)
    np.testing.assert_array_equal(network.apply(params, digits.x_test),
                                  network.apply(params, digits.x_test.reshape(180, 64)))


def test_without_class_moves_the_class_out_of_training_and_testing():
    digits = data.load("digits", split=0)
    kept, held_out = data.without_class(digits, 9)
    assert 9 not in kept.y_train and 9 not in kept.y_test and kept.num_classes == 10
    assert len(kept.x_train) == np.sum(digits.y_train != 9) and len(kept.x_test) == np.sum(digits.y_test != 9)
    np.testing.assert_array_equal(held_out, digits.x_test[digits.y_test == 9])


@pytest.mark.parametrize("label, message", [(10, "out of range"), (-1, "out of range")])
def test_without_class_refuses_a_class_that_does_not_exist(label, message):
    with pytest.raises(data.DataError, match=message):
        data.without_class(data.load("digits", split=0), label)


def test_without_class_refuses_regression():
    with pytest.raises(data.DataError, match="only a classification set"):
        data.without_class(data.load("diabetes", split=0), 0)


@pytest.mark.parametrize("changes, message", [
    ({"data": {"name": "diabetes"}, "likelihood": {"name": "gaussian"}, "model": {"kind": "lenet"}},
     "'data.name' must be an image set"),
    ({"model": {"kind": "resnet"}}, "'model.kind' must be one of"),
    ({"eval": {"ood": {"kind": "held_out_class"}}}, "needs data.held_out_class"),
    ({"eval": {"ood": {"kind": "data"}}}, "'eval.ood.name' must be a data set other than"),
    ({"eval": {"ood": {"kind": "data", "name": "digits"}}}, "'eval.ood.name' must be a data set other than"),
    ({"eval": {"ood": {"kind": "noise", "name": "mnist"}}}, "with eval.ood.kind=data only"),
    ({"eval": {"ood": {"kind": "noise", "num_points": 0}}}, "'eval.ood.num_points' must be"),
    ({"eval": {"ood": {"kind": "sideways"}}}, "'eval.ood.kind' must be one of"),
    ({"eval": {"ood": {"kind": "noise", "colour": "pink"}}}, "unknown config key 'eval.ood.colour'"),
    ({"data": {"name": "diabetes"}, "likelihood": {"name": "gaussian"}, "eval": {"ood": {"kind": "noise"}}},
     "categorical with eval.ood"),
    ({"data": {"name": "diabetes", "held_out_class": 1}, "likelihood": {"name": "gaussian"}},
     "categorical with data.held_out_class"),
    ({"data": {"name": "digits", "held_out_class": -1}}, "'data.held_out_class' must be an integer in"),
])
def test_bad_image_settings_are_refused_naming_the_key(changes, message):
    with pytest.raises(configs.ConfigError, match=message):
        tiny(**changes)


def test_a_checkpoint_resumes_only_under_its_own_ood_setting():
    # The checkpoint holds each chain's OOD predictive folded so far, so another OOD set cannot go on from it.
    plain = tiny()
    assert identity.checkpoint_identity(plain) != identity.checkpoint_identity(
        tiny(eval={"ood": {"kind": "noise", "num_points": 7}}))
    assert identity.checkpoint_identity(plain) != identity.checkpoint_identity(
        tiny(data={"name": "digits", "held_out_class": 3}))  # other training data: other draws


def test_a_lenet_run_reports_ood_metrics_and_draws_the_classification_plots(tmp_path):
    config = tiny(model={"kind": "lenet", "activation": "relu"}, eval={"ood": {"kind": "noise", "num_points": 300}})
    directory, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok" and metrics["test_accuracy"] > 0.8
    # 400 steps of a LeNet already tell pure noise from digits by their predictive entropy.
    assert metrics["test_ood_auroc"] > 0.8 and 0.0 < metrics["test_ood_aupr"] <= 1.0
    assert CLASSIFICATION_PLOTS | {"ood_entropy.png"} <= {path.name for path in (directory / "plots").iterdir()}
    assert "test_ood_auroc=" in (directory / "log.txt").read_text()
    columns, rows = table.summarise(table.collect(tmp_path))
    assert {"test_ood_auroc", "test_ood_aupr"} <= set(columns) and rows[0]["experiment"] == "tiny-images"


def test_a_held_out_class_is_the_ood_set(tmp_path):
    config = tiny(data={"name": "digits", "held_out_class": 9}, eval={"ood": {"kind": "held_out_class"}})
    outcome = experiment.run_experiment(config, data_root=None, log=lambda line: None, progress=False)
    digits = data.load("digits", split=0)
    assert outcome.metrics["num_train"] == np.sum(digits.y_train != 9)
    assert outcome.metrics["num_test"] == np.sum(digits.y_test != 9)
    assert outcome.ood_probs.shape == (np.sum(digits.y_test == 9), 10)
    assert 0.0 <= outcome.metrics["test_ood_auroc"] <= 1.0
    report.write_plots(tmp_path, outcome, "held out", config=config)
    assert CLASSIFICATION_PLOTS | {"ood_entropy.png"} <= {path.name for path in (tmp_path / "plots").iterdir()}


@pytest.fixture
def two_image_sets(tmp_path):
    """Tiny MNIST and Fashion-MNIST folders in the IDX format; returns the parent folder."""
    rng = np.random.default_rng(5)
    for name, sizes in (("mnist", (40, 10)), ("fashion_mnist", (30, 12))):
        folder = tmp_path / name
        folder.mkdir()
        for split, size in zip(("train", "t10k"), sizes):
            write_file(folder / f"{split}-images-idx3-ubyte", idx_bytes(rng.integers(0, 256, (size, 28, 28))))
            write_file(folder / f"{split}-labels-idx1-ubyte", idx_bytes(np.arange(size) % 10), gzipped=True)
    return tmp_path


def test_a_second_data_set_is_the_ood_set(two_image_sets):
    config = tiny(data={"name": "mnist", "root": str(two_image_sets / "mnist")},
                  sampling={"num_chains": 2, "num_steps": 20, "burn_in": 0, "thin": 5, "batch_size": 8},
                  eval={"ood": {"kind": "data", "name": "fashion_mnist",
                                "root": str(two_image_sets / "fashion_mnist")}})
    outcome = experiment.run_experiment(config, data_root=config.data.root, log=lambda line: None, progress=False)
    assert outcome.metrics["num_test"] == 10 and outcome.ood_probs.shape == (12, 10)
    assert {"test_ood_auroc", "test_ood_aupr"} <= set(outcome.metrics)


def test_an_ood_set_of_another_shape_is_refused_before_sampling(two_image_sets, tmp_path):
    config = tiny(eval={"ood": {"kind": "data", "name": "mnist", "root": str(two_image_sets / "mnist")}})
    with pytest.raises(ValueError, match=r"eval.ood.name=mnist has inputs of shape \(28, 28, 1\), not digits's"):
        runs.execute(config, results=tmp_path / "results", force=False)
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("metrics.json"))


def test_a_sweep_over_a_setting_names_its_runs_apart(tmp_path):
    path = tmp_path / "digits.yaml"
    path.write_text(json.dumps(TINY_DIGITS))  # JSON is YAML
    swept = runs.sweep_configs(path, ["seed=2"], ["sampler.step_size=1e-4,3e-4", "data.split=0:2"])
    assert [(config.name, config.data.split, config.seed) for config in swept] == [
        ("tiny-images[sampler.step_size=1e-4]", 0, 2), ("tiny-images[sampler.step_size=1e-4]", 1, 2),
        ("tiny-images[sampler.step_size=3e-4]", 0, 2), ("tiny-images[sampler.step_size=3e-4]", 1, 2)]
    assert [config.sampler.step_size for config in swept] == [1e-4, 1e-4, 3e-4, 3e-4]
    assert [config.name for config in runs.sweep_configs(path, [], ["seed=0,1"])] == ["tiny-images"] * 2


@pytest.fixture
def cifar_root(tmp_path):
    """CIFAR-10 and CIFAR-100 binary files of a few random images each, in one folder."""
    rng = np.random.default_rng(2)
    for subfolder, files, label_classes in (("cifar-10-batches-bin", (*CIFAR10_TRAIN_FILES, "test_batch.bin"), (10,)),
                                            ("cifar-100-binary", ("train.bin", "test.bin"), (20, 100))):
        (tmp_path / subfolder).mkdir()
        for filename in files:
            (tmp_path / subfolder / filename).write_bytes(cifar_records(rng, 2, label_classes)[0].tobytes())
    return tmp_path


@pytest.mark.slow
@pytest.mark.parametrize("name", ["hmc", "sghmc", "entropy_mcmc", "gpig_sghmc"])
def test_the_cifar10_resnet_configs_run_a_few_steps_on_cpu(cifar_root, tmp_path, monkeypatch, name):
    """The GPU settings, shortened: every key but the run length (and the prior fit's size) is the config's."""
    monkeypatch.delenv(runs.DATA_ROOT_VARIABLE, raising=False)
    short = ["sampling.num_chains=1", "sampling.num_steps=2", "sampling.burn_in=0", "sampling.thin=1",
             "checkpoint.every=1"]
    short += (["sampler.num_integration_steps=2"] if name == "hmc"
              else ["sampling.batch_size=4", "sampler.schedule.num_cycles=1"])
    if name == "gpig_sghmc":
        # The fake CIFAR-10 has 10 training images; the measurement kinds stay the config's.
        short += ["prior.fit.num_iterations=1", "prior.fit.num_functions=2", "prior.fit.critic_steps=1",
                  "prior.fit.evaluation_steps=1",
                  "prior.fit.measurement={kind: union, parts: [{kind: training, num_points: 2, crop_padding: 4},"
                  " {kind: training, num_points: 2, noise_std: 1.0}]}"]
        # The judge's 24 batches of 256 ResNets would take minutes on a CPU.
        monkeypatch.setattr(wasserstein, "w1_judge", functools.partial(
            wasserstein.w1_judge, num_functions=2, pool_batches=1, held_out_batches=1))
    config = configs.load(REPO / "configs" / "cifar10" / f"resnet20_frn_{name}.yaml", short)
    directory, metrics = runs.execute(dataclasses.replace(config, data=dataclasses.replace(
        config.data, root=str(cifar_root))), results=tmp_path / "results", force=False)
    assert metrics["status"] == "ok" and metrics["num_train"] == 10 and metrics["num_test"] == 2
    assert {"test_accuracy", "test_nll", "test_ece", "test_ood_auroc"} <= set(metrics)
