"""Timed runs as the benchmarks record them: one contender's runs, compiled apart, checked finite.

:class:`Measurement` holds the wall times of one contender's timed runs and turns them
into gradient evaluations per second; :func:`compile_timed` compiles a jitted program on
its own, so that the runs' times exclude compilation; :func:`all_finite` tells a run
whose chains diverged. Shared by ``posterior bench sgmcmc`` and ``posterior bench hmc``.
"""

import dataclasses
import statistics
import time
from typing import Any, Callable

import jax
import numpy as np


@dataclasses.dataclass
class Measurement:
    """The timed runs of one contender at one chain count.

    Attributes:
        sampler, contender: what ran.
        num_chains: chains advanced together.
        num_devices: devices they were spread over.
        gradients_per_chain: gradient evaluations per chain in one run.
        seconds: wall time of each timed run, compilation excluded.
        compile_seconds: compilation time of each run (ours compiles afresh for every
            call; the reference loops compile once).
        finite: every final position was finite (False: the chain diverged).
        note: anything the reader should know about this row.
    """

    sampler: str
    contender: str
    num_chains: int
    num_devices: int
    gradients_per_chain: int
    seconds: list[float]
    compile_seconds: list[float]
    finite: bool
    note: str = ""

    def rate(self, seconds: float) -> float:
        """Gradient evaluations per second, over all chains, for a run of ``seconds``."""
        return self.num_chains * self.gradients_per_chain / seconds

    @property
    def best_rate(self) -> float:
        """The rate of the fastest run (noise only ever adds time)."""
        return self.rate(min(self.seconds))

    @property
    def median_rate(self) -> float:
        """The rate of the median run."""
        return self.rate(statistics.median(self.seconds))


def all_finite(tree: Any) -> bool:
    """Whether every element of every leaf of ``tree`` is finite."""
    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in jax.tree.leaves(tree))


def compile_timed(program: Callable, args: tuple) -> tuple[Any, float]:
    """``(compiled program, seconds)``: ``program`` (jitted) lowered and compiled for ``args``."""
    began = time.perf_counter()
    compiled = program.lower(*args).compile()
    return compiled, time.perf_counter() - began
