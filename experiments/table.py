"""``posterior table RESULTS_DIR``: run directories into the paper-style table.

Every ``metrics.json`` under the folder is one run; runs are grouped by experiment and
data set (read from the ``config.yaml`` beside it) and each metric is reported as the
mean ± standard error over the group's finished runs (splits and seeds alike). The table
is printed as markdown and written as ``table.md`` and ``table.csv`` in the folder.
"""

import argparse
import csv
import io
import math
import pathlib
from collections import defaultdict

import yaml

from experiments import rundir

# Reported in this order when present; test_ll is the log density of the predictive mixture,
# reference_* compare with the predictive of eval.reference (experiments.reference).
METRIC_COLUMNS = ("test_rmse", "test_ll", "test_nll_gap", "test_accuracy", "test_nll", "test_ece", "test_brier",
                  "test_ood_auroc", "test_ood_aupr", "reference_agreement", "reference_tv", "rhat_max", "ess_min",
                  "wall_seconds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=pathlib.Path, metavar="RESULTS_DIR",
                        help="a folder of run directories (e.g. results/ or results/uci-fg-sghmc)")


def collect(results: pathlib.Path) -> dict[tuple[str, str], list[dict]]:
    """Finished runs under ``results``, grouped by (experiment, data set)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for metrics_path in sorted(results.rglob(rundir.METRICS)):
        if any(part.startswith(".") for part in metrics_path.relative_to(results).parts):
            continue  # staging directories of runs in progress
        metrics = rundir.finished_metrics(metrics_path.parent)
        try:
            config = yaml.safe_load((metrics_path.parent / rundir.CONFIG).read_text())
            key = (str(config["name"]), str(config["data"]["name"]))
        except (OSError, yaml.YAMLError, KeyError, TypeError):
            raise ValueError(f"{metrics_path.parent} has metrics but no readable {rundir.CONFIG}") from None
        if metrics is not None:
            groups[key].append(metrics)
    return dict(groups)


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN error for one value)."""
    count = len(values)
    mean = sum(values) / count
    if count < 2:
        return mean, math.nan
    variance = sum((value - mean) ** 2 for value in values) / (count - 1)
    return mean, math.sqrt(variance / count)


def summarise(groups: dict[tuple[str, str], list[dict]]) -> tuple[list[str], list[dict]]:
    """The metric columns present and one row per group."""
    present = [column for column in METRIC_COLUMNS
               if any(column in run for runs in groups.values() for run in runs)]
    rows = []
    for (experiment, dataset), runs in sorted(groups.items()):
        ok = [run for run in runs if run.get("status") == "ok"]
        row = {"experiment": experiment, "dataset": dataset, "runs": len(ok), "diverged": len(runs) - len(ok)}
        for column in present:
            values = [float(run[column]) for run in ok if column in run]
            row[column] = mean_and_standard_error(values) if values else (math.nan, math.nan)
        rows.append(row)
    return present, rows


def _cell(mean: float, error: float) -> str:
    if math.isnan(mean):
        return "-"
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:.{digits}f}" if math.isnan(error) else f"{mean:.{digits}f} ± {error:.{digits}f}"


def to_markdown(columns: list[str], rows: list[dict]) -> str:
    """The table in markdown, mean ± standard error per metric."""
    header = ["experiment", "dataset", "runs", "diverged", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * 2 + "---:|" * (len(header) - 2)]
    for row in rows:
        cells = [row["experiment"], row["dataset"], str(row["runs"]), str(row["diverged"])]
        cells += [_cell(*row[column]) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if "test_ll" in columns:
        notes.append("test_ll: per-point log density of the weighted predictive mixture (original units).")
    if "test_nll_gap" in columns:
        notes.append("test_nll_gap: minus test_ll over the test points inside the gap of the training inputs.")
    if "reference_tv" in columns:
        notes.append("reference_tv: total variation to the reference predictive (eval.reference), mean over test "
                     "points; reference_agreement: the top-1 class matches (classification), or the predictive "
                     "mean lies between the reference's quartiles (regression).")
    return "\n".join(lines) + ("\n\n" + "\n".join(notes) if notes else "") + "\n"


def to_csv(columns: list[str], rows: list[dict]) -> str:
    """The table as CSV: a mean and a standard-error column per metric."""
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(["experiment", "dataset", "runs", "diverged",
                     *[f"{column}_{part}" for column in columns for part in ("mean", "se")]])
    for row in rows:
        writer.writerow([row["experiment"], row["dataset"], row["runs"], row["diverged"],
                         *[repr(value) for column in columns for value in row[column]]])
    return output.getvalue()


def run(args: argparse.Namespace) -> int:
    """Print the table and write ``table.md`` and ``table.csv`` into the results folder."""
    if not args.results.is_dir():
        raise ValueError(f"results folder {args.results} does not exist")
    groups = collect(args.results)
    if not groups:
        raise ValueError(f"no finished runs (metrics.json) under {args.results}")
    columns, rows = summarise(groups)
    markdown = to_markdown(columns, rows)
    print(markdown, end="")
    rundir.write_text(args.results / "table.md", markdown)
    rundir.write_text(args.results / "table.csv", to_csv(columns, rows))
    return 0
