"""The typed config schema: loading, overrides, and one-line refusals naming the key."""

import pathlib

import pytest
import yaml

from experiments import config as configs
from conftest import REPO

MINIMAL = {"name": "tiny", "data": {"name": "diabetes"}}


def write(tmp_path: pathlib.Path, values) -> pathlib.Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_defaults_fill_what_the_file_leaves_out(tmp_path):
    config = configs.load(write(tmp_path, MINIMAL))
    assert config.name == "tiny" and config.data.name == "diabetes" and config.data.split == 0
    assert config.sampler == configs.SamplerConfig()
    assert configs.from_dict(configs.to_dict(config)) == config  # config.yaml round-trips


def test_overrides_use_dotted_keys_and_yaml_values(tmp_path):
    config = configs.load(write(tmp_path, MINIMAL),
                          ["sampler.step_size=1e-3", "data.split=3", "seed=2", "sampler.max_grad_norm=null",
                           "sampler.scale_adaptation=false", "sampling.batch_size=null",
                           "eval.reference=results/hmc/diabetes/split-3/seed-0"])
    assert config.sampler.step_size == 1e-3 and isinstance(config.sampler.step_size, float)
    assert (config.data.split, config.seed) == (3, 2)
    assert config.sampler.max_grad_norm is None and config.sampler.scale_adaptation is False
    assert config.sampling.batch_size is None
    assert config.eval.reference == "results/hmc/diabetes/split-3/seed-0"
    assert configs.load(write(tmp_path, MINIMAL)).eval.reference is None


def test_a_section_given_in_part_keeps_its_other_defaults():
    config = configs.from_dict({**MINIMAL, "prior": {"fit": {"num_iterations": 5}}})
    assert config.prior.fit == configs.PriorFitConfig(num_iterations=5)  # measurement too, a default_factory


def test_integers_widen_to_floats_but_not_the_reverse(tmp_path):
    config = configs.load(write(tmp_path, MINIMAL), ["sampler.step_size=1"])
    assert config.sampler.step_size == 1.0 and isinstance(config.sampler.step_size, float)
    with pytest.raises(configs.ConfigError, match="'sampling.num_steps' must be an integer, got 1.5"):
        configs.load(write(tmp_path, MINIMAL), ["sampling.num_steps=1.5"])


