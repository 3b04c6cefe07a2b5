"""``posterior suite SUITE_DIR``: the sweeps that make a paper's table, and ours beside
the published numbers.

A suite is a folder holding ``suite.yaml`` and ``published.csv``. ``suite.yaml`` names the
table (``title``), and lists ``sweeps``, each a ``label`` (the rows' name; several sweeps
may share one, each on its own data sets), a ``config``
(a path relative to the suite's folder), ``over`` (as ``posterior sweep --over``) and
``set`` (overrides for every run). ``published.csv`` holds the published numbers, one per
row, with the columns of :data:`PUBLISHED_COLUMNS`: the ``label`` of the sweep it is set
beside, the ``dataset`` (as ``data.name``), the ``metric`` (a ``posterior table`` column,
in our convention: ``test_ll`` is a log likelihood, so a published NLL is entered
negated), its ``mean`` and ``error`` with ``error_kind`` ``se`` or ``std`` (a standard
deviation over ``runs``, turned into a standard error here), the published ``method``
and its ``source``.

The suite runs what is missing (finished runs are skipped, as by ``sweep``), then writes
``suite.md`` and ``suite.csv`` into the results folder: per sweep, data set and metric,
our mean ± standard error over the finished runs, the published value, and their
difference in standard errors, ``(ours - published) / sqrt(se_ours^2 + se_published^2)``.
"""

import argparse
import csv
import dataclasses
import io
import math
import pathlib
import sys
from typing import Any

from experiments import config as configs
from experiments import rundir
from experiments.config.sweeps import sweep_configs
from experiments.table import METRIC_COLUMNS, format_value, mean_and_standard_error

__all__ = ["PUBLISHED_COLUMNS", "Published", "Suite", "Sweep", "load_suite", "rows", "run", "to_csv",
           "to_markdown"]

SUITE_FILE, PUBLISHED_FILE = "suite.yaml", "published.csv"
PUBLISHED_COLUMNS = ("label", "dataset", "metric", "mean", "error", "error_kind", "runs", "method", "source")


@dataclasses.dataclass(frozen=True)
class Sweep:
    """One row group of the table: a config swept over ``over`` with ``overrides``."""

    label: str
    config: pathlib.Path
    over: tuple[str, ...]
    overrides: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Published:
    """A published number: ``mean`` with its standard error ``se`` over ``runs`` runs."""

    label: str
    dataset: str
    metric: str
    mean: float
    se: float
    runs: int
    method: str
    source: str


@dataclasses.dataclass(frozen=True)
class Suite:
    title: str
    sweeps: tuple[Sweep, ...]
    published: tuple[Published, ...]


def _strings(values: Any, key: str, path: pathlib.Path) -> tuple[str, ...]:
    if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
        raise configs.ConfigError(f"suite {path}: {key} must be a list of strings, got {values!r}")
    return tuple(values)


