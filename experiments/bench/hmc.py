"""Full-batch HMC throughput: ours against blackjax's, and one step's scaling over data-sharded devices.

The problem is ``posterior bench sgmcmc``'s (imported from it, not copied): Bayesian
regression with an 8-50-50-1 tanh MLP on 10,000 x 8 synthetic data, Gaussian likelihood
with fixed noise, N(0, 1) prior on every weight; here the log density is the exact
full-batch log posterior ``log prior + sum of every row's log-likelihood``.

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
"""

import argparse
import dataclasses
import math
import statistics
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from experiments.arguments import available_cores, positive_int, positive_int_list
from experiments.bench import log
from experiments.bench.sgmcmc import (DATA_SIZE, Measurement, all_finite, environment, environment_lines,
                                      init_params, log_likelihood, log_prior, make_data, measurement_rows,
                                      problem_description, publish)

# blackjax is imported where it is used: importing it runs JAX computations, which must
# wait until the CLI has set the number of CPU devices.

# ---------------------------------------------------------------- the sampler
# Chosen by running ours with 4 chains from START for 200-600 steps at step sizes from 1e-4
# to 8e-4 (blackjax agreed at 3.6e-4: 0.89 against our 0.90 over 300 steps). From this
# start the chains climb from a log density of about -275,000 toward the posterior, into
# ever sharper regions, so the acceptance rate falls along the run: about 0.99 at 1e-4 and
# 2e-4; at 3.5e-4 to 3.7e-4 about 0.9 over 200-300 steps (at 3.6e-4, 0.96 in the first
# quarter of 300 steps and 0.85 in the last; 0.75 in the last quarter of 600 steps at
# 3.5e-4); at 3.85e-4 erratic (0.37 to 0.90 by quarter); from 4e-4 leapfrog turns unstable
# on the way and the chains stop moving (acceptance 0). 3.6e-4 keeps a margin below that edge.
STEP_SIZE = 3.6e-4
NUM_INTEGRATION_STEPS = 10  # leapfrog steps, i.e. gradient evaluations, per HMC step
CHAIN_SEED = 1  # the key every contender's randomness derives from
START_SEED = 2  # init_params(key(START_SEED)) is every chain's starting position

# ---------------------------------------------------------------- the benchmark
DEFAULTS = {"steps": 300, "chains": 2, "repeats": 5, "scaling_steps": 100, "devices": (1, 2, 4, 8)}
QUICK = {"steps": 10, "chains": 2, "repeats": 1, "scaling_steps": 5, "devices": (1, 2, 4, 8)}
CPU_DEVICES = max(DEFAULTS["devices"])  # this target's default --cpu-devices
TARGET_VS_BLACKJAX = 1.0
ACCEPTANCE_TOLERANCE = 0.1  # the largest difference of mean acceptance rates called agreement

OURS_ONE, OURS_DEFAULT, OURS_TERMS, BLACKJAX = (
    "ours (1 device)", "ours (default mesh)", "ours, terms (1 device)", "blackjax")
OURS = (OURS_ONE, OURS_DEFAULT, OURS_TERMS)

