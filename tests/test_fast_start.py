"""The command answers --help and refuses bad configs before importing the heavy packages."""

import dataclasses
import subprocess
import sys

import pytest

HEAVY = ("jax", "flax", "blackjax", "numpyro", "matplotlib", "optax", "scipy")


def modules_after(code: str) -> set[str]:
    """The heavy packages imported once ``code`` ran in a fresh interpreter."""
    script = f"import sys\n{code}\nprint('imported:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("imported:"))
    return set(filter(None, line.removeprefix("imported:").split(",")))


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["bench", "sgmcmc", "--help"], ["bench", "nope"]])
def test_help_and_usage_errors_import_nothing_heavy(argv):
    code = f"from experiments import cli\ntry:\n    cli.main({argv!r})\nexcept SystemExit:\n    pass"
    assert modules_after(code) == set()


def test_a_bad_config_is_refused_before_anything_heavy_is_imported(tmp_path, capsys):
    config = tmp_path / "bad.yaml"
    config.write_text("name: x\ndata: {name: boston}\nsampler: {name: sgld, step_size: -1.0}\n")
    code = f"from experiments import cli\nassert cli.main(['run', {str(config)!r}]) == 2"
    assert modules_after(code) == set()


def test_the_packages_import_without_jax():
    assert modules_after("import samplers, posterior, posterior.data, experiments.config, samplers.validation") == set()


def test_a_kernel_module_loading_leaves_the_constructor_in_the_package():
    import samplers
    from samplers.sgld import SGLDState  # binds the module samplers.sgld as it loads

    assert callable(samplers.sgld) and samplers.sgld.__module__ == "samplers.sgld"
    assert SGLDState.__module__ == "samplers.sgld"


def test_submodules_are_reached_as_attributes_of_a_fresh_package():
    # samplers.mesh before anything imported it (a notebook's data-sharded log posterior).
    assert "jax" in modules_after("import samplers\nsamplers.mesh.sum_over_data\nsamplers.minibatch.permutation")


def test_the_configs_copies_of_library_defaults_match_the_library():
    from experiments.config import checks, schema
    from posterior import models
    from samplers.sa_sgld import DEFAULT_CLOCK

    assert dataclasses.astuple(schema.ClockConfig()) == tuple(DEFAULT_CLOCK)
    assert checks.ACTIVATIONS == tuple(models.ACTIVATIONS)
