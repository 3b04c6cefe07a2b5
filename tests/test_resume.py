"""``posterior run`` killed and run again: it resumes from its checkpoint and ends as if never stopped.

Each interrupted run is a real ``posterior`` process killed with SIGKILL: by the test, once
the process has written its second checkpoint (a patch holds it there so the kill cannot
come too late), or by itself in the middle of writing a checkpoint or ``metrics.json``. It
is then run again as a plain ``posterior run`` and must produce the draws
(``samples/draws.npz``) and metrics of one uninterrupted run, bit for bit.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import jax.numpy as jnp
import numpy as np
import pytest
import yaml

import samplers
import samplers.mesh
from conftest import REPO, run_posterior
from experiments import build, cli, runs

# Checkpoints after steps 500 (burn-in), 1000, 1500, ..., 3000.
CONFIG = {
    "name": "resume",
    "data": {"name": "toy1d"},
    "model": {"width": 16, "depth": 1},
    "likelihood": {"name": "gaussian", "noise_std": 0.1},
    "prior": {"kind": "fg"},
    "sampler": {"name": "sghmc", "step_size": 1.0e-4, "friction": 0.05},
    "sampling": {"num_chains": 4, "num_steps": 3000, "burn_in": 500, "thin": 100, "batch_size": 16,
                 "save_samples": True},
    "checkpoint": {"every": 500},
}
EVERY = CONFIG["checkpoint"]["every"]
# What differs between two runs of the same config: how long they took, where one resumed,
# and the command line (each run has its own temporary folder).
TIMINGS = {"wall_seconds", "compile_seconds", "sampling_seconds", "resumed_from_step", "command"}

# Runs `posterior` (its CLI entry point) after PATCH, which may kill the process from inside.
WRAPPER = """
import os, signal, sys, time
import numpy as np
import samplers.checkpoint as checkpoint
from experiments import cli, rundir
{patch}
sys.exit(cli.main(sys.argv[1:]))
"""
HOLD_AFTER_SECOND_CHECKPOINT = """
real_save, saves = checkpoint.save, []
def save(*args, **kwargs):
    real_save(*args, **kwargs)
    saves.append(kwargs["step"])
    if len(saves) == 2:
        time.sleep(600)  # killed from outside meanwhile
