"""Compiled programs are reused across calls of ``samplers.sample`` that differ only in numbers."""

import concurrent.futures
import pathlib
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers

REPO = pathlib.Path(__file__).resolve().parents[1]

# Written out as a script so that a fresh process runs exactly what this one does.
SETUP = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import samplers

    X = np.linspace(-1.0, 1.0, 64, dtype=np.float32).reshape(32, 2)
    Y = (X @ np.array([0.5, -1.0], np.float32)).astype(np.float32)

    def log_density(w, batch):
        x, y = batch
        return -0.5 * w @ w - 0.5 * (32 / y.shape[0]) * jnp.sum((x @ w - y) ** 2) / 0.01

    def start(key):
        return jax.random.normal(key, (2,))

    def run(make, step_size, **settings):
        settings = {"num_chains": 2, "num_steps": 200, "burn_in": 50, "thin": 10, "batch_size": 8, **settings}
        return samplers.sample(make(log_density, step_size), jax.random.key(7), start, (X, Y), progress=False,
                               **settings)
""")
namespace: dict = {}
exec(SETUP, namespace)  # noqa: S102 - the same definitions in this process as in the fresh one
run = namespace["run"]


def fresh_process_draws(make: str, step_size: float) -> np.ndarray:
    script = SETUP + f"np.save(__import__('sys').stdout.buffer, run(samplers.{make}, {step_size!r}).samples)\n"
    output = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, check=True).stdout
    return np.load(__import__("io").BytesIO(output))


@pytest.mark.parametrize("make", ["sgld", "sghmc"])
def test_a_new_step_size_compiles_nothing_and_gives_a_fresh_process_draws(make):
    samplers.programs.clear()
    first = run(getattr(samplers, make), 1e-4)
    second = run(getattr(samplers, make), 3e-4)
    assert first.timings["compilations"] == 2  # starting the chains, and a chunk of steps
    assert second.timings["compilations"] == 0
    assert second.timings["compile_seconds"] == 0.0
    assert not np.array_equal(first.samples, second.samples)
    np.testing.assert_array_equal(second.samples, fresh_process_draws(make, 3e-4))


def test_a_schedule_and_temperature_are_run_time_numbers_too():
    def cyclical(log_density, step_size, temperature):
        schedule = samplers.schedules.cyclical_cosine(step_size, num_steps=200, num_cycles=2)
        return samplers.sgld(log_density, schedule, temperature=temperature)

    run(lambda f, s: cyclical(f, s, 1.0), 1e-4)
    again = run(lambda f, s: cyclical(f, s, 0.5), 2e-4)
    assert again.timings["compilations"] == 0
    assert float(again.info["step_size"][0, 0]) != pytest.approx(1e-4)


def test_hmc_step_size_and_temperature_compile_nothing():
    def hmc(log_density, step_size):
        return samplers.hmc(log_density, step_size, 5)

    run(hmc, 0.01, batch_size=None)
    assert run(hmc, 0.02, batch_size=None).timings["compilations"] == 0


def test_what_shapes_the_program_compiles_again():
    run(samplers.sgld, 1e-4)
    assert run(samplers.sgld, 1e-4, num_chains=4).timings["compilations"] > 0
    assert run(samplers.sgld, 1e-4, batch_size=16).timings["compilations"] > 0

    def another_log_density(w, batch):
        return namespace["log_density"](w, batch) - jnp.sum(jnp.abs(w))

    result = samplers.sample(samplers.sgld(another_log_density, 1e-4), jax.random.key(7), namespace["start"],
                             (namespace["X"], namespace["Y"]), num_chains=2, num_steps=200, batch_size=8,
                             progress=False)
    assert result.timings["compilations"] > 0


def test_a_longer_run_and_other_thinning_reuse_the_programs():
    run(samplers.sgld, 1e-4)
    assert run(samplers.sgld, 1e-4, num_steps=400, burn_in=100, thin=20).timings["compilations"] == 0


@pytest.mark.parametrize("batch_size", [8, None])
def test_static_length_blocks_as_on_accelerators_give_the_same_draws(monkeypatch, batch_size):
    """Accelerators run whole epochs as loops of static length; CPUs one loop of run-time length."""
    on_cpu = run(samplers.sgld, 1e-4, batch_size=batch_size, num_steps=500, burn_in=103, thin=7)
    monkeypatch.setattr(samplers.run, "_static_blocks", lambda mesh: True)
    blocks = run(samplers.sgld, 1e-4, batch_size=batch_size, num_steps=500, burn_in=103, thin=7)
    assert blocks.timings["compilations"] > 0  # another program, not the CPU one again
    np.testing.assert_array_equal(blocks.samples, on_cpu.samples)
    np.testing.assert_array_equal(blocks.info["step_size"], on_cpu.info["step_size"])


class RecordingCompiler(concurrent.futures.ThreadPoolExecutor):
    """The compiler threads, writing down when compilations are handed over and awaited."""

    def __init__(self, events: list):
        super().__init__(max_workers=2)
        self.events = events

    def submit(self, compile_program, *args):
        self.events.append("submitted")
        future = super().submit(compile_program, *args)
        result = future.result

        def awaited(*result_args):
            self.events.append("awaited")
            return result(*result_args)

        future.result = awaited
        return future


def test_the_start_and_the_chunk_are_both_compiling_before_either_is_awaited(monkeypatch):
    events: list = []
    with RecordingCompiler(events) as compiler:
        monkeypatch.setattr(samplers.programs, "_compiler", lambda: compiler)
        samplers.programs.clear()
        began = time.perf_counter()
        result = run(samplers.sghmc, 1e-4)
        wall = time.perf_counter() - began
    assert events == ["submitted", "submitted", "awaited", "awaited"]
    # Only the time spent waiting counts as compiling, so the two never add up to more than the call.
    timings = result.timings
    assert 0.0 < timings["compile_seconds"] and 0.0 < timings["sampling_seconds"]
    assert timings["compile_seconds"] + timings["sampling_seconds"] <= wall
