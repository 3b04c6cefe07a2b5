"""The ``posterior`` command line.

``posterior SUBCOMMAND ...``: ``run CONFIG [key=value ...]`` (one experiment into a run
directory), ``sweep CONFIG --over ...`` (a grid of runs), ``table RESULTS_DIR`` (mean ±
standard error over splits), ``suite SUITE_DIR`` (a paper's sweeps, ours beside the
published numbers), ``export RUN_DIR --arviz OUT.nc`` (a run's saved draws as
ArviZ netCDF), ``demo`` (samplers against a known posterior) and ``bench
TARGET`` (speed benchmarks, e.g. ``posterior bench sgmcmc``). Subcommands are registered
in :data:`experiments.options.SUBCOMMANDS`, benchmark targets in
:data:`experiments.bench.settings.TARGETS`.

The parser is built from those two modules alone, which import no JAX: ``--help`` and a
usage error answer in a fraction of a second. The subcommand's module is imported once
the arguments are parsed. JAX fixes its number of CPU devices at its first computation,
so :func:`main` calls :func:`samplers.mesh.use_cpu_cores` before it; subcommand modules
must therefore compute nothing at import time.
"""

import argparse
import importlib
import sys

from experiments import interrupts
from experiments.arguments import add_device_arguments
from experiments.bench.settings import TARGETS as BENCH_TARGETS
from experiments.options import SUBCOMMANDS


class _OneLineErrorParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr and exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _add_subcommand(subcommands: argparse._SubParsersAction, name: str, summary: str, add_arguments,
                    handler_name: str) -> argparse.ArgumentParser:
    """Add ``name`` with the shared device option, its own options, and its handler's name."""
    parser = subcommands.add_parser(name, help=summary, description=summary)
    add_device_arguments(parser)
    add_arguments(parser)
    parser.set_defaults(handler=handler_name)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser for every subcommand and benchmark target (nothing heavy is imported)."""
    parser = _OneLineErrorParser(
        prog="posterior", description="Scalable posterior sampling for Bayesian neural networks.")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, subcommand in SUBCOMMANDS.items():
        _add_subcommand(subcommands, name, subcommand.summary, subcommand.add_arguments, subcommand.handler)
    bench = subcommands.add_parser("bench", help="speed benchmarks", description="Speed benchmarks.")
    targets = bench.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, (module, summary, add_arguments) in BENCH_TARGETS.items():
        _add_subcommand(targets, name, summary, add_arguments, f"{module}:run")
    return parser


def handler(name: str):
    """The function ``module:function`` names, its module imported now."""
    module, function = name.split(":")
    return getattr(importlib.import_module(module), function)


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
    cluster = [getattr(args, name, None) for name in ("coordinator", "num_processes", "process_id")]
    if any(value is not None for value in cluster) and not getattr(args, "distributed", False):
        parser.error("--coordinator, --num-processes and --process-id go with --distributed")
    interrupts.raise_on_termination()
    try:
        check = SUBCOMMANDS[args.command].check if args.command in SUBCOMMANDS else None
        if check is not None:
            check(args)
        from samplers.mesh import initialize_distributed, use_cpu_cores  # imports JAX, computes nothing

        use_cpu_cores(args.cpu_devices)  # before JAX's first computation
        if getattr(args, "distributed", False):
            initialize_distributed(*cluster)
        return handler(args.handler)(args)
    except interrupts.RunInterrupted as interrupted:
        interrupts.silence_teardown()
        print(f"posterior: {interrupted}", file=sys.stderr)
        return interrupted.exit_status
    except (KeyboardInterrupt, interrupts.Terminated) as interruption:  # outside a run: nothing to keep
        interrupts.silence_teardown()
        print(f"posterior: interrupted ({interrupts.signal_of(interruption).name})", file=sys.stderr)
        return interrupts.exit_status(interruption)
    except ValueError as error:  # bad input the library refused: one line, no traceback
        # Messages quote paths and names from the input, which may hold line breaks.
        print(f"posterior: error: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