def _sweep(entry: Any, index: int, path: pathlib.Path) -> Sweep:
    where = f"suite {path}: sweep {index + 1}"
    if not isinstance(entry, dict):
        raise configs.ConfigError(f"{where} must be a mapping with label, config, over and set")
    unknown = set(entry) - {"label", "config", "over", "set"}
    if unknown:
        raise configs.ConfigError(f"{where} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    label, config = entry.get("label"), entry.get("config")
    if not isinstance(label, str) or not label.strip():
        raise configs.ConfigError(f"{where} needs a label (a non-empty string)")
    if not isinstance(config, str):
        raise configs.ConfigError(f"{where} ({label}) needs config, a path relative to the suite's folder")
    config_path = path.parent / config
    if not config_path.is_file():
        raise configs.ConfigError(f"{where} ({label}): config {config_path} does not exist")
    return Sweep(label, config_path, _strings(entry.get("over", []), f"sweep {label}'s over", path),
                 _strings(entry.get("set", []), f"sweep {label}'s set", path))


def _number(row: dict, column: str, where: str, *, integer: bool = False) -> float:
    text = row[column]
    try:
        value = int(text) if integer else float(text)
    except (TypeError, ValueError):
        raise configs.ConfigError(f"{where}: {column} {text!r} is not {'an integer' if integer else 'a number'}"
                                  ) from None
    if not math.isfinite(value) or (column in ("error", "runs") and value < (1 if integer else 0)):
        raise configs.ConfigError(f"{where}: {column} {text!r} must be finite"
                                  f"{', at least 1' if integer else ', not negative' if column == 'error' else ''}")
    return value


def _published(path: pathlib.Path, datasets: dict[str, set[str]]) -> tuple[Published, ...]:
    """The rows of ``published.csv`` (``datasets``: each sweep label's data sets); any
    malformed row refused in one line naming it."""
    try:
        text = path.read_text()
    except OSError as error:
        raise configs.ConfigError(f"cannot read published numbers {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise configs.ConfigError(f"published numbers {path} are not UTF-8 text (byte {error.start})") from None
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(reader.fieldnames) != PUBLISHED_COLUMNS:
        raise configs.ConfigError(f"{path} row 1: the header must be {','.join(PUBLISHED_COLUMNS)}, "
                                  f"got {','.join(reader.fieldnames or [])}")
    rows, seen = [], set()
    try:
        for number, row in enumerate(reader, 2):
            where = f"{path} row {number}"
            if None in row or any(value is None for value in row.values()):
                raise configs.ConfigError(f"{where}: expected {len(PUBLISHED_COLUMNS)} fields")
            if row["label"] not in datasets:
                raise configs.ConfigError(f"{where}: label {row['label']!r} is none of the suite's sweeps "
                                          f"({', '.join(sorted(datasets))})")
            if row["dataset"] not in datasets[row["label"]]:
                raise configs.ConfigError(f"{where}: sweep {row['label']} runs no dataset {row['dataset']!r} "
                                          f"({', '.join(sorted(datasets[row['label']]))})")
            if row["metric"] not in METRIC_COLUMNS:
                raise configs.ConfigError(f"{where}: metric {row['metric']!r} is not a table column "
                                          f"({', '.join(METRIC_COLUMNS)})")
            if row["error_kind"] not in ("se", "std"):
                raise configs.ConfigError(f"{where}: error_kind must be se or std, got {row['error_kind']!r}")
            identity = (row["label"], row["dataset"], row["metric"])
            if identity in seen:
                raise configs.ConfigError(f"{where}: a second number for {', '.join(identity)}")
            seen.add(identity)
            mean, error = _number(row, "mean", where), _number(row, "error", where)
            runs = int(_number(row, "runs", where, integer=True))
            se = error / math.sqrt(runs) if row["error_kind"] == "std" else error
            rows.append(Published(row["label"], row["dataset"], row["metric"], mean, se, runs, row["method"],
                                  row["source"]))
    except csv.Error as error:
        raise configs.ConfigError(f"{path} row {reader.line_num}: {error}") from None
    return tuple(rows)


def load_suite(folder: str | pathlib.Path) -> Suite:
    """Read and check the suite in ``folder`` (its sweeps' configs included), importing no JAX.

    Raises:
        ConfigError: one line naming the file (and row) at fault.
    """
    folder = pathlib.Path(folder)
    path = folder / SUITE_FILE
    values = configs.read_yaml(path, what="suite")
    if not isinstance(values, dict):
        raise configs.ConfigError(f"suite {path} must be a mapping with title and sweeps")
    unknown = set(values) - {"title", "sweeps"}
    if unknown:
        raise configs.ConfigError(f"suite {path} has unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    entries = values.get("sweeps")
    if not isinstance(entries, list) or not entries:
        raise configs.ConfigError(f"suite {path} needs sweeps, a non-empty list")
    sweeps = tuple(_sweep(entry, index, path) for index, entry in enumerate(entries))
    # Every config and override is checked here, before anything runs. A label may name
    # several sweeps (one config per data set), but each of its data sets once.
    datasets: dict[str, set[str]] = {}
    for sweep in sweeps:
        names = {config.data.name for config in _configs_of(sweep)}
        twice = names & datasets.get(sweep.label, set())
        if twice:
            raise configs.ConfigError(f"suite {path}: two sweeps labelled {sweep.label} run {', '.join(sorted(twice))}")
        datasets.setdefault(sweep.label, set()).update(names)
    return Suite(str(values.get("title", folder.name)), sweeps, _published(folder / PUBLISHED_FILE, datasets))


def _configs_of(sweep: Sweep) -> list[configs.Config]:
    return sweep_configs(sweep.config, list(sweep.overrides), list(sweep.over))


def _difference_in_se(ours: tuple[float, float], published: Published) -> float:
    """``(ours - published) / sqrt(se_ours^2 + se_published^2)``; NaN without both errors."""
    spread = math.hypot(ours[1], published.se)
    return (ours[0] - published.mean) / spread if spread > 0 else math.nan


def rows(suite: Suite, results: pathlib.Path) -> list[dict]:
    """Per sweep, data set and metric (the published ones; all of ours where nothing is
    published): our mean ± standard error over the finished runs under ``results``, and
    the published number."""
    published = {(number.label, number.dataset, number.metric): number for number in suite.published}
    table = []
    for sweep in suite.sweeps:
        runs_by_dataset: dict[str, list[dict]] = {}
        for config in _configs_of(sweep):
            metrics = rundir.finished_metrics(rundir.run_directory(
                results, experiment=config.name, dataset=config.data.name, split=config.data.split,
                seed=config.seed))
            runs_by_dataset.setdefault(config.data.name, [])
            if metrics is not None and metrics.get("status") == "ok":
                runs_by_dataset[config.data.name].append(metrics)
        for dataset, runs in runs_by_dataset.items():
            theirs = [number.metric for number in suite.published if (number.label, number.dataset) ==
                      (sweep.label, dataset)]
            # The published metrics, or without any every metric the runs have.
            for metric in theirs or [column for column in METRIC_COLUMNS if any(column in run for run in runs)]:
                values = [float(run[metric]) for run in runs if metric in run]
                ours = mean_and_standard_error(values) if values else (math.nan, math.nan)
                table.append({"label": sweep.label, "dataset": dataset, "metric": metric, "runs": len(values),
                              "ours": ours, "published": published.get((sweep.label, dataset, metric))})
    return table


def to_markdown(suite: Suite, table: list[dict]) -> str:
    """The suite's table: ours beside the published numbers, and their difference in standard errors."""
    lines = [f"# {suite.title}", "",
             "| sweep | dataset | metric | runs | ours | published | published runs | difference (SE) | method |",
             "|---|---|---|---:|---:|---:|---:|---:|---|"]
    for row in table:
        number = row["published"]
        difference = math.nan if number is None else _difference_in_se(row["ours"], number)
        lines.append("| " + " | ".join([
            row["label"], row["dataset"], row["metric"], str(row["runs"]), format_value(*row["ours"]),
            "-" if number is None else format_value(number.mean, number.se),
            "-" if number is None else str(number.runs),
            "-" if math.isnan(difference) else f"{difference:+.1f}", "" if number is None else number.method]) + " |")
    sources = sorted({number.source for number in suite.published})
    if sources:
        lines += ["", "Published numbers: " + "; ".join(sources) + "."]
    return "\n".join(lines) + "\n"


def to_csv(table: list[dict]) -> str:
    output = io.StringIO()
    writer = csv.writer(output)
    writer.writerow(["label", "dataset", "metric", "runs", "ours_mean", "ours_se", "published_mean", "published_se",
                     "published_runs", "difference_se", "method", "source"])
    for row in table:
        number = row["published"]
        published = [math.nan] * 3 + [math.nan, "", ""] if number is None else [
            number.mean, number.se, number.runs, _difference_in_se(row["ours"], number), number.method, number.source]
        writer.writerow([row["label"], row["dataset"], row["metric"], row["runs"], *map(repr, row["ours"]),
                         *(repr(value) if isinstance(value, float) else value for value in published)])
    return output.getvalue()


def run(args: argparse.Namespace) -> int:
    """``posterior suite``: run the suite's missing runs (unless ``--table-only``), then
    print its table and write ``suite.md`` and ``suite.csv`` into the results folder."""
    from experiments import runs  # imports JAX

    suite = load_suite(args.suite)
    diverged = 0
    if not args.table_only:
        runs.use_compilation_cache()
        pending = [config for sweep in suite.sweeps for config in _configs_of(sweep)]
        print(f"suite {suite.title}: {len(pending)} run(s), finished ones skipped")
        for index, config in enumerate(pending, 1):
            print(f"--- run {index}/{len(pending)}")
            directory, metrics = runs.execute(config, results=args.results, force=False)
            if metrics is not None and metrics["status"] != "ok":
                diverged += 1
                print(runs.divergence_message(directory, config, metrics), file=sys.stderr)
    table = rows(suite, args.results)
    markdown = to_markdown(suite, table)
    print(markdown, end="")
    rundir.write_text(args.results / "suite.md", markdown)
    rundir.write_text(args.results / "suite.csv", to_csv(table))
    return runs.EXIT_DIVERGED if diverged else 0
