"""Timing the contenders of ``posterior bench sgmcmc``: gradient evaluations per second, compile time.

Every contender is compiled once and then timed call by call: ours with its program cache
emptied before the first call (so that its compile time is a new process's), the later
calls finding the programs; the driver reports compilation apart. A call of ours also
starts the chains, moves the data and brings the draws back, which the references'
timed calls do not.
:func:`measure_chain_count` gives every contender's
:class:`~experiments.bench.timing.Measurement` at one chain count, and
:func:`measure_compile_growth` our compile time at S and at :data:`COMPILE_CHECK_FACTOR`
times S steps.
"""

import dataclasses
import time
from typing import Callable

import jax

import samplers
from experiments.bench import log
from experiments.bench.mlp_regression import Batch, init_params, log_posterior_estimate
from experiments.bench.settings import BATCH_SIZE, BATCHES_PER_EPOCH
from experiments.bench.sgmcmc_contenders import (BLACKJAX, HAND_FUSED, OURS_ALL, OURS_ONE, Sampler,
                                                 build_reference_program)
from experiments.bench.timing import Measurement, all_finite, compile_timed

CHAIN_SEED = 1
COMPILE_CHECK_FACTOR = 4


def run_ours(sampler: Sampler, data: Batch, num_chains: int, num_steps: int, mesh=None, *,
             fresh: bool = True) -> samplers.SampleResult:
    """One call of :func:`samplers.sample` keeping only the final draw, compiled afresh
    (``fresh``) or with the programs an earlier call left."""
    if fresh:
        samplers.programs.clear()
    return samplers.sample(
        sampler.ours(log_posterior_estimate), jax.random.key(CHAIN_SEED), init_params, data,
        num_chains=num_chains, num_steps=num_steps, burn_in=0, thin=num_steps, batch_size=BATCH_SIZE,
        mesh=mesh, progress=False)


def measure_ours(sampler: Sampler, data: Batch, num_chains: int, num_steps: int, repeats: int,
                 one_device: bool) -> Measurement:
    """Compile our driver's programs in a first call, then time ``repeats`` whole calls,
    on the default or a one-device mesh."""
    mesh = samplers.make_mesh(1, 1) if one_device else None
    num_devices = 1 if one_device else samplers.mesh.default_mesh(num_chains).devices.size
    first = run_ours(sampler, data, num_chains, num_steps, mesh)
    results = [run_ours(sampler, data, num_chains, num_steps, mesh, fresh=False) for _ in range(repeats)]
    return Measurement(
        sampler=sampler.name, contender=OURS_ONE if one_device else OURS_ALL, num_chains=num_chains,
        num_devices=num_devices, gradients_per_chain=num_steps,
        seconds=[r.timings["sampling_seconds"] for r in results],
        compile_seconds=[first.timings["compile_seconds"]],
        finite=all(all_finite(r.samples) for r in [first, *results]))


def reference_step(sampler: Sampler, contender: str) -> tuple[Callable, Callable, int]:
    """``(step, init_state, gradients per step)`` of ``sampler``'s blackjax or hand-fused loop."""
    if contender == BLACKJAX:
        return sampler.blackjax_step(), (lambda params: params), sampler.blackjax_gradients_per_call
    return sampler.hand_fused_step, sampler.hand_fused_init, 1


def measure_reference(sampler: Sampler, contender: str, data: Batch, num_chains: int, num_steps: int,
                      repeats: int) -> Measurement:
    """Compile the blackjax or hand-fused loop once, then time ``repeats`` calls on one device."""
    step, init_state, gradients_per_call = reference_step(sampler, contender)
    num_epochs = num_steps // (gradients_per_call * BATCHES_PER_EPOCH)
    program = build_reference_program(step, num_epochs)
    init_key, chains_key = jax.random.split(jax.random.key(CHAIN_SEED))
    states = jax.vmap(init_state)(jax.vmap(init_params)(jax.random.split(init_key, num_chains)))
    args = (jax.random.split(chains_key, num_chains), states, data)

    compiled, compile_seconds = compile_timed(program, args)
    seconds, final = [], None
    for _ in range(repeats):
        began = time.perf_counter()
        final = jax.block_until_ready(compiled(*args))
        seconds.append(time.perf_counter() - began)
    return Measurement(
        sampler=sampler.name, contender=contender, num_chains=num_chains, num_devices=1,
        gradients_per_chain=num_epochs * BATCHES_PER_EPOCH * gradients_per_call, seconds=seconds,
        compile_seconds=[compile_seconds], finite=all_finite(final))


def measure_chain_count(sampler: Sampler, data: Batch, num_chains: int, num_steps: int,
                        repeats: int) -> list[Measurement]:
    """Every contender of ``sampler`` at ``num_chains`` chains."""
    measurements = []
    for contender in (OURS_ALL, OURS_ONE, BLACKJAX, HAND_FUSED):
        if contender == OURS_ALL and samplers.mesh.default_mesh(num_chains).devices.size == 1:
            continue  # the default mesh is the one-device mesh: measured once, below
        log(f"  {sampler.name}, {num_chains} chain(s): {contender} ...")
        if contender in (OURS_ALL, OURS_ONE):
            measurements.append(measure_ours(sampler, data, num_chains, num_steps, repeats, contender == OURS_ONE))
        else:
            measurements.append(measure_reference(sampler, contender, data, num_chains, num_steps, repeats))
    if measurements[0].contender == OURS_ONE:
        same = dataclasses.replace(measurements[0], contender=OURS_ALL,
                                   note=f"the same run as {OURS_ONE}: {num_chains} chain(s) use one device")
        measurements.insert(0, same)
    return measurements


def measure_compile_growth(sampler: Sampler, data: Batch, ours: Measurement) -> list[dict]:
    """Our compile and sampling time at S steps and at ``COMPILE_CHECK_FACTOR`` times as many.

    The S-step row is the first run of ``ours`` (a default-mesh measurement); the longer
    run is one more call on the same mesh, compiled afresh like every call.
    """
    steps = COMPILE_CHECK_FACTOR * ours.gradients_per_chain
    log(f"  {sampler.name}: compile-time check, {steps} steps ...")
    timings = run_ours(sampler, data, ours.num_chains, steps).timings
    row = {"sampler": sampler.name, "num_chains": ours.num_chains}
    return [dict(row, num_steps=ours.gradients_per_chain, compile_seconds=ours.compile_seconds[0],
                 sampling_seconds=ours.seconds[0]),
            dict(row, num_steps=steps, **timings)]