@pytest.mark.parametrize("values, overrides, message", [
    ({**MINIMAL, "sampler": {"stepsize": 0.1}}, [], r"unknown config key 'sampler.stepsize' \(known in 'sampler': name, step_size"),
    (MINIMAL, ["model.widht=3"], "unknown config key 'model.widht'"),
    ({**MINIMAL, "extra": 1}, [], "unknown config key 'extra'"),
    ({**MINIMAL, "seed": "zero"}, [], "config key 'seed' must be an integer, got 'zero'"),
    ({**MINIMAL, "sampler": {"scale_adaptation": "yes please"}}, [], "'sampler.scale_adaptation' must be true or false"),
    ({**MINIMAL, "sampler": {"name": "pymc"}}, [], r"'sampler.name' must be one of 'sgld', 'sghmc', 'sa_sgld', "
     r"'entropy_mcmc', 'hmc', 'nuts', 'mclmc', 'adjusted_mclmc', 'sgd', got 'pymc'"),
    ({**MINIMAL, "sampler": {"name": "nuts"}}, ["sampling.batch_size=32"],
     "sampler.name=nuts uses the whole data set at every step; set sampling.batch_size: null"),
    ({**MINIMAL, "sampler": {"name": "mclmc"}}, ["sampling.batch_size=32"],
     "sampler.name=mclmc uses the whole data set at every step; set sampling.batch_size: null"),
    ({**MINIMAL, "sampler": {"name": "nuts", "mass_adaptation": False}}, ["sampling.batch_size=null"],
     "sampler.name=nuts always adapts a diagonal mass matrix"),
    ({**MINIMAL, "sampler": {"name": "nuts", "adaptation_steps": 5}}, ["sampling.batch_size=null"],
     "sampler.adaptation_steps"),
    ({**MINIMAL, "sampler": {"name": "nuts", "max_num_doublings": 0}}, ["sampling.batch_size=null"],
     "sampler.max_num_doublings"),
    ({**MINIMAL, "sampler": {"name": "mclmc", "desired_energy_variance": -1.0}}, ["sampling.batch_size=null"],
     "sampler.desired_energy_variance"),
    ({**MINIMAL, "sampler": {"name": "mclmc"}}, ["sampling.batch_size=null", "sampling.num_steps=10",
                                                 "sampling.burn_in=0", "sampling.thin=1"],
     "sampler.name=mclmc sizes its tuning from sampling.num_steps"),
    ({**MINIMAL, "sampler": {"name": "adjusted_mclmc"}}, ["sampling.batch_size=32"],
     "sampler.name=adjusted_mclmc uses the whole data set at every step; set sampling.batch_size: null"),
    ({**MINIMAL, "sampler": {"name": "adjusted_mclmc"}}, ["sampling.batch_size=null", "sampling.num_steps=10",
                                                          "sampling.burn_in=0", "sampling.thin=1"],
     "sampler.name=adjusted_mclmc sizes its tuning from sampling.num_steps"),
    ({**MINIMAL, "sampler": {"name": "adjusted_mclmc", "schedule": {"kind": "cyclical_cosine"}}},
     ["sampling.batch_size=null"], "sampler.name=adjusted_mclmc tunes its step size and keeps it"),
    ({**MINIMAL, "sampler": {"name": "adjusted_mclmc", "target_acceptance_rate": 0.0}}, ["sampling.batch_size=null"],
     "sampler.target_acceptance_rate"),
    ({**MINIMAL, "sampler": {"name": "adjusted_mclmc"}, "prior": {"kind": "fh"}}, ["sampling.batch_size=null"],
     "sampler.name=adjusted_mclmc cannot sample the hierarchical prior.kind=fh"),
    ({**MINIMAL, "sampler": {"name": "hmc"}}, ["sampling.batch_size=32"],
     "sampler.name=hmc uses the whole data set at every step; set sampling.batch_size: null"),
    ({**MINIMAL, "sampler": {"name": "hmc", "schedule": {"kind": "cyclical_cosine"}}}, ["sampling.batch_size=null"],
     "sampler.schedule.kind must be constant"),
    ({**MINIMAL, "sampler": {"name": "hmc", "target_acceptance_rate": 1.0}}, [], "target_acceptance_rate"),
    ({**MINIMAL, "sampler": {"name": "hmc", "mass_adaptation": True}}, ["sampling.batch_size=null", "sampling.burn_in=10"],
     "sampling.burn_in must be at least 20"),
    ({**MINIMAL, "model": 3}, [], "'model' must be a mapping"),
    ({**MINIMAL, "eval": {"reference": 3}}, [], "config key 'eval.reference' must be a string or null, got 3"),
    ({**MINIMAL, "eval": {"reference": ["a", "b"]}}, [], "'eval.reference' must be a string or null"),
    ({**MINIMAL, "eval": {"reference": " "}}, [], "'eval.reference' must be a path to a run directory"),
    ({**MINIMAL, "eval": "results/hmc"}, [], "'eval' must be a mapping"),
    (MINIMAL, ["eval.referense=results/hmc"], r"unknown config key 'eval.referense' \(known in 'eval': reference, ood\)"),
    ({"data": {"name": "diabetes"}}, [], "config key 'name' is required"),
    ({"name": "x", "data": {"split": 1}}, [], "config key 'data.name' is required"),
    (MINIMAL, ["data.split"], "must look like key=value"),
    ({**MINIMAL, "seed": 1}, ["seed.x=1"], "'seed' is not a section"),
])
def test_bad_configs_are_refused_naming_the_key(tmp_path, values, overrides, message):
    with pytest.raises(configs.ConfigError, match=message) as caught:
        configs.load(write(tmp_path, values), overrides)
    assert "\n" not in str(caught.value)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(configs.ConfigError, match="cannot read config"):
        configs.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(configs.ConfigError, match=r"not valid YAML \(line 2\)"):
        configs.load(broken)


# configs/papers/ holds suites, not configs (test_suite loads them and the configs they name).
SHIPPED_CONFIGS = sorted(path for path in (REPO / "configs").rglob("*.yaml") if "papers" not in path.parts)


@pytest.mark.parametrize("path", SHIPPED_CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    configs.load(path)
