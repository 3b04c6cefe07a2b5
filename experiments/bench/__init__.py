"""Benchmarks (speed, and sampler accuracy on toys) behind ``posterior bench TARGET``.

Each target is a module with ``run(args)`` (the benchmark; returns an exit status),
listed with its options in :data:`experiments.bench.settings.TARGETS`. Target modules
must not compute anything with JAX when imported: the CLI sets up the CPU devices first.
"""

import json
import sys
import time
from typing import Any, Callable

_STARTED = time.perf_counter()

def log(message: str) -> None:
    """Benchmark progress on stderr, with the seconds since import (reports go to stdout)."""
    print(f"[{time.perf_counter() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def write_json(path: str, numbers: dict, *, default: Callable[[Any], Any] | None = None) -> None:
    """Write a benchmark's ``numbers`` to ``path`` as indented JSON (``default`` as in
    ``json.dump``: how a value JSON has no type for is written) and say so."""
    with open(path, "w") as file:
        json.dump(numbers, file, indent=2, default=default)
    log(f"wrote {path}")
