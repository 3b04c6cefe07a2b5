"""Full-batch HMC throughput: ours against blackjax's, and one step's scaling over data-sharded devices.

The problem is ``posterior bench sgmcmc``'s (:mod:`experiments.bench.mlp_regression`,
shared, not copied): Bayesian regression with an 8-50-50-1 tanh MLP on 10,000 x 8
synthetic data, Gaussian likelihood with fixed noise, N(0, 1) prior on every weight; here
the log density is the exact full-batch log posterior ``log prior + sum of every row's
log-likelihood``.

Comparison, at the same fixed step size (no adaptation), the same 10 leapfrog steps per
HMC step, the identity mass matrix, the same chains and steps, every chain starting from
the same position:

- ours: :func:`samplers.sample` with :func:`samplers.hmc`, keeping one draw at the end,
  on a one-device mesh and on the default mesh (the chains spread over devices), with
  the scalar log density blackjax gets; and once more, on one device, with the log
  density returned as its terms ``(log prior, log-likelihood)``, from which our
  acceptance test differences each term on its own (float32-safe);
- blackjax: ``blackjax.hmc``, chains under ``vmap`` and steps under ``lax.scan`` in one
  jitted program, one device.

The measure is gradient evaluations per second summed over chains (an HMC step costs
10), compilation excluded, median of the timed runs. Each contender also runs once
untimed, recording every step's acceptance rate (which warms it up too); with the same
step size and start, ours and blackjax's should accept at about the same rate. The timed
runs are taken in rounds, every contender once per round, so that a slower stretch of a
shared machine falls on all of them alike.

Scaling: one chain on meshes ``samplers.make_mesh(1, k)`` of the first ``k`` devices,
the data's rows split over the mesh's 'data' axis and the log-likelihood summed over it
with :func:`samplers.mesh.sum_over_data`; the time of one HMC step against one device's.
On CPU, ``k`` virtual devices share the machine's cores, so this measures the overhead
of sharding rather than a speed-up.

The contenders are in :mod:`experiments.bench.hmc_contenders`, their timing in
:mod:`experiments.bench.hmc_timing`; this module holds the options, the report and the
command.
"""

import argparse
import dataclasses
import statistics

import jax

from experiments.arguments import available_cores
from experiments.bench import log
from experiments.bench.hmc_contenders import BLACKJAX, NUM_INTEGRATION_STEPS, OURS_ONE, OURS_TERMS, STEP_SIZE
from experiments.bench.hmc_timing import HMCMeasurement, measure_comparison, measure_scaling
from experiments.bench.mlp_regression import make_data, problem_description
from experiments.bench.settings import DATA_SIZE, HMC_DEFAULTS, HMC_QUICK
from experiments.bench.reporting import environment, environment_lines, measurement_rows, publish

# ---------------------------------------------------------------- the benchmark
TARGET_VS_BLACKJAX = 1.0
ACCEPTANCE_TOLERANCE = 0.1  # the largest difference of mean acceptance rates called agreement


# ================================================================ reporting


def ratio_rows(measurements: list[HMCMeasurement]) -> list[dict]:
    """Each of our rows against blackjax, in median gradient evaluations per second, with the verdict."""
    blackjax = next(m for m in measurements if m.contender == BLACKJAX)
    rows = []
    for m in measurements:
        if m.contender != BLACKJAX:
            value = m.median_rate / blackjax.median_rate
            rows.append({"numerator": m.contender, "denominator": BLACKJAX, "ratio": value,
                         "target": TARGET_VS_BLACKJAX, "met": value >= TARGET_VS_BLACKJAX})
    return rows


def acceptance_check(measurements: list[HMCMeasurement]) -> dict:
    """Whether ours (scalar log density) and blackjax's mean acceptance rates agree to
    :data:`ACCEPTANCE_TOLERANCE`."""
    rates = {m.contender: m.acceptance_rate for m in measurements}
    difference = abs(rates[OURS_ONE] - rates[BLACKJAX])
    return {"ours": rates[OURS_ONE], "ours_terms": rates[OURS_TERMS], "blackjax": rates[BLACKJAX],
            "difference": difference, "tolerance": ACCEPTANCE_TOLERANCE,
            "agree": bool(difference <= ACCEPTANCE_TOLERANCE)}


def format_header(env: dict, settings: dict) -> str:
    """The lines above the tables: when, where, what."""
    return "\n".join([
        "# posterior bench hmc",
        "",
        *environment_lines(env),
        f"- problem (posterior bench sgmcmc's): {problem_description()}; the exact full-batch log posterior, "
        "no minibatches",
        f"- HMC: step size {STEP_SIZE:g}, fixed (no adaptation); {NUM_INTEGRATION_STEPS} leapfrog steps "
        "(gradient evaluations) per HMC step; identity mass matrix; every chain starts from the same position",
        f"- {settings['chains']} chain(s) x {settings['steps']:,} HMC steps = "
        f"{settings['steps'] * NUM_INTEGRATION_STEPS:,} gradient evaluations per chain and run; median of "
        f"{settings['repeats']} timed run(s), best beside it; compilation excluded from rates",
    ])


