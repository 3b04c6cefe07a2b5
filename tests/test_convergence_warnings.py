"""Convergence warnings: each rule fires on the numbers that break it and only on them;
a warned run stays ok, says so in its summary, and is marked in the table."""

import numpy as np
import pytest

from experiments import convergence, table

GOOD = {"rhat_max": 1.01, "ess_min": 400.0, "num_chains": 4, "draws_per_chain": 200}


def test_a_run_that_passes_every_rule_has_no_warnings():
    assert convergence.warnings_of(GOOD) == []
    assert convergence.warnings_of({**GOOD, "acceptance_rate": 0.8}, weights=np.ones((4, 200))) == []
    # NaN diagnostics (too few draws to split) and absent ones warn of nothing.
    assert convergence.warnings_of({"rhat_max": np.nan, "ess_min": np.nan, "num_chains": 1}) == []


@pytest.mark.parametrize("change, expected", [
    ({"rhat_max": 1.94}, "rhat_max=1.94 is above 1.1"),
    ({"ess_min": 99.0}, "ess_min=99 is below 100"),
    # 2 chains x 20 draws cannot reach an ESS of 100: the floor is 10 per chain.
    ({"ess_min": 19.0, "num_chains": 2, "draws_per_chain": 20}, "ess_min=19 is below 20"),
    ({"ess_min": -3.0}, "ess_min=-3 is below 100"),
    ({"acceptance_rate": 0.3}, "acceptance_rate=0.3 is outside [0.4, 0.99]: the step size is too large"),
    ({"acceptance_rate": 0.995}, "acceptance_rate=0.995 is outside [0.4, 0.99]: the step size is too small"),
])
def test_each_rule_fires_alone_on_what_breaks_it(change, expected):
    found = convergence.warnings_of({**GOOD, **change})
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_short_run_above_its_floor_is_not_warned_about():
    assert convergence.warnings_of({**GOOD, "ess_min": 21.0, "num_chains": 2, "draws_per_chain": 20}) == []


def test_time_weights_on_few_draws_are_warned_about_by_their_kish_size():
    rng = np.random.default_rng(0)
    even = rng.uniform(0.9, 1.1, size=(4, 200))
    assert convergence.kish_size(even) == pytest.approx(800, rel=0.01)
    assert convergence.warnings_of(GOOD, weights=even) == []
    spiky = even.copy()
    spiky[:, :5] = 1e3  # five draws per chain carry almost all the weight
    size = convergence.kish_size(spiky)
    assert 20 <= size < 22  # 20 heavy draws, and the rest light
    [warning] = convergence.warnings_of(GOOD, weights=spiky)
    assert warning.startswith(f"the time weights' effective size is {size:.3g} of 800 draws")
    # Chains are rescaled to equal totals first, as the predictive weighs them.
    assert convergence.kish_size(np.stack([np.ones(10), 100 * np.ones(10)])) == pytest.approx(20)


def test_the_table_counts_warned_runs_and_says_what_that_means():
    group = table.Group("e", "toy1d", {}, [
        {"status": "ok", "test_rmse": 1.0, "warnings": ["rhat_max=1.9 is above 1.1: ..."]},
        {"status": "ok", "test_rmse": 1.2, "warnings": []},
        {"status": "diverged", "warnings": []}])
    columns, rows = table.summarise([group])
    assert (rows[0]["runs"], rows[0]["diverged"], rows[0]["warned"]) == (2, 1, 1)
    markdown = table.to_markdown(columns, rows)
    assert markdown.splitlines()[0] == "| experiment | dataset | runs | diverged | warned | test_rmse |"
    assert "| e | toy1d | 2 | 1 | 1 | 1.100 ± 0.100 |" in markdown and "warned: finished runs whose" in markdown
    assert table.to_csv(columns, rows).splitlines()[1].startswith("e,toy1d,,2,1,1,")
