"""The ``posterior`` command line.

``posterior SUBCOMMAND ...``: ``run CONFIG [key=value ...]`` (one experiment into a run
directory), ``sweep CONFIG --over ...`` (a grid of runs), ``table RESULTS_DIR`` (mean ±
standard error over splits), ``export RUN_DIR --arviz OUT.nc`` (a run's saved draws as
ArviZ netCDF), ``demo`` (samplers against a known posterior) and ``bench
TARGET`` (speed benchmarks, e.g. ``posterior bench sgmcmc``). Subcommands are registered
in :data:`SUBCOMMANDS` (name -> function adding its parser), benchmark targets in
:data:`experiments.bench.TARGETS`.

JAX fixes its number of CPU devices at its first computation, so :func:`main` calls
:func:`samplers.mesh.use_cpu_cores` right after parsing, before any module that computes
is used; subcommand modules must therefore compute nothing at import time.
"""

import argparse
import importlib
import sys
from typing import Callable

from experiments import demo, export, interrupts, runs, table
from experiments.arguments import add_device_arguments
from experiments.bench import TARGETS as BENCH_TARGETS
from samplers.mesh import initialize_distributed, use_cpu_cores  # import JAX, compute nothing


class _OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_bench(subcommands: argparse._SubParsersAction) -> None:
    """``posterior bench TARGET [options]``: one subparser per benchmark target."""
    bench = subcommands.add_parser("bench", help="speed benchmarks", description="Speed benchmarks.")
    targets = bench.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, module_name in BENCH_TARGETS.items():
        module = importlib.import_module(module_name)
        summary = (module.__doc__ or "").strip().splitlines()[0]
        target = targets.add_parser(name, help=summary, description=summary)
        add_device_arguments(target)
        module.add_arguments(target)
        target.set_defaults(handler=module.run)


def _simple_subcommand(name: str, summary: str, add_arguments, handler):
    """A function adding the subcommand ``name`` with its arguments and handler."""
    def add(subcommands: argparse._SubParsersAction) -> None:
        parser = subcommands.add_parser(name, help=summary, description=summary)
        add_device_arguments(parser)
        add_arguments(parser)
        parser.set_defaults(handler=handler)
    return add


# subcommand name -> function adding its parser (each sets ``handler(args) -> exit status``).
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "run": _simple_subcommand("run", "Run one experiment config into a run directory.",
                              runs.add_run_arguments, runs.run),
    "sweep": _simple_subcommand("sweep", "Run a config over every combination of values.",
                                runs.add_sweep_arguments, runs.sweep),
    "table": _simple_subcommand("table", "Mean ± standard error over finished runs, as markdown and CSV.",
                                table.add_arguments, table.run),
    "export": _simple_subcommand("export", "Export a run's saved draws (--arviz OUT.nc: ArviZ netCDF).",
                                 export.add_arguments, export.run),
    "demo": _simple_subcommand("demo", (demo.__doc__ or "").strip().splitlines()[0], demo.add_arguments,
                               demo.main),
    "bench": _add_bench,
}


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand in :data:`SUBCOMMANDS`."""
    parser = _OneLineErrorParser(
        prog="posterior", description="Scalable posterior sampling for Bayesian neural networks.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add_subcommand in SUBCOMMANDS.values():
        add_subcommand(subcommands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, set up the CPU devices, run the subcommand; returns its exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    # argparse stops collecting positional overrides at the first option, so
    # `run CONFIG --force seed=2` leaves `seed=2` over: it is an override all the same.
    if extras and hasattr(args, "overrides") and all("=" in extra and not extra.startswith("-") for extra in extras):
        args.overrides = [*args.overrides, *extras]
    elif extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    use_cpu_cores(args.cpu_devices)  # before JAX's first computation
    cluster = [getattr(args, name, None) for name in ("coordinator", "num_processes", "process_id")]
    if any(value is not None for value in cluster) and not getattr(args, "distributed", False):
        parser.error("--coordinator, --num-processes and --process-id go with --distributed")
    interrupts.raise_on_termination()
    try:
        if getattr(args, "distributed", False):
            initialize_distributed(*cluster)
        return args.handler(args)
    except interrupts.RunInterrupted as interrupted:
        print(f"posterior: {interrupted}", file=sys.stderr)
        return interrupted.exit_status
    except (KeyboardInterrupt, interrupts.Terminated) as interruption:  # outside a run: nothing to keep
        print(f"posterior: interrupted ({interrupts.signal_of(interruption).name})", file=sys.stderr)
        return interrupts.exit_status(interruption)
    except ValueError as error:  # bad input the library refused: one line, no traceback
        # Messages quote paths and names from the input, which may hold line breaks.
        print(f"posterior: error: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
