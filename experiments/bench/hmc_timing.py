"""Timing the contenders of ``posterior bench hmc``: the comparison, and one step's scaling over devices.

:func:`measure_comparison` runs every contender untimed once (its acceptance rate), then
times them in rounds, every contender once per round, into an :class:`HMCMeasurement`
each; :func:`measure_scaling` times one chain's HMC step on meshes of more and more
devices, the rows sharded over the mesh's 'data' axis.
"""

import dataclasses
import math
import statistics
from typing import Any

import jax
import numpy as np

import samplers
from experiments.bench import log
from experiments.bench.hmc_contenders import (BLACKJAX, NUM_INTEGRATION_STEPS, OURS, OURS_DEFAULT, OURS_ONE,
                                              OURS_TERMS, blackjax_contender, log_posterior, log_posterior_terms,
                                              our_acceptance_rate, our_contender, run_ours, sharded_log_posterior)
from experiments.bench.mlp_regression import Batch
from experiments.bench.settings import DATA_SIZE
from experiments.bench.timing import Measurement, all_finite


@dataclasses.dataclass
class HMCMeasurement(Measurement):
    """A :class:`experiments.bench.timing.Measurement` with the acceptance rate of its untimed run.

    Attributes:
        acceptance_rate: the mean over chains and steps of every step's acceptance
            probability, from the contender's untimed run (NaN when it had none).
    """

    acceptance_rate: float = math.nan


def max_difference(a: Any, b: Any) -> float:
    """The largest absolute difference between two pytrees of arrays of the same shapes."""
    return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in
               zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def measure_comparison(data: Batch, num_chains: int, num_steps: int, repeats: int) -> list[HMCMeasurement]:
    """Every contender of the comparison, ours first, the timed runs taken in turns.

    Each contender first runs once untimed, recording its acceptance rate; ours (scalar log
    density) goes first of all, which also pays the one-time costs of the process's first
    driver call (eager key handling, backend start-up). Then each round times every
    contender once, so that a slower stretch of a shared machine falls on all of them.
    """
    log(f"  untimed runs recording every step's acceptance: {OURS_ONE}, {OURS_TERMS}, {BLACKJAX} (compiling) ...")
    acceptance = {OURS_ONE: our_acceptance_rate(log_posterior, data, num_chains, num_steps)}
    acceptance[OURS_DEFAULT] = acceptance[OURS_ONE]
    acceptance[OURS_TERMS] = our_acceptance_rate(log_posterior_terms, data, num_chains, num_steps)
    runners = {contender: our_contender(contender, data, num_chains, num_steps) for contender in OURS}
    runners[BLACKJAX], acceptance[BLACKJAX] = blackjax_contender(data, num_chains, num_steps)

    runs = {contender: [] for contender in runners}
    for round_number in range(1, repeats + 1):
        log(f"  timed round {round_number} of {repeats}: every contender once ...")
        for contender, run in runners.items():
            runs[contender].append(run())
    measurements = [HMCMeasurement(
        sampler="HMC", contender=contender, num_chains=num_chains,
        num_devices=samplers.mesh.default_mesh(num_chains).devices.size if contender == OURS_DEFAULT else 1,
        gradients_per_chain=num_steps * NUM_INTEGRATION_STEPS, seconds=[seconds for seconds, _, _ in done],
        compile_seconds=[compiled for _, compiled, _ in done][:1 if contender == BLACKJAX else None],
        finite=all(all_finite(final) for _, _, final in done), acceptance_rate=acceptance[contender])
        for contender, done in runs.items()]
    difference = max_difference(runs[OURS_DEFAULT][-1][2], runs[OURS_ONE][-1][2])
    measurements[1].note = (f"the same draws as {OURS_ONE}'s up to float rounding (the programs differ), which "
                            f"{num_steps * NUM_INTEGRATION_STEPS:,} leapfrog steps amplify: final positions differ "
                            f"by at most {difference:.1e}; its acceptance rate is that of {OURS_ONE}'s untimed run")
    return measurements


def measure_scaling(data: Batch, device_counts: tuple[int, ...], num_steps: int, repeats: int) -> list[dict]:
    """One chain's time per HMC step on meshes ``(1, k)``, the rows split over 'data'.

    Returns:
        One row per device count: ``num_devices``, ``rows_per_device``, ``seconds`` (per
        step, of each timed run), ``median_ms``, ``best_ms``, ``vs_one_device`` (the
        median against the first count's), ``compile_seconds`` (median), ``finite`` and
        ``difference`` (the largest absolute difference of the final position from the
        first count's).
    """
    logdensity_fn = sharded_log_posterior()
    rows, first_final = [], None
    for count in device_counts:
        log(f"  scaling: {count} device(s), {repeats} timed run(s) ...")
        mesh = samplers.make_mesh(1, count, devices=jax.devices()[:count])
        results = [run_ours(logdensity_fn, data, 1, num_steps, mesh) for _ in range(repeats)]
        final = results[-1].samples
        first_final = final if first_final is None else first_final
        seconds = [r.timings["sampling_seconds"] / num_steps for r in results]
        rows.append({"num_devices": count, "rows_per_device": DATA_SIZE // count, "num_steps": num_steps,
                     "seconds": seconds, "median_ms": 1e3 * statistics.median(seconds), "best_ms": 1e3 * min(seconds),
                     "compile_seconds": statistics.median(r.timings["compile_seconds"] for r in results),
                     "finite": all(all_finite(r.samples) for r in results),
                     "difference": max_difference(final, first_final)})
    for row in rows:
        row["vs_one_device"] = row["median_ms"] / rows[0]["median_ms"]
    return rows
