"""The options of the ``posterior`` subcommands, importable without JAX.

The CLI builds its whole parser from here and from :mod:`experiments.bench.settings`, so
``--help`` and usage errors answer before JAX, flax, blackjax or matplotlib are imported;
each subcommand's module is imported only to run it (:data:`SUBCOMMANDS`).
"""

import argparse
import pathlib
from typing import Callable, NamedTuple

from experiments.arguments import positive_int


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options ``run`` and ``sweep`` share."""
    parser.add_argument("config", type=pathlib.Path, metavar="CONFIG", help="a YAML experiment config")
    parser.add_argument("--results", type=pathlib.Path, default=pathlib.Path("results"), metavar="DIR",
                        help="where run directories go (default: %(default)s)")
    parser.add_argument("--force", action="store_true", help="re-run runs whose results already exist")
    parser.add_argument("--restart", action="store_true",
                        help="discard a run's checkpoint and start it afresh (default: resume from it)")
    parser.add_argument("--distributed", action="store_true",
                        help="run as one of several processes (jax.distributed: found by JAX on TPU pods and "
                             "Slurm, else give --coordinator, --num-processes and --process-id); process 0 writes")
    parser.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address, with --distributed")
    parser.add_argument("--num-processes", type=positive_int, metavar="N", help="processes, with --distributed")
    parser.add_argument("--process-id", type=int, metavar="I", help="this process's index, with --distributed")


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior run CONFIG [key=value ...]``."""
    add_common_arguments(parser)
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="config overrides by dotted key, e.g. sampler.step_size=1e-3 data.split=3 seed=2")


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior sweep CONFIG --over key=a,b key=0:20 ...``."""
    add_common_arguments(parser)
    parser.add_argument("--over", nargs="+", default=[], metavar="key=values",
                        help="values to sweep: comma-separated (data.name=a,b) or an integer range "
                             "start:stop, stop excluded (data.split=0:20); every combination runs")
    parser.add_argument("--set", nargs="+", default=[], metavar="key=value", dest="overrides",
                        help="overrides applied to every run")


def add_table_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior table RESULTS_DIR``."""
    parser.add_argument("results", type=pathlib.Path, metavar="RESULTS_DIR",
                        help="a folder of run directories (e.g. results/ or results/uci-fg-sghmc)")


def add_suite_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior suite SUITE_DIR``."""
    parser.add_argument("suite", type=pathlib.Path, metavar="SUITE_DIR",
                        help="a folder with suite.yaml and published.csv, e.g. configs/papers/functional_prior_uci")
    parser.add_argument("--results", type=pathlib.Path, default=pathlib.Path("results"), metavar="DIR",
                        help="where run directories go, and suite.md and suite.csv (default: %(default)s)")
    parser.add_argument("--table-only", action="store_true", help="run nothing: the table of the finished runs")


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior export RUN_DIR --arviz OUT.nc``."""
    parser.add_argument("run_dir", type=pathlib.Path, metavar="RUN_DIR",
                        help="a run directory of a run with sampling.save_samples=true")
    parser.add_argument("--arviz", type=pathlib.Path, metavar="OUT.nc", required=True,
                        help="write an ArviZ InferenceData netCDF file here (needs the arviz extra)")


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """``posterior demo``."""
    parser.add_argument("--chains", type=positive_int, default=8, help="independent chains (default 8)")
    parser.add_argument("--steps", type=positive_int, default=20_000,
                        help="steps per chain, burn-in included (default 20000)")
    parser.add_argument("--batch-size", type=positive_int, default=100, help="minibatch rows (default 100)")
    parser.add_argument("--seed", type=int, default=0)


def check_config(args: argparse.Namespace) -> None:
    """Load and check ``args.config`` with its overrides, raising ``ConfigError`` (a
    ``ValueError``) for bad input before the run's heavy modules are imported."""
    from experiments import config  # YAML and the schema only, and not needed for --help

    config.load(args.config, args.overrides)


def check_suite(args: argparse.Namespace) -> None:
    """Read and check ``args.suite`` (its configs and published numbers), raising
    ``ConfigError`` before the run's heavy modules are imported."""
    from experiments import suite  # YAML, CSV and the schema only

    suite.load_suite(args.suite)


class Subcommand(NamedTuple):
    """A subcommand as the CLI builds it."""

    summary: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    handler: str  # "module:function", imported once the arguments are parsed
    check: Callable[[argparse.Namespace], None] | None = None  # run before the handler's module is imported


SUBCOMMANDS = {
    "run": Subcommand("Run one experiment config into a run directory.", add_run_arguments, "experiments.runs:run",
                      check_config),
    "sweep": Subcommand("Run a config over every combination of values.", add_sweep_arguments,
                        "experiments.runs:sweep", check_config),
    "suite": Subcommand("Run a paper's sweeps where missing; ours beside the published numbers.",
                        add_suite_arguments, "experiments.suite:run", check_suite),
    "table": Subcommand("Mean ± standard error over finished runs, as markdown and CSV.", add_table_arguments,
                        "experiments.table:run"),
    "export": Subcommand("Export a run's saved draws (--arviz OUT.nc: ArviZ netCDF).", add_export_arguments,
                         "experiments.export:run"),
    "demo": Subcommand("SGLD and SGHMC on a Bayesian linear regression with a known posterior.", add_demo_arguments,
                       "experiments.demo:main"),
}