def format_comparison(measurements: list[HMCMeasurement], ratios: list[dict], acceptance: dict,
                      repeats: int) -> str:
    """The measurement table, the ratio table and the acceptance verdict, as markdown."""
    lines = [
        "## Ours against blackjax",
        "",
        f"| contender | chains | devices | gradient evals/s (median of {repeats}) | best | compile s (median) "
        "| acceptance rate | finite |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += measurement_rows(measurements, lambda m: [
        f"{m.median_rate:,.0f}", f"{m.best_rate:,.0f}", f"{statistics.median(m.compile_seconds):.2f}",
        f"{m.acceptance_rate:.3f}"])
    lines += ["", "Acceptance rate: the mean over chains and steps of each step's acceptance probability, from each "
              "contender's untimed run (the timed runs repeat it exactly). blackjax runs its untimed call after "
              "compiling; its program also returns every step's acceptance rate.",
              "", "| ratio (gradient evals/s, medians) | value | target |", "|---|---:|---:|"]
    lines += [f"| {r['numerator']} / {r['denominator']} | {r['ratio']:.2f}x {'met' if r['met'] else 'NOT met'} "
              f"| >= {r['target']}x |" for r in ratios]
    verdict = ("they do" if acceptance["agree"] else "they DO NOT")
    lines += ["", f"Acceptance rates at the same step size and start should agree roughly (within "
              f"{acceptance['tolerance']}): ours {acceptance['ours']:.3f} (terms {acceptance['ours_terms']:.3f}), "
              f"blackjax {acceptance['blackjax']:.3f}, difference {acceptance['difference']:.3f}: {verdict}."]
    return "\n".join(lines)


def format_scaling(rows: list[dict], repeats: int) -> str:
    """The scaling table and what it means on this machine, as markdown."""
    largest, cores = max(r["num_devices"] for r in rows), available_cores()
    if jax.default_backend() == "cpu" and largest > cores:
        meaning = (f"Here up to {largest} virtual CPU devices share {cores} cores: this checks the overhead of "
                   "sharding the data (collectives, smaller pieces of work), not a speed-up, which these cores "
                   "cannot give.")
    else:
        meaning = "A ratio below 1 is a speed-up."
    lines = [
        "## Scaling of one HMC step over devices (rows sharded over the mesh's 'data' axis)",
        "",
        f"One chain, {rows[0]['num_steps']} HMC steps per run, on samplers.make_mesh(1, k) of the first k devices; "
        f"each device holds {DATA_SIZE:,} / k rows and the log-likelihood is summed over 'data' with "
        f"samplers.mesh.sum_over_data. {meaning}",
        "",
        f"| devices | rows per device | ms per step (median of {repeats}) | best | vs 1 device | compile s "
        "| final position vs 1 device (max abs difference) | finite |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [f"| {r['num_devices']} | {r['rows_per_device']:,} | {r['median_ms']:.2f} | {r['best_ms']:.2f} | "
              f"{r['vs_one_device']:.2f}x | {r['compile_seconds']:.2f} | {r['difference']:.1e} | "
              f"{'yes' if r['finite'] else 'NO: DIVERGED'} |" for r in rows]
    return "\n".join(lines)


# ================================================================ the command


def resolve_settings(args: argparse.Namespace) -> dict:
    """Options given explicitly, else the --quick or default values."""
    base = HMC_QUICK if args.quick else HMC_DEFAULTS
    settings = {name: base[name] if getattr(args, name) is None else getattr(args, name) for name in HMC_DEFAULTS}
    settings["devices"] = tuple(dict.fromkeys(settings["devices"]))  # unique, in the order given
    return settings


def check_devices(device_counts: tuple[int, ...]) -> None:
    """Raise ``ValueError`` (one line, exit status 2 from the CLI) for device counts this
    process cannot run: more than its devices, or not dividing the rows."""
    available = len(jax.devices())
    if max(device_counts) > available:
        raise ValueError(f"bench hmc: --devices {','.join(map(str, device_counts))} needs {max(device_counts)} "
                         f"devices but JAX has {available}; pass --cpu-devices {max(device_counts)} (the default "
                         "of this target) or smaller --devices")
    uneven = [count for count in device_counts if DATA_SIZE % count]
    if uneven:
        raise ValueError(f"bench hmc: --devices must divide the {DATA_SIZE:,} rows, got {uneven}")


def run(args: argparse.Namespace) -> int:
    """``posterior bench hmc``: measure, print the report (stdout), optionally write JSON."""
    settings = resolve_settings(args)
    check_devices(settings["devices"])
    num_chains, num_steps, repeats = settings["chains"], settings["steps"], settings["repeats"]
    env = environment()
    data = jax.device_put(make_data(), jax.devices()[0])
    log(f"posterior bench hmc: {num_chains} chain(s) x {num_steps} steps, {repeats} repeat(s); scaling over "
        f"{settings['devices']} device(s), {settings['scaling_steps']} steps")

    measurements = measure_comparison(data, num_chains, num_steps, repeats)
    ratios, acceptance = ratio_rows(measurements), acceptance_check(measurements)
    scaling = measure_scaling(data, settings["devices"], settings["scaling_steps"], repeats)

    sections = [format_header(env, settings), format_comparison(measurements, ratios, acceptance, repeats),
                format_scaling(scaling, repeats)]
    diverged = ([f"{m.contender}" for m in measurements if not m.finite]
                + [f"scaling, {r['num_devices']} device(s)" for r in scaling if not r["finite"]])
    publish(sections, diverged, args.output, {
        "environment": env,
        "settings": dict(settings, devices=list(settings["devices"]), step_size=STEP_SIZE,
                         num_integration_steps=NUM_INTEGRATION_STEPS, data_size=DATA_SIZE),
        "measurements": [dict(dataclasses.asdict(m), best_rate=m.best_rate, median_rate=m.median_rate)
                         for m in measurements],
        "ratios": ratios,
        "acceptance": acceptance,
        "scaling": scaling,
    })
    return 0
