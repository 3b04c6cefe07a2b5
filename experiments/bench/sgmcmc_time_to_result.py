"""Time to result in ``posterior bench sgmcmc``: whole calls, compilation included.

What a user waits for, per sampler and run length, one chain on one device:

- the first call: ours from an empty program cache (:func:`samplers.programs.clear`, as
  in a new process without the persistent cache); the references' loop built, jitted,
  compiled and run;
- a repeat call with a new step size: ours through a new sampler object (its step size
  a run-time number, so nothing compiles); the references' already compiled loop called
  again, which is the best their users get (a loop that closes over the step size, as the
  references' examples write it, would compile again).

Each time is the wall clock of the whole call, results on the host: the median of
``repeats`` measurements taken in turns (ours, blackjax, hand-fused, then again), since a
single first call varies by a third from one measurement to the next here.
"""

import collections
import time
from typing import Callable

import jax
import numpy as np

import samplers
from experiments.bench import log
from experiments.bench.mlp_regression import Batch, init_params, log_posterior_estimate
from experiments.bench.settings import BATCH_SIZE, BATCHES_PER_EPOCH
from experiments.bench.sgmcmc_contenders import BLACKJAX, HAND_FUSED, STEP_SIZE, Sampler, build_reference_program
from experiments.bench.sgmcmc_timing import CHAIN_SEED, reference_step

REPEAT_STEP_SIZE_FACTOR = 2.0  # the repeat call's step size, as a multiple of STEP_SIZE


def _wall(call: Callable[[], object]) -> float:
    began = time.perf_counter()
    jax.block_until_ready(call())
    return time.perf_counter() - began


def _ours(sampler: Sampler, data: Batch, num_steps: int, step_size: float):
    return samplers.sample(
        sampler.ours(log_posterior_estimate, step_size), jax.random.key(CHAIN_SEED), init_params, data,
        num_chains=1, num_steps=num_steps, burn_in=0, thin=num_steps, batch_size=BATCH_SIZE,
        mesh=samplers.make_mesh(1, 1), progress=False).samples


def _reference(sampler: Sampler, contender: str, data: Batch, num_steps: int) -> tuple[float, float]:
    """``(first, repeat)`` seconds of ``contender``'s loop of ``num_steps`` gradient evaluations."""
    step, init_state, gradients_per_call = reference_step(sampler, contender)
    init_key, chains_key = jax.random.split(jax.random.key(CHAIN_SEED))

    def build_and_run():
        program = build_reference_program(step, num_steps // (gradients_per_call * BATCHES_PER_EPOCH))
        states = jax.vmap(init_state)(jax.vmap(init_params)(jax.random.split(init_key, 1)))
        args = (jax.random.split(chains_key, 1), states, data)
        return program, args, program(*args)

    began = time.perf_counter()
    program, args, final = build_and_run()
    jax.block_until_ready(final)
    first = time.perf_counter() - began
    return first, _wall(lambda: program(*args))


def measure(sampler: Sampler, data: Batch, num_steps: int, repeats: int) -> dict:
    """The first and repeat times of ours and both references at ``num_steps`` steps
    (medians of ``repeats``)."""
    log(f"  {sampler.name}: time to result, {num_steps:,} steps, {repeats} time(s) ...")
    times: dict[str, list[float]] = collections.defaultdict(list)
    for _ in range(repeats):
        samplers.programs.clear()
        times["ours_first"].append(_wall(lambda: _ours(sampler, data, num_steps, STEP_SIZE)))
        times["ours_repeat"].append(_wall(lambda: _ours(sampler, data, num_steps,
                                                        REPEAT_STEP_SIZE_FACTOR * STEP_SIZE)))
        for contender in (BLACKJAX, HAND_FUSED):
            first, repeat = _reference(sampler, contender, data, num_steps)
            times[f"{contender}_first"].append(first)
            times[f"{contender}_repeat"].append(repeat)
    return {"sampler": sampler.name, "num_steps": num_steps, "repeats": repeats,
            **{name: float(np.median(values)) for name, values in times.items()}}


def format_table(rows: list[dict]) -> str:
    """The rows as markdown, with each reference's time over ours (above 1: ours sooner)."""
    lines = [
        "## Time to result (one chain, one device, whole calls, compilation included, medians)",
        "",
        "First call: from nothing compiled. Repeat: a new step size; ours through a new sampler "
        "object (nothing compiles), the references' compiled loop called again (their best case).",
        "",
        "| sampler | steps | ours first s | ours repeat s | blackjax first s | blackjax repeat s "
        "| hand-fused first s | hand-fused repeat s | blackjax / ours, first | repeat "
        "| hand-fused / ours, first | repeat |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['sampler']} | {r['num_steps']:,} | {r['ours_first']:.2f} | {r['ours_repeat']:.2f} | "
            f"{r[f'{BLACKJAX}_first']:.2f} | {r[f'{BLACKJAX}_repeat']:.2f} | {r[f'{HAND_FUSED}_first']:.2f} | "
            f"{r[f'{HAND_FUSED}_repeat']:.2f} | {r[f'{BLACKJAX}_first'] / r['ours_first']:.2f}x | "
            f"{r[f'{BLACKJAX}_repeat'] / r['ours_repeat']:.2f}x | {r[f'{HAND_FUSED}_first'] / r['ours_first']:.2f}x | "
            f"{r[f'{HAND_FUSED}_repeat'] / r['ours_repeat']:.2f}x |")
    return "\n".join(lines)