checkpoint.save = save
"""
DIE_WRITING_THIRD_STATE = """
real_savez, states = np.savez, []
def savez(file, **arrays):
    real_savez(file, **arrays)
    if "state.npz" in file.name:
        states.append(file.name)
        if len(states) == 3:  # half of the third checkpoint is on disk, under its temporary name
            file.flush()
            file.truncate(file.tell() // 2)
            os.kill(os.getpid(), signal.SIGKILL)
np.savez = savez
"""
DIE_WRITING_METRICS = """
real_write_text = rundir.write_text
def write_text(path, text):
    if path.name == "metrics.json":
        def half(temporary):
            temporary.write_text(text[: len(text) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        rundir.write_atomic(path, half)
    real_write_text(path, text)
rundir.write_text = write_text
"""


def environment() -> dict:
    """The environment ``conftest.run_posterior`` gives ``posterior``."""
    return {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(REPO / ".pytest_cache" / "jax")}


def patched_posterior(patch: str, *args: str) -> subprocess.Popen:
    """``posterior ARGS`` in a new process, with ``patch`` applied first."""
    return subprocess.Popen([sys.executable, "-c", WRAPPER.format(patch=patch), *args], cwd=REPO,
                            env=environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_config(folder: pathlib.Path) -> pathlib.Path:
    path = folder / "resume.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    return path


def run_directory(results: pathlib.Path) -> pathlib.Path:
    return results / "resume" / "toy1d" / "split-0" / "seed-0"


def outputs(results: pathlib.Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The run's metrics (timings left out) and its saved draws."""
    directory = run_directory(results)
    metrics = json.loads((directory / "metrics.json").read_text())
    with np.load(directory / "samples" / "draws.npz", allow_pickle=False) as draws:
        arrays = {name: draws[name] for name in draws.files}
    return {key: value for key, value in metrics.items() if key not in TIMINGS}, arrays


def assert_same_run(results: pathlib.Path, reference: tuple[dict, dict]) -> None:
    metrics, draws = outputs(results)
    assert metrics == reference[0]
    assert draws.keys() == reference[1].keys()
    for name, array in draws.items():
        np.testing.assert_array_equal(array, reference[1][name], err_msg=name)


def assert_whole_checkpoint(folder: pathlib.Path, step: int) -> None:
    """Every file a checkpoint lists is there and complete: ``state.npz`` reads back at ``step``."""
    assert samplers.checkpoint.saved_step(folder) == step
    for path in folder.glob("*.npz"):
        with np.load(path, allow_pickle=False) as stored:  # zip CRCs: a truncated member fails here
            for name in stored.files:
                stored[name]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, dict]:
    """Metrics and draws of the config run straight through."""
    folder = tmp_path_factory.mktemp("straight")
    done = run_posterior("run", str(write_config(folder)), "--results", str(folder / "results"), timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    directory = run_directory(folder / "results")
    assert not (directory / "checkpoint").exists()  # a finished run keeps no checkpoint
    assert (directory / "samples" / "draws.npz").exists()
    return outputs(folder / "results")


def resume(config: pathlib.Path, results: pathlib.Path, *extra: str) -> subprocess.CompletedProcess:
    done = run_posterior("run", str(config), "--results", str(results), *extra, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_a_run_killed_after_its_second_checkpoint_resumes_to_the_same_draws(tmp_path, uninterrupted):
    config, results = write_config(tmp_path), tmp_path / "results"
    folder = run_directory(results) / "checkpoint"
    process = patched_posterior(HOLD_AFTER_SECOND_CHECKPOINT, "run", str(config), "--results", str(results))
    try:
        deadline = time.monotonic() + 240
        while samplers.checkpoint.saved_step(folder) != 2 * EVERY:
            assert process.poll() is None, process.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no second checkpoint within 4 minutes"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert sorted(path.name for path in run_directory(results).iterdir()) == ["checkpoint"]
    assert_whole_checkpoint(folder, 2 * EVERY)

    done = resume(config, results)
    assert f"resuming from the checkpoint at step {2 * EVERY}" in done.stdout
    assert json.loads((run_directory(results) / "metrics.json").read_text())["resumed_from_step"] == 2 * EVERY
    assert_same_run(results, uninterrupted)
    assert not folder.exists()


def test_a_run_killed_while_writing_a_checkpoint_resumes_from_the_one_before(tmp_path, uninterrupted):
    config, results = write_config(tmp_path), tmp_path / "results"
    folder = run_directory(results) / "checkpoint"
    process = patched_posterior(DIE_WRITING_THIRD_STATE, "run", str(config), "--results", str(results))
    process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL
    assert_whole_checkpoint(folder, 2 * EVERY)  # the second checkpoint, whole
    assert list(folder.glob(".state.npz.*.tmp")), "the kill came while the third state was half written"
    assert not (run_directory(results) / "metrics.json").exists()

    resume(config, results)
    assert_same_run(results, uninterrupted)


def test_a_run_killed_while_writing_its_metrics_leaves_none_and_resumes(tmp_path, uninterrupted):
    config, results = write_config(tmp_path), tmp_path / "results"
    directory = run_directory(results)
    process = patched_posterior(DIE_WRITING_METRICS, "run", str(config), "--results", str(results))
    process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL
    assert not (directory / "metrics.json").exists()
    assert_whole_checkpoint(directory / "checkpoint", CONFIG["sampling"]["num_steps"])  # sampling had finished

    done = resume(config, results)
    assert f"resuming from the checkpoint at step {CONFIG['sampling']['num_steps']}" in done.stdout
    assert_same_run(results, uninterrupted)
    assert not [path.name for path in directory.parent.iterdir() if path.name.startswith(".")]  # nothing stale


# --- in this process: what a resumed run checks first ------------------------------------------------

class Interrupted(Exception):
    """Stands for the process being killed."""


def interrupted_run(tmp_path, monkeypatch, *overrides: str) -> tuple[list[str], pathlib.Path]:
    """Run the config through ``posterior``'s entry point until its second checkpoint;
    returns the arguments that run it and its checkpoint folder."""
    monkeypatch.setattr(samplers.mesh, "use_cpu_cores", lambda count: count)  # JAX already runs in this process
    monkeypatch.setattr(runs, "use_compilation_cache", lambda: None)  # conftest chose the cache
    real_save, saves = samplers.checkpoint.save, []

    def save(*args, **kwargs):
        real_save(*args, **kwargs)
        saves.append(kwargs["step"])
        if len(saves) == 2:
            raise Interrupted

    monkeypatch.setattr(samplers.checkpoint, "save", save)
    arguments = ["run", str(write_config(tmp_path)), "--results", str(tmp_path / "results"), *overrides]
    with pytest.raises(Interrupted):
        cli.main(arguments)
    monkeypatch.setattr(samplers.checkpoint, "save", real_save)
    return arguments, run_directory(tmp_path / "results") / "checkpoint"


def folder_contents(folder: pathlib.Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


@pytest.mark.parametrize("change, message", [
    ("sampler.step_size=2e-4", "its config.sampler.step_size is 0.0001, this run's is 0.0002"),
    ("model.width=8", "its config.model.width is 16, this run's is 8"),
    ("seed=1", "its key is [0, 0], this run's is [0, 1]"),
])
def test_a_checkpoint_of_another_config_is_refused_until_restart(tmp_path, monkeypatch, capsys, change, message):
    arguments, folder = interrupted_run(tmp_path, monkeypatch)
    if change.startswith("seed"):
        # Another seed is another run directory; put this checkpoint where that run looks.
        folder.parent.rename(folder.parent.with_name("seed-1"))
        folder = folder.parent.with_name("seed-1") / "checkpoint"
    before = folder_contents(folder)
    capsys.readouterr()
    assert cli.main([*arguments, change]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"posterior: error: checkpoint file {folder / 'state.npz'} was written by another run: ")
    assert message in error and error.rstrip().endswith("--restart discards it and starts afresh"), error
    assert error.count("\n") == 1
    assert folder_contents(folder) == before  # refused, not overwritten
    assert not (folder.parent / "metrics.json").exists()

    assert cli.main([*arguments, change, "--restart"]) == 0
    metrics = json.loads((folder.parent / "metrics.json").read_text())
    assert metrics["status"] == "ok" and "resumed_from_step" not in metrics


@pytest.mark.parametrize("damage, message", [
    (lambda folder: (folder / "state.npz").write_bytes((folder / "state.npz").read_bytes()[:200]), "is unreadable"),
    (lambda folder: next(folder.glob("draws-*.npz")).unlink(), "is missing"),
])
def test_a_damaged_checkpoint_is_refused_naming_the_file(tmp_path, monkeypatch, capsys, damage, message):
    arguments, folder = interrupted_run(tmp_path, monkeypatch)
    damage(folder)
    capsys.readouterr()
    assert cli.main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"posterior: error: checkpoint file {folder}/") and message in error, error
    assert error.count("\n") == 1


def test_settings_that_do_not_change_the_draws_resume_the_checkpoint(tmp_path, monkeypatch, capsys):
    arguments, folder = interrupted_run(tmp_path, monkeypatch)
    capsys.readouterr()
    assert cli.main([*arguments, "checkpoint.every=1000", "sampling.on_divergence=drop_chain"]) == 0
    assert f"resuming from the checkpoint at step {2 * EVERY}" in capsys.readouterr().out


def test_a_diverged_run_stops_and_keeps_the_last_checkpoint_before_the_divergence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(samplers.mesh, "use_cpu_cores", lambda count: count)
    monkeypatch.setattr(runs, "use_compilation_cache", lambda: None)
    # The config's step until step 1200, then one no chain survives.
    monkeypatch.setattr(build, "build_schedule", lambda config: lambda step: jnp.where(step < 1200, 1e-4, 1e3))
    assert cli.main(["run", str(write_config(tmp_path)), "--results", str(tmp_path / "results")]) == 3
    assert "became non-finite at step 12" in capsys.readouterr().err
    directory = run_directory(tmp_path / "results")
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and 1200 < min(d["step"] for d in metrics["divergences"]) <= 1500
    assert metrics["num_steps_taken"] == 1500  # the end of the chunk in which it diverged
    assert_whole_checkpoint(directory / "checkpoint", 2 * EVERY)
    with np.load(directory / "checkpoint" / "state.npz", allow_pickle=False) as state:
        assert all(np.isfinite(state[name]).all() for name in state.files if state[name].dtype.kind == "f")
