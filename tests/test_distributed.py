"""``posterior run --distributed``: two processes on this machine, 4 CPU devices each, one mesh.

The processes find each other through a coordinator on the loopback interface (JAX's own
multi-controller runtime, CPU collectives over gloo), sample on a mesh spanning all 8
devices (chains on one axis, data on the other; or the default mesh, chains only), checkpoint,
and process 0 writes the run directory. The draws, and the chains found diverged, must be
those of one process with 8 devices. Three processes each
compile the run (over a minute in all on 2 cores): marked ``slow``, run by .ci/run after
the quick suite.
"""

import json
import os
import socket
import subprocess

import numpy as np
import pytest
import yaml

from conftest import REPO, posterior_command, run_posterior

CONFIGS = {
    "sghmc-minibatch": {
        "sampler": {"name": "sghmc", "step_size": 1.0e-4, "friction": 0.05},
        "sampling": {"num_chains": 8, "num_steps": 400, "burn_in": 100, "thin": 50, "batch_size": 16,
                     "save_samples": True},
    },
    # No mesh section: the default mesh must span both processes. At this step size chains 1 and 4 (one on each
    # process) stay finite and the others diverge, so a divergence is met in each process's chains.
    "sgld-default-mesh-drop-chain": {
        "sampler": {"name": "sgld", "step_size": 2.0e-4},
        "sampling": {"num_chains": 8, "num_steps": 400, "burn_in": 100, "thin": 50, "batch_size": 16,
                     "save_samples": True, "on_divergence": "drop_chain"},
        "mesh": {"chain": None, "data": 1},
    },
    "hmc-full-batch": {
        "sampler": {"name": "hmc", "step_size": 1.0e-3, "num_integration_steps": 5},
        "sampling": {"num_chains": 8, "num_steps": 60, "burn_in": 20, "thin": 10, "batch_size": None,
                     "save_samples": True},
    },
}
COMMON = {
    "data": {"name": "toy1d"},
    "model": {"width": 8, "depth": 1},
    "likelihood": {"name": "gaussian", "noise_std": 0.1},
    "prior": {"kind": "fg"},
    "checkpoint": {"every": 200},
    "mesh": {"chain": 4, "data": 2},
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def draws(results, name) -> dict[str, np.ndarray]:
    with np.load(results / name / "toy1d" / "split-0" / "seed-0" / "samples" / "draws.npz") as stored:
        return {key: stored[key] for key in stored.files if key != "metadata"}


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_two_processes_give_the_draws_of_one_with_all_the_devices(tmp_path, name):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"name": name, **COMMON, **CONFIGS[name]}))
    port = free_port()
    environment = {**os.environ, "JAX_PLATFORMS": "cpu",
                   "JAX_COMPILATION_CACHE_DIR": str(REPO / ".pytest_cache" / "jax")}
    processes = [subprocess.Popen(
        [*posterior_command(), "run", str(config), "--results", str(tmp_path / "two"), "--cpu-devices", "4",
         "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(index)],
        cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in (0, 1)]
    outputs = [process.communicate(timeout=300) for process in processes]
    if any(process.returncode for process in processes):
        errors = " | ".join(stderr.strip().splitlines()[-1] for _, stderr in outputs if stderr.strip())
        if "gloo" in errors.lower() or "collective" in errors.lower():
            pytest.skip(f"this jaxlib cannot run CPU collectives across processes: {errors}")
        raise AssertionError([stderr[-2000:] for _, stderr in outputs])
    assert "status=ok" in outputs[0][0] and "status=ok" not in outputs[1][0]  # process 0 reports and writes

    one = run_posterior("run", str(config), "--results", str(tmp_path / "one"), "--cpu-devices", "8", timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two_processes, one_process = draws(tmp_path / "two", name), draws(tmp_path / "one", name)
    assert two_processes.keys() == one_process.keys()
    for key, values in one_process.items():
        np.testing.assert_allclose(two_processes[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    metrics, one_metrics = (json.loads((tmp_path / results / name / "toy1d" / "split-0" / "seed-0" / "metrics.json")
                                       .read_text()) for results in ("two", "one"))
    assert len(metrics["devices"]) == 8
    assert [metrics[key] for key in ("status", "divergences", "dropped_chains")] == [
        one_metrics[key] for key in ("status", "divergences", "dropped_chains")]
    assert metrics["test_rmse"] == pytest.approx(one_metrics["test_rmse"], rel=1e-5)