Params = dict[str, dict[str, jax.Array]]
Batch = tuple[jax.Array, jax.Array]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench hmc`` (and its default of 8 CPU devices)."""
    parser.set_defaults(cpu_devices=CPU_DEVICES)
    for action in parser._actions:  # the shared help would call the new default "all cores available"
        if action.dest == "cpu_devices":
            action.help = (f"expose N CPU cores as N JAX devices (default here {CPU_DEVICES}, the largest of "
                           "--devices; more devices than cores is fine for the scaling check)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="S",
                        help=f"HMC steps per chain in the comparison, {NUM_INTEGRATION_STEPS} gradient evaluations "
                             f"each (default {DEFAULTS['steps']}; --quick: {QUICK['steps']})")
    parser.add_argument("--chains", type=positive_int, default=None, metavar="C",
                        help=f"chains in the comparison (default {DEFAULTS['chains']}; --quick: {QUICK['chains']})")
    parser.add_argument("--repeats", type=positive_int, default=None, metavar="R",
                        help="timed runs per contender and per device count; the median is reported, the best "
                             f"beside it (default {DEFAULTS['repeats']}; --quick: {QUICK['repeats']})")
    parser.add_argument("--scaling-steps", type=positive_int, default=None, metavar="S",
                        help=f"HMC steps per run in the scaling check (default {DEFAULTS['scaling_steps']}; "
                             f"--quick: {QUICK['scaling_steps']})")
    parser.add_argument("--devices", type=positive_int_list, default=None, metavar="K1,K2,...",
                        help="device counts of the scaling check, each dividing the 10,000 rows (default 1,2,4,8); "
                             "needs --cpu-devices at least the largest on CPU")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke setting: {QUICK['steps']} steps, {QUICK['chains']} chains, 1 repeat, "
                             f"{QUICK['scaling_steps']} scaling steps (explicit options win)")


# ================================================================ the log densities


def log_posterior(params: Params, batch: Batch) -> jax.Array:
    """The exact full-batch log posterior, a scalar (what blackjax and our plain rows get)."""
    x, y = batch
    return log_prior(params) + jnp.sum(log_likelihood(params, x, y))


def log_posterior_terms(params: Params, batch: Batch) -> tuple[jax.Array, jax.Array]:
    """The same, as its terms ``(log prior, log-likelihood)``, each differenced on its own by ours."""
    x, y = batch
    return log_prior(params), jnp.sum(log_likelihood(params, x, y))


def sharded_log_posterior() -> Callable[[Params, Batch], jax.Array]:
    """The full-batch log posterior with the log-likelihood summed over the mesh's 'data' axis.

    Each 'data' device holds a slice of the rows; :func:`samplers.mesh.sum_over_data` adds
    the slices' sums and their gradients (outside a mesh it is the plain sum).
    """

    def likelihood_sum(params: Params, rows: Batch) -> jax.Array:
        return jnp.sum(log_likelihood(params, *rows))

    summed = samplers.mesh.sum_over_data(likelihood_sum)
    return lambda params, batch: log_prior(params) + summed(params, batch)


def starting_position() -> Params:
    """The position every chain of every contender starts from."""
    return init_params(jax.random.key(START_SEED))


# ================================================================ measuring


@dataclasses.dataclass
class HMCMeasurement(Measurement):
    """A :class:`experiments.bench.sgmcmc.Measurement` with the acceptance rate of its untimed run.

    Attributes:
        acceptance_rate: the mean over chains and steps of every step's acceptance
            probability, from the contender's untimed run (NaN when it had none).
    """

    acceptance_rate: float = math.nan


def run_ours(logdensity_fn: Callable, data: Batch, num_chains: int, num_steps: int, mesh=None, *,
             every_step: bool = False) -> samplers.SampleResult:
    """One call of :func:`samplers.sample` with our HMC (it compiles on every call).

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, a scalar or a tuple of terms.
        data: ``(X, y)``, every step's batch.
        num_chains, num_steps: chains, and HMC steps per chain.
        mesh: the device mesh (None: the driver's default).
        every_step: record every step's info, no positions (for the acceptance rate);
            otherwise keep only the final draw.

    Returns:
        The driver's :class:`samplers.SampleResult`.
    """
    return samplers.sample(
        samplers.hmc(logdensity_fn, STEP_SIZE, NUM_INTEGRATION_STEPS), jax.random.key(CHAIN_SEED),
        starting_position(), data, num_chains=num_chains, num_steps=num_steps, burn_in=0,
        thin=1 if every_step else num_steps, keep_samples=not every_step, mesh=mesh, progress=False)


def our_contender(contender: str, data: Batch, num_chains: int, num_steps: int) -> Callable[[], tuple]:
    """One timed call of our driver as ``contender`` says, as a function (it compiles on every call).

    Returns:
        ``run() -> (seconds, compile seconds, final positions)``, the positions with leading
        axis ``chain``.
    """
    mesh = None if contender == OURS_DEFAULT else samplers.make_mesh(1, 1)
    logdensity_fn = log_posterior_terms if contender == OURS_TERMS else log_posterior

    def run() -> tuple[float, float, Any]:
        result = run_ours(logdensity_fn, data, num_chains, num_steps, mesh)
        return (result.timings["sampling_seconds"], result.timings["compile_seconds"],
                jax.tree.map(lambda leaf: leaf[:, -1], result.samples))

    return run


def our_acceptance_rate(logdensity_fn: Callable, data: Batch, num_chains: int, num_steps: int) -> float:
    """The mean acceptance rate of an untimed one-device run recording every step.

    Draws do not depend on the mesh or on ``thin`` (up to float rounding), so this is also
    the acceptance rate of the timed runs, on any mesh.
    """
    info = run_ours(logdensity_fn, data, num_chains, num_steps, samplers.make_mesh(1, 1), every_step=True).info
    return float(np.mean(info["acceptance_rate"]))


def build_blackjax_program(num_steps: int) -> Callable:
    """``jit(vmap)`` over chains of ``blackjax.hmc``'s init and ``num_steps`` steps under ``lax.scan``.

    Returns:
        ``program(chain_keys, positions, data) -> (final positions, acceptance rates)``,
        chains on the leading axis, acceptance rates of shape ``(chains, num_steps)``.
        Step ``t`` of a chain uses ``fold_in(chain key, t)``.
    """
    import blackjax

    def run_chain(chain_key: jax.Array, position: Params, data: Batch) -> tuple[Params, jax.Array]:
        num_params = sum(leaf.size for leaf in jax.tree.leaves(position))
        algorithm = blackjax.hmc(lambda params: log_posterior(params, data), STEP_SIZE,
                                 jnp.ones(num_params, jnp.float32), NUM_INTEGRATION_STEPS)

        def one_step(state, t):
            state, info = algorithm.step(jax.random.fold_in(chain_key, t), state)
            return state, info.acceptance_rate

        state, acceptance = jax.lax.scan(one_step, algorithm.init(position), jnp.arange(num_steps))
        return state.position, acceptance

    return jax.jit(jax.vmap(run_chain, in_axes=(0, 0, None)))


def blackjax_contender(data: Batch, num_chains: int, num_steps: int) -> tuple[Callable[[], tuple], float]:
    """Compile blackjax's program once and run it once untimed (its acceptance rate, and a warm-up).

    Returns:
        ``run() -> (seconds, compile seconds, final positions)`` timing one call of the
        compiled program on one device (the compile seconds are the one compilation's),
        and the mean acceptance rate.
    """
    program = build_blackjax_program(num_steps)
    positions = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (num_chains,) + leaf.shape), starting_position())
    args = (jax.random.split(jax.random.key(CHAIN_SEED), num_chains), positions, data)
    began = time.perf_counter()
    compiled = program.lower(*args).compile()
    compile_seconds = time.perf_counter() - began
    _, acceptance = jax.block_until_ready(compiled(*args))

    def run() -> tuple[float, float, Any]:
        began = time.perf_counter()
        final, _ = jax.block_until_ready(compiled(*args))
        return time.perf_counter() - began, compile_seconds, final

    return run, float(np.mean(acceptance))


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
    base = QUICK if args.quick else DEFAULTS
    settings = {name: base[name] if getattr(args, name) is None else getattr(args, name) for name in DEFAULTS}
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
