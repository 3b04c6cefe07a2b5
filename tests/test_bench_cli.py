"""``posterior bench sgmcmc``, ``hmc`` and ``toys`` through the command line, in subprocesses (their own devices)."""

import json

import numpy as np
import pytest

from conftest import run_posterior
from experiments.bench import toys_sweep

CONTENDERS = ("ours (all devices)", "ours (1 device)", "blackjax", "hand-fused")


def assert_one_line_refusal(completed, cause: str) -> None:
    """The command refused its arguments: exit status 2, nothing on stdout, one line on stderr naming ``cause``."""
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1
    assert cause in completed.stderr


@pytest.mark.slow  # about 25 s on 2 cores, compiling every contender
def test_bench_sgmcmc_quick_prints_the_tables(tmp_path):
    output = tmp_path / "bench.json"
    completed = run_posterior("bench", "sgmcmc", "--quick", "--cpu-devices", "2", "--output", str(output), timeout=300)

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = completed.stdout
    for heading in ("# posterior bench sgmcmc", "## SGLD", "## SGHMC", "## Compile time against the number of steps"):
        assert heading in report
    assert "| contender | chains | devices | gradient evals/s" in report
    for contender in CONTENDERS:
        assert f"| {contender}" in report
    assert "ours (1 device) / blackjax" in report and ">= 1.3x" in report and ">= 0.9x" in report
    assert "All final positions finite." in report

    numbers = json.loads(output.read_text())
    measurements = numbers["measurements"]
    assert len(measurements) == 2 * 2 * len(CONTENDERS)  # samplers x chain counts (1, 2) x contenders
    sharded = [m for m in measurements if m["contender"] == "ours (all devices)" and m["num_chains"] == 2]
    assert {m["num_devices"] for m in sharded} == {2}
    assert all(m["best_rate"] > 0 and m["finite"] for m in measurements)
    assert len({m["gradients_per_chain"] for m in measurements}) == 1  # the same work for every contender
    assert [row["num_steps"] for row in numbers["compile_growth"]] == [780, 3120, 780, 3120]


def test_bench_sgmcmc_bad_argument_is_one_line_and_exit_2():
    assert_one_line_refusal(run_posterior("bench", "sgmcmc", "--chains", "1,0", timeout=60), "--chains")


HMC_CONTENDERS = ("ours (1 device)", "ours (default mesh)", "ours, terms (1 device)", "blackjax")


@pytest.mark.slow  # about 25 s on 2 cores, compiling every contender and device count
def test_bench_hmc_quick_prints_comparison_and_scaling(tmp_path):
    output = tmp_path / "hmc.json"
    completed = run_posterior("bench", "hmc", "--quick", "--output", str(output), timeout=180)

    assert completed.returncode == 0, completed.stderr[-3000:]
    report = completed.stdout
    for heading in ("# posterior bench hmc", "## Ours against blackjax", "## Scaling of one HMC step over devices"):
        assert heading in report
    for contender in HMC_CONTENDERS:
        assert f"| {contender}" in report
    assert "| ours (1 device) / blackjax |" in report and ">= 1.0x" in report
    assert "should agree roughly" in report and "not a speed-up" in report
    for devices, rows in ((1, "10,000"), (2, "5,000"), (4, "2,500"), (8, "1,250")):
        assert f"| {devices} | {rows} |" in report
    assert "All final positions finite." in report

    numbers = json.loads(output.read_text())
    measurements = numbers["measurements"]
    assert [m["contender"] for m in measurements] == list(HMC_CONTENDERS)
    assert all(m["median_rate"] > 0 and m["finite"] and 0.0 <= m["acceptance_rate"] <= 1.0 for m in measurements)
    assert len({m["gradients_per_chain"] for m in measurements}) == 1  # the same work for every contender
    assert numbers["acceptance"]["agree"]
    assert [row["num_devices"] for row in numbers["scaling"]] == [1, 2, 4, 8]
    assert all(row["finite"] and row["difference"] < 1e-4 for row in numbers["scaling"])


def test_bench_hmc_refuses_more_devices_than_there_are():
    assert_one_line_refusal(run_posterior("bench", "hmc", "--cpu-devices", "2", timeout=60), "--cpu-devices 8")


@pytest.mark.slow  # about 70 s on 2 cores: every sampler and step size of two targets compiles
def test_bench_toys_quick_writes_table_figure_and_numbers(tmp_path):
    figure, output = tmp_path / "toys.png", tmp_path / "toys.json"
    completed = run_posterior("bench", "toys", "--quick", "--targets", "star,sharp-flat", "--figure", str(figure),
                              "--output", str(output), timeout=300)

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "| target | sampler | step size | MMD² x 1e4 | sliced W2 | mean error | cov error |" in completed.stdout
    assert "| star |" in completed.stdout
    assert "## Flat basin" in completed.stdout and "| Entropy-MCMC anchor |" in completed.stdout
    assert figure.stat().st_size > 20_000
    rows = json.loads(output.read_text())["results"]["star"]
    quick_grid = len(toys_sweep.STEP_SIZES["star"][::3])
    assert [len(rows[sampler]) for sampler in ("SGLD", "SA-SGLD", "SA-SGLD, ridge clock")] == [quick_grid] * 3
    judged = [row for sampler in rows.values() for row in sampler if not row["diverged"]]
    assert judged and all(np.isfinite(row["squared_mmd"]) and row["sliced_w2"] >= 0 for row in judged)


def test_bench_toys_unknown_target_is_one_line_and_exit_2():
    assert_one_line_refusal(run_posterior("bench", "toys", "--targets", "banana", timeout=60), "--targets")


def test_bench_memory_bad_draws_are_one_line_and_exit_2():
    assert_one_line_refusal(run_posterior("bench", "memory", "--draws", "200,0", timeout=60), "--draws")
