"""Benchmarks (speed, and sampler accuracy on toys) behind ``posterior bench TARGET``.

Each target is a module with ``add_arguments(parser)`` (its options) and ``run(args)``
(the benchmark; returns an exit status). Target modules must not compute anything with
JAX when imported: the CLI configures the CPU devices only after building its parser.
"""

import sys
import time

_STARTED = time.perf_counter()

# target name -> module implementing it (imported by the CLI).
TARGETS = {
    "sgmcmc": "experiments.bench.sgmcmc",
    "hmc": "experiments.bench.hmc",
    "prior-fit": "experiments.bench.prior_fit",
    "toys": "experiments.bench.toys",
}


def log(message: str) -> None:
    """Benchmark progress on stderr, with the seconds since import (reports go to stdout)."""
    print(f"[{time.perf_counter() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)
