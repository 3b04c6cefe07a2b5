"""``posterior table RESULTS_DIR``: run directories into the paper-style table.

Every ``metrics.json`` under the folder is one run. Runs are grouped by their config
(``config.yaml`` beside it): one group holds the runs whose configs agree on every key
but the splits and seeds averaged over and the keys that only say how a run is carried
out (:func:`experiments.config.identity.group_identity`), so two settings are never
averaged together. Each metric is reported as the mean ± standard error over the group's
finished runs. Groups of one experiment and data set that differ in other keys become
separate rows, labelled in the ``setting`` column by the keys that differ. The table is
printed as markdown and written as ``table.md`` and ``table.csv`` in the folder.
"""

import argparse
import csv
import io
import math
import pathlib
from typing import NamedTuple

from experiments import config as configs
from experiments import rundir
from experiments.config.checks import shown
from experiments.config.identity import group_identity, identity_hash

# Reported in this order when present; test_ll is the log density of the predictive mixture,
# reference_* compare with the predictive of eval.reference (experiments.reference);
# gradient_evaluations and wall_seconds say what a row cost, so rows of different cost compare.
METRIC_COLUMNS = ("test_rmse", "test_ll", "test_nll_gap", "test_accuracy", "test_nll", "test_ece", "test_brier",
                  "test_ood_auroc", "test_ood_aupr", "reference_agreement", "reference_tv", "rhat_max", "ess_min",
                  "gradient_evaluations", "wall_seconds")


class Group(NamedTuple):
    """The finished runs of one config (up to splits and seeds)."""

    experiment: str
    dataset: str
    identity: dict  # group_identity of their config
    runs: list[dict]  # their metrics


def collect(results: pathlib.Path) -> list[Group]:
    """Finished runs under ``results``, grouped by config, in path order."""
    groups: dict[str, Group] = {}
    for metrics_path in sorted(results.rglob(rundir.METRICS)):
        if any(part.startswith(".") for part in metrics_path.relative_to(results).parts):
            continue  # staging directories of runs in progress
        metrics = rundir.finished_metrics(metrics_path.parent)
        if metrics is None:
            continue
        try:
            config = configs.load(metrics_path.parent / rundir.CONFIG)
        except configs.ConfigError as error:
            raise ValueError(f"{metrics_path.parent} has metrics but no readable {rundir.CONFIG} ({error})") from None
        identity = group_identity(config)
        group = groups.setdefault(identity_hash(identity), Group(config.name, config.data.name, identity, []))
        group.runs.append(metrics)
    return list(groups.values())


def settings(groups: list[Group]) -> list[str]:
    """Per group, the keys (``key=value``) on which it differs from the other groups of its
    experiment and data set; empty for a group that is alone."""
    labels = []
    for group in groups:
        others = [other for other in groups if other is not group
                  and (other.experiment, other.dataset) == (group.experiment, group.dataset)]
        keys = sorted({key for other in others for key in group.identity.keys() | other.identity.keys()
                       if group.identity.get(key) != other.identity.get(key)})
        labels.append(", ".join(f"{key}={shown(group.identity.get(key))}" for key in keys))
    return labels


def mean_and_standard_error(values: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (NaN error for one value)."""
    count = len(values)
    mean = sum(values) / count
    if count < 2:
        return mean, math.nan
    variance = sum((value - mean) ** 2 for value in values) / (count - 1)
    return mean, math.sqrt(variance / count)


def summarise(groups: list[Group]) -> tuple[list[str], list[dict]]:
    """The metric columns present and one row per group, sorted by experiment, data set and setting."""
    present = [column for column in METRIC_COLUMNS if any(column in run for group in groups for run in group.runs)]
    rows = []
    for group, setting in zip(groups, settings(groups)):
        ok = [run for run in group.runs if run.get("status") == "ok"]
        row = {"experiment": group.experiment, "dataset": group.dataset, "setting": setting, "runs": len(ok),
               "diverged": len(group.runs) - len(ok), "warned": sum(1 for run in ok if run.get("warnings"))}
        for column in present:
            values = [float(run[column]) for run in ok if column in run]
            row[column] = mean_and_standard_error(values) if values else (math.nan, math.nan)
        rows.append(row)
    return present, sorted(rows, key=lambda row: (row["experiment"], row["dataset"], row["setting"]))


def format_value(mean: float, error: float) -> str:
    """``mean ± error`` as the tables print it (``-`` for NaN, no error when it is NaN)."""
    if math.isnan(mean):
        return "-"
    # Counts (gradient evaluations) in thousands, read at a glance; metrics to 3 decimals.
    style = ",.0f" if abs(mean) >= 1000 else ".3f" if abs(mean) < 10 else ".1f"
    return f"{mean:{style}}" if math.isnan(error) else f"{mean:{style}} ± {error:{style}}"


def to_markdown(columns: list[str], rows: list[dict]) -> str:
    """The table in markdown, mean ± standard error per metric."""
    labelled = any(row["setting"] for row in rows)
    names = ["experiment", "dataset", *(["setting"] if labelled else [])]
    header = [*names, "runs", "diverged", "warned", *columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(names) + "---:|" * (len(header) - len(names))]
    for row in rows:
        cells = [*(row[name] or "-" for name in names), str(row["runs"]), str(row["diverged"]), str(row["warned"])]
        cells += [format_value(*row[column]) for column in columns]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if any(row["warned"] for row in rows):
        notes.append("warned: finished runs whose metrics.json lists convergence warnings (R-hat above 1.1, few "
                     "effective draws, an acceptance rate outside [0.4, 0.99], concentrated time weights); their "
                     "metrics are reported, but read them with that in mind.")
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
    writer.writerow(["experiment", "dataset", "setting", "runs", "diverged", "warned",
                     *[f"{column}_{part}" for column in columns for part in ("mean", "se")]])
    for row in rows:
        writer.writerow([row["experiment"], row["dataset"], row["setting"], row["runs"], row["diverged"],
                         row["warned"], *[repr(value) for column in columns for value in row[column]]])
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
