"""``posterior bench sgmcmc`` through the command line, in a subprocess (its own devices)."""

import json

import numpy as np

from conftest import run_posterior
from experiments.bench import toys

CONTENDERS = ("ours (all devices)", "ours (1 device)", "blackjax", "hand-fused")


def test_bench_sgmcmc_quick_prints_the_tables(tmp_path):
    output = tmp_path / "bench.json"
    completed = run_posterior("bench", "sgmcmc", "--quick", "--cpu-devices", "2", "--output", str(output), timeout=120)

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
    completed = run_posterior("bench", "sgmcmc", "--chains", "1,0", timeout=60)

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert len(completed.stderr.strip().splitlines()) == 1
    assert "--chains" in completed.stderr


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
    quick_grid = len(toys.STEP_SIZES["star"][::3])
    assert [len(rows[sampler]) for sampler in ("SGLD", "SA-SGLD", "SA-SGLD, ridge clock")] == [quick_grid] * 3
    judged = [row for sampler in rows.values() for row in sampler if not row["diverged"]]
    assert judged and all(np.isfinite(row["squared_mmd"]) and row["sliced_w2"] >= 0 for row in judged)


def test_bench_toys_unknown_target_is_one_line_and_exit_2():
    completed = run_posterior("bench", "toys", "--targets", "banana", timeout=60)

    assert completed.returncode == 2 and len(completed.stderr.strip().splitlines()) == 1
    assert "--targets" in completed.stderr
