"""SG-MCMC throughput: our SGLD/SGHMC against blackjax and a hand-fused lax.scan loop.

The problem: Bayesian regression with an 8-50-50-1 tanh MLP on 10,000 x 8 synthetic
data (fixed seed), Gaussian likelihood with fixed noise, N(0, 1) prior on every weight,
log posterior estimated as ``log prior + (N / B) * minibatch log-likelihood`` with
``B = 128``.

Contenders, for SGLD and SGHMC (friction 0.05, no scale adaptation) and each chain count:

- ours: :func:`samplers.sample` keeping one draw at the end, on the default mesh (every
  CPU device that the chain count can use) and on a one-device mesh;
- blackjax: ``blackjax.sgld`` / ``blackjax.sghmc`` (10 leapfrog gradients per call, on
  one minibatch, with fresh momentum: that is blackjax's design), chains under
  ``vmap``, steps under ``lax.scan``, one device;
- hand-fused: the same update written directly in ``jnp`` under ``jit(vmap(scan))``,
  one device.

Every contender draws minibatches alike: per chain, a fresh permutation of the rows each
epoch (made by the driver's own :func:`samplers.minibatch.permutation`, so that the
shuffle costs every contender the same), 78 batches of 128 taken in order, the 16 rows
left over skipped; the step count is
a multiple of 780 (78 batches x 10 blackjax leapfrog steps) so that every contender
evaluates exactly the same number of gradients. The measure is gradient evaluations per
second, summed over chains.

The problem is in :mod:`experiments.bench.mlp_regression`, the contenders in
:mod:`experiments.bench.sgmcmc_contenders`, their timing in
:mod:`experiments.bench.sgmcmc_timing`; this module holds the options, the report and the
command.
"""

import argparse
import dataclasses
import statistics

import jax

from experiments.bench import log
from experiments.bench.mlp_regression import make_data, problem_description
from experiments.bench.settings import (BATCH_SIZE, BATCHES_PER_EPOCH, DATA_SIZE, SGMCMC_DEFAULTS, SGMCMC_QUICK,
                                        STEP_QUANTUM)
from experiments.bench.reporting import environment, environment_lines, measurement_rows, publish
from experiments.bench.sgmcmc_contenders import BLACKJAX, FRICTION, HAND_FUSED, OURS_ALL, OURS_ONE, SAMPLERS, STEP_SIZE, Sampler
from experiments.bench.sgmcmc_time_to_result import format_table as format_time_to_result, measure as time_to_result_of
from experiments.bench.sgmcmc_timing import measure_chain_count, measure_compile_growth, run_ours
from experiments.bench.timing import Measurement

# ---------------------------------------------------------------- the benchmark
TARGET_VS_BLACKJAX = 1.3
TARGET_VS_HAND_FUSED = 0.9

# (numerator, denominator, target) of every ratio reported, in gradient evaluations per second.
RATIOS = (
    (OURS_ALL, BLACKJAX, TARGET_VS_BLACKJAX),
    (OURS_ONE, BLACKJAX, TARGET_VS_BLACKJAX),
    (OURS_ONE, HAND_FUSED, TARGET_VS_HAND_FUSED),
    (OURS_ALL, HAND_FUSED, TARGET_VS_HAND_FUSED),
)


# ================================================================ reporting


def ratio_rows(measurements: list[Measurement], chain_counts: tuple[int, ...]) -> list[dict]:
    """Every ratio in :data:`RATIOS` at every chain count, with its target and verdict."""
    best = {(m.contender, m.num_chains): m.best_rate for m in measurements}
    rows = []
    for numerator, denominator, target in RATIOS:
        for chains in chain_counts:
            value = best[(numerator, chains)] / best[(denominator, chains)]
            rows.append({"numerator": numerator, "denominator": denominator, "num_chains": chains,
                         "ratio": value, "target": target, "met": value >= target})
    return rows


def format_header(env: dict, settings: dict) -> str:
    """The lines above the tables: when, where, what."""
    return "\n".join([
        "# posterior bench sgmcmc",
        "",
        *environment_lines(env),
        f"- problem: {problem_description()}, batch {BATCH_SIZE} "
        f"({BATCHES_PER_EPOCH} per epoch; every contender shuffles each chain's rows every epoch with "
        "samplers.minibatch.permutation, the driver's)",
        f"- step size {STEP_SIZE:g} (SGLD epsilon, SGHMC eta), SGHMC friction {FRICTION}",
        f"- {settings['steps']:,} gradient evaluations per chain and run (requested {settings['requested_steps']:,}, "
        f"rounded to a multiple of {STEP_QUANTUM}); best of {settings['repeats']} run(s), median beside it; "
        "compilation excluded from rates",
    ])


