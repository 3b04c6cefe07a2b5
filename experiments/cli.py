"""The ``posterior`` command line.

``posterior SUBCOMMAND ...``; for now ``demo`` (samplers against a known posterior) and
``bench TARGET`` (speed benchmarks, e.g. ``posterior bench sgmcmc``). Subcommands are registered in
:data:`SUBCOMMANDS` (name -> function adding its parser), benchmark targets in
:data:`experiments.bench.TARGETS`, so that ``run``, ``sweep``, ``table`` and further
targets slot in beside them.

JAX fixes its number of CPU devices at its first computation, so :func:`main` calls
:func:`samplers.mesh.use_cpu_cores` right after parsing, before any module that computes
is used; subcommand modules must therefore compute nothing at import time.
"""

import argparse
import importlib
import sys
from typing import Callable

from experiments import demo
from experiments.arguments import add_device_arguments
from experiments.bench import TARGETS as BENCH_TARGETS
from samplers.mesh import use_cpu_cores  # imports JAX, computes nothing


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


def _add_demo(subcommands: argparse._SubParsersAction) -> None:
    """``posterior demo``: SGLD and SGHMC on a regression with a known posterior."""
    summary = (demo.__doc__ or "").strip().splitlines()[0]
    parser = subcommands.add_parser("demo", help=summary, description=summary)
    add_device_arguments(parser)
    demo.add_arguments(parser)
    parser.set_defaults(handler=demo.main)


# subcommand name -> function adding its parser (each sets ``handler(args) -> exit status``).
SUBCOMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "demo": _add_demo,
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
    args = build_parser().parse_args(argv)
    use_cpu_cores(args.cpu_devices)  # before JAX's first computation
    try:
        return args.handler(args)
    except ValueError as error:  # bad input the library refused: one line, no traceback
        print(f"posterior: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
