"""``posterior suite``: a paper's sweeps run where missing, ours beside the published
numbers, and a malformed suite or published file refused in one line naming the row."""

import csv
import json
import math
import pathlib

import pytest
import yaml

from conftest import REPO, TINY, run_posterior
from experiments import config as configs
from experiments import suite as suites

HEADER = ",".join(suites.PUBLISHED_COLUMNS)


def write_suite(folder: pathlib.Path, published_rows: list[str], *, sweeps=None) -> pathlib.Path:
    """A suite of TINY over splits 0 and 1 (label ``tiny``), with ``published_rows`` under the header."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    sweeps = sweeps or [{"label": "tiny", "config": "tiny.yaml", "over": ["data.split=0:2"],
                         "set": ["sampling.num_steps=200"]}]
    (folder / "suite.yaml").write_text(yaml.safe_dump({"title": "a tiny table", "sweeps": sweeps}))
    (folder / "published.csv").write_text("\n".join([HEADER, *published_rows]) + "\n")
    return folder


@pytest.mark.parametrize("folder", sorted((REPO / "configs" / "papers").iterdir()), ids=lambda path: path.name)
def test_every_suite_in_the_repository_loads(folder):
    suite = suites.load_suite(folder)
    assert suite.sweeps and all(sweep.config.is_file() for sweep in suite.sweeps)
    labels = {sweep.label for sweep in suite.sweeps}
    assert all(number.label in labels and number.se >= 0 for number in suite.published)


def test_a_suite_runs_what_is_missing_and_sets_ours_beside_the_published(tmp_path, uci_env):
    folder = write_suite(tmp_path / "suite", ["tiny,yacht,test_rmse,1.5,0.4,std,4,a method,a paper (Table 1)"])
    results = tmp_path / "results"
    done = run_posterior("suite", str(folder), "--results", str(results), env=uci_env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    rmse = [json.loads((results / "tiny" / "yacht" / f"split-{split}" / "seed-0" / "metrics.json").read_text()
                       )["test_rmse"] for split in (0, 1)]
    mean, se = sum(rmse) / 2, abs(rmse[0] - rmse[1]) / 2  # the standard error of two values
    with open(results / "suite.csv") as table:
        (row,) = list(csv.DictReader(table))
    assert (row["label"], row["dataset"], row["metric"], row["runs"]) == ("tiny", "yacht", "test_rmse", "2")
    assert math.isclose(float(row["ours_mean"]), mean) and math.isclose(float(row["ours_se"]), se)
    assert math.isclose(float(row["published_se"]), 0.2)  # a standard deviation of 0.4 over 4 runs
    assert math.isclose(float(row["difference_se"]), (mean - 1.5) / math.hypot(se, 0.2))
    assert "a paper (Table 1)" in (results / "suite.md").read_text()

    again = run_posterior("suite", str(folder), "--results", str(results), env=uci_env, timeout=120)
    skipped = [line for line in again.stdout.splitlines() if line.startswith("skipped ")]
    assert again.returncode == 0 and len(skipped) == 2, again.stdout  # nothing run twice


@pytest.mark.parametrize("rows, row, cause", [
    (["tiny,yacht,test_rmse,abc,0.1,se,4,m,s"], 2, "mean 'abc' is not a number"),
    (["tiny,yacht,test_rmse,1.0,-0.1,se,4,m,s"], 2, "error '-0.1' must be finite, not negative"),
    (["tiny,yacht,test_rmse,1.0,0.1,se,0,m,s"], 2, "runs '0' must be finite, at least 1"),
    (["tiny,yacht,test_rmse,1.0,0.1,var,4,m,s"], 2, "error_kind must be se or std"),
    (["tiny,yacht,test_rmse,1.0,0.1,se,4,m,s", "tiny,yacht,test_rmse,2.0,0.1,se,4,m,s"], 3, "a second number"),
    (["tiny,yacht,test_rmse,1.0,0.1,se,4,m,s", "other,yacht,test_rmse,2.0,0.1,se,4,m,s"], 3, "label 'other'"),
    (["tiny,yacht,rmse,1.0,0.1,se,4,m,s"], 2, "metric 'rmse' is not a table column"),
    (["tiny,boston,test_rmse,1.0,0.1,se,4,m,s"], 2, "sweep tiny runs no dataset 'boston'"),
    (["tiny,yacht,test_rmse,1.0"], 2, "expected 9 fields"),
])
def test_a_malformed_published_file_is_refused_naming_the_row(tmp_path, rows, row, cause):
    folder = write_suite(tmp_path / "suite", rows)
    with pytest.raises(configs.ConfigError) as refused:
        suites.load_suite(folder)
    assert str(refused.value).startswith(f"{folder / 'published.csv'} row {row}: ") and cause in str(refused.value)


def test_a_bad_header_or_suite_is_refused(tmp_path):
    folder = write_suite(tmp_path / "header", [])
    (folder / "published.csv").write_text("label,dataset,value\n")
    with pytest.raises(configs.ConfigError, match="row 1: the header must be label,dataset,metric"):
        suites.load_suite(folder)
    missing = write_suite(tmp_path / "missing", [], sweeps=[{"label": "x", "config": "nowhere.yaml"}])
    with pytest.raises(configs.ConfigError, match="config .*nowhere.yaml does not exist"):
        suites.load_suite(missing)
    twice = write_suite(tmp_path / "twice", [], sweeps=[{"label": "x", "config": "tiny.yaml"}] * 2)
    with pytest.raises(configs.ConfigError, match="two sweeps labelled x run yacht"):
        suites.load_suite(twice)


def test_the_cli_refuses_a_malformed_suite_in_one_line_before_running(tmp_path, uci_env):
    folder = write_suite(tmp_path / "suite", ["tiny,yacht,test_rmse,abc,0.1,se,4,m,s"])
    done = run_posterior("suite", str(folder), "--results", str(tmp_path / "results"), env=uci_env, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "row 2" in done.stderr, done.stderr
    assert not (tmp_path / "results").exists()