def format_sampler_tables(sampler: Sampler, measurements: list[Measurement], ratios: list[dict],
                          chain_counts: tuple[int, ...], repeats: int) -> str:
    """The measurement table and the ratio table of one sampler, as markdown."""
    lines = [
        f"## {sampler.name}",
        "",
        f"| contender | chains | devices | gradient evals/s (best of {repeats}) | median | compile s (median) "
        "| finite |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    lines += measurement_rows(measurements, lambda m: [
        f"{m.best_rate:,.0f}", f"{m.median_rate:,.0f}", f"{statistics.median(m.compile_seconds):.2f}"])
    lines += ["", sampler.blackjax_note, "",
              "| ratio (gradient evals/s) | " + " | ".join(f"{c} chain(s)" for c in chain_counts) + " | target |",
              "|---|" + "---:|" * len(chain_counts) + "---:|"]
    by_key = {(r["numerator"], r["denominator"], r["num_chains"]): r for r in ratios}
    for numerator, denominator, target in RATIOS:
        cells = []
        for chains in chain_counts:
            row = by_key[(numerator, denominator, chains)]
            cells.append(f"{row['ratio']:.2f}x {'met' if row['met'] else 'NOT met'}")
        lines.append(f"| {numerator} / {denominator} | " + " | ".join(cells) + f" | >= {target}x |")
    return "\n".join(lines)


def format_compile_growth(rows: list[dict]) -> str:
    """Our compile time at S and at 4 S steps, side by side."""
    lines = [
        "## Compile time against the number of steps (ours, default mesh, one run each, each compiled afresh)",
        "",
        "| sampler | chains | steps | compile s | sampling s |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['sampler']} | {r['num_chains']} | {r['num_steps']:,} | {r['compile_seconds']:.2f} | "
              f"{r['sampling_seconds']:.2f} |" for r in rows]
    return "\n".join(lines)


# ================================================================ the command


def resolve_settings(args: argparse.Namespace) -> dict:
    """Options given explicitly, else the --quick or default values; steps rounded to the quantum."""
    base = SGMCMC_QUICK if args.quick else SGMCMC_DEFAULTS
    settings = {name: base[name] if getattr(args, name) is None else getattr(args, name) for name in SGMCMC_DEFAULTS}
    settings["requested_steps"] = settings["steps"]
    settings["steps"] = max(1, round(settings["steps"] / STEP_QUANTUM)) * STEP_QUANTUM
    settings["time_to_result_steps"] = tuple(dict.fromkeys(
        max(1, round(steps / STEP_QUANTUM)) * STEP_QUANTUM for steps in settings["time_to_result_steps"]))
    settings["chains"] = tuple(dict.fromkeys(settings["chains"]))  # unique, in the order given
    return settings


def run(args: argparse.Namespace) -> int:
    """``posterior bench sgmcmc``: measure, print the report (stdout), optionally write JSON."""
    settings = resolve_settings(args)
    chain_counts, num_steps, repeats = settings["chains"], settings["steps"], settings["repeats"]
    env = environment()
    data = jax.device_put(make_data(), jax.devices()[0])
    log(f"posterior bench sgmcmc: {num_steps} steps, chains {chain_counts}, {repeats} repeat(s)")
    # The first driver call of a process also pays one-time costs (eager key handling,
    # backend start-up) inside its timed part; an untimed call keeps them out of the table.
    run_ours(SAMPLERS[0], data, 1, BATCHES_PER_EPOCH)

    measurements, ratios, growth = [], [], []
    for sampler in SAMPLERS:
        for chains in chain_counts:
            measurements += measure_chain_count(sampler, data, chains, num_steps, repeats)
        ratios += [dict(r, sampler=sampler.name) for r in
                   ratio_rows([m for m in measurements if m.sampler == sampler.name], chain_counts)]
        first_ours = next(m for m in measurements if m.sampler == sampler.name and m.contender == OURS_ALL)
        growth += measure_compile_growth(sampler, data, first_ours)
    time_to_result = [time_to_result_of(sampler, data, steps, repeats) for steps in settings["time_to_result_steps"]
                      for sampler in SAMPLERS]

    sections = [format_header(env, settings)]
    sections += [format_sampler_tables(s, [m for m in measurements if m.sampler == s.name],
                                       [r for r in ratios if r["sampler"] == s.name], chain_counts, repeats)
                 for s in SAMPLERS]
    sections.append(format_compile_growth(growth))
    sections.append(format_time_to_result(time_to_result))
    diverged = [f"{m.sampler} {m.contender} ({m.num_chains} chains)" for m in measurements if not m.finite]
    publish(sections, diverged, args.output, {
        "environment": env,
        "settings": dict(settings, chains=list(chain_counts), step_size=STEP_SIZE, friction=FRICTION,
                         batch_size=BATCH_SIZE, data_size=DATA_SIZE),
        "measurements": [dict(dataclasses.asdict(m), best_rate=m.best_rate, median_rate=m.median_rate)
                         for m in measurements],
        "ratios": ratios,
        "compile_growth": growth,
        "time_to_result": time_to_result,
    })
    return 0
