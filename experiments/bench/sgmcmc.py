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
"""

import argparse
import dataclasses
import datetime
import json
import math
import platform
import statistics
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from samplers.minibatch import permutation as shuffle_rows
from experiments.arguments import available_cores, positive_int, positive_int_list
from experiments.bench import log

# blackjax is imported where it is used: importing it runs JAX computations, which must
# wait until the CLI has set the number of CPU devices.

# ---------------------------------------------------------------- the problem
DATA_SIZE = 10_000
NUM_FEATURES = 8
HIDDEN_WIDTHS = (50, 50)
BATCH_SIZE = 128
BATCHES_PER_EPOCH = DATA_SIZE // BATCH_SIZE  # 78; the 16 rows left over are skipped
NOISE_STD = 0.2  # of the synthetic targets, and of the Gaussian likelihood
PRIOR_STD = 1.0
DATA_SEED = 0
CHAIN_SEED = 1

# ---------------------------------------------------------------- the samplers
STEP_SIZE = 5e-8  # SGLD epsilon, SGHMC eta; blackjax.sghmc (explicit Euler) diverges at 2e-7 with 16 chains
FRICTION = 0.05
BLACKJAX_SGHMC_GRADIENTS_PER_CALL = 10  # blackjax.sghmc's num_integration_steps default
STEP_QUANTUM = BATCHES_PER_EPOCH * BLACKJAX_SGHMC_GRADIENTS_PER_CALL  # 780

# ---------------------------------------------------------------- the benchmark
DEFAULTS = {"steps": 12_000, "chains": (1, 16), "repeats": 3}
QUICK = {"steps": STEP_QUANTUM, "chains": (1, 2), "repeats": 1}
COMPILE_CHECK_FACTOR = 4
TARGET_VS_BLACKJAX = 1.3
TARGET_VS_HAND_FUSED = 0.9

OURS_ALL, OURS_ONE, BLACKJAX, HAND_FUSED = "ours (all devices)", "ours (1 device)", "blackjax", "hand-fused"
# (numerator, denominator, target) of every ratio reported, in gradient evaluations per second.
RATIOS = (
    (OURS_ALL, BLACKJAX, TARGET_VS_BLACKJAX),
    (OURS_ONE, BLACKJAX, TARGET_VS_BLACKJAX),
    (OURS_ONE, HAND_FUSED, TARGET_VS_HAND_FUSED),
    (OURS_ALL, HAND_FUSED, TARGET_VS_HAND_FUSED),
)

Params = dict[str, dict[str, jax.Array]]
Batch = tuple[jax.Array, jax.Array]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench sgmcmc``."""
    parser.add_argument("--steps", type=positive_int, default=None, metavar="S",
                        help=f"gradient evaluations per chain, rounded to a multiple of {STEP_QUANTUM} "
                             f"(default {DEFAULTS['steps']}; --quick: {QUICK['steps']})")
    parser.add_argument("--chains", type=positive_int_list, default=None, metavar="C1,C2,...",
                        help="chain counts to run (default 1,16; --quick: 1,2)")
    parser.add_argument("--repeats", type=positive_int, default=None, metavar="R",
                        help="timed runs per contender; the best (fastest) is reported, the median beside it "
                             f"(default {DEFAULTS['repeats']}; --quick: {QUICK['repeats']})")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke setting: {QUICK['steps']} steps, chains 1,2, 1 repeat (explicit options win)")


# ================================================================ the problem


def true_function(x: jax.Array) -> jax.Array:
    """The noiseless regression target: a fixed nonlinear function of the 8 features."""
    return (jnp.sin(2.0 * x[..., 0]) + 0.5 * x[..., 1] * x[..., 2] + jnp.tanh(x[..., 3] - x[..., 4])
            + 0.3 * jnp.cos(x[..., 5]) * x[..., 6] - 0.2 * x[..., 7] ** 2)


def make_data(seed: int = DATA_SEED) -> Batch:
    """``(X, y)``: ``X ~ N(0, 1)`` of shape (10000, 8), ``y = f(X) + N(0, NOISE_STD^2)``."""
    features_key, noise_key = jax.random.split(jax.random.key(seed))
    x = jax.random.normal(features_key, (DATA_SIZE, NUM_FEATURES), jnp.float32)
    y = true_function(x) + NOISE_STD * jax.random.normal(noise_key, (DATA_SIZE,), jnp.float32)
    return x, y


def init_params(key: jax.Array) -> Params:
    """MLP weights ``N(0, 1/fan_in)`` and zero biases, layers ``layer0 .. layer2``."""
    widths = (NUM_FEATURES, *HIDDEN_WIDTHS, 1)
    keys = jax.random.split(key, len(widths) - 1)
    return {
        f"layer{i}": {
            "w": jax.random.normal(k, (fan_in, fan_out), jnp.float32) / math.sqrt(fan_in),
            "b": jnp.zeros((fan_out,), jnp.float32),
        }
        for i, (k, fan_in, fan_out) in enumerate(zip(keys, widths[:-1], widths[1:]))
    }


def mlp(params: Params, x: jax.Array) -> jax.Array:
    """The network's output for inputs ``x`` of shape ``(..., 8)``: shape ``(...)``."""
    layers = [params[f"layer{i}"] for i in range(len(params))]
    for layer in layers[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"])
    return (x @ layers[-1]["w"] + layers[-1]["b"])[..., 0]


def log_likelihood(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Gaussian log-density of each target ``y`` given the network at ``x`` (shape of ``y``)."""
    residual = (y - mlp(params, x)) / NOISE_STD
    return -0.5 * residual**2 - math.log(NOISE_STD) - 0.5 * math.log(2.0 * math.pi)


def log_prior(params: Params) -> jax.Array:
    """Independent ``N(0, PRIOR_STD^2)`` on every weight and bias."""
    return sum(jnp.sum(-0.5 * (leaf / PRIOR_STD) ** 2 - math.log(PRIOR_STD) - 0.5 * math.log(2.0 * math.pi))
               for leaf in jax.tree.leaves(params))


def log_posterior_estimate(params: Params, batch: Batch) -> jax.Array:
    """Unbiased estimate of the log posterior: ``log prior + (N / B) * minibatch log-likelihood``."""
    x, y = batch
    return log_prior(params) + (DATA_SIZE / y.shape[0]) * jnp.sum(log_likelihood(params, x, y))


# ================================================================ reference loops


def build_reference_program(step: Callable, num_epochs: int) -> Callable:
    """``jit(vmap(scan))`` of ``step(key, state, batch) -> state`` over epochs of minibatches.

    Per chain: an outer ``lax.scan`` over epochs draws a fresh permutation of the rows
    (with the driver's shuffle; ``jax.random.permutation``'s key-value sort costs several times more);
    an inner one takes its 78 batches of 128 in order (the 16 rows left over are
    skipped), one ``step`` per batch, with the key ``fold_in(step_key, call index)``.

    Returns:
        ``program(chain_keys, states, data) -> states``, chains on the leading axis.
    """

    def run_chain(chain_key: jax.Array, state: Any, data: Batch) -> Any:
        permutation_key, step_key = jax.random.split(chain_key)

        def one_epoch(state, epoch):
            order = shuffle_rows(jax.random.fold_in(permutation_key, epoch), DATA_SIZE)
            batch_rows = order[: BATCHES_PER_EPOCH * BATCH_SIZE].reshape(BATCHES_PER_EPOCH, BATCH_SIZE)
            call_indices = epoch * BATCHES_PER_EPOCH + jnp.arange(BATCHES_PER_EPOCH)

            def one_call(state, rows_and_index):
                rows, index = rows_and_index
                batch = jax.tree.map(lambda column: column[rows], data)
                return step(jax.random.fold_in(step_key, index), state, batch), None

            return jax.lax.scan(one_call, state, (batch_rows, call_indices))[0], None

        return jax.lax.scan(one_epoch, state, jnp.arange(num_epochs))[0]

    return jax.jit(jax.vmap(run_chain, in_axes=(0, 0, None)))


def gradient_and_noise(key: jax.Array, params: Params, batch: Batch) -> tuple[Params, Params]:
    """The minibatch gradient of the log posterior and standard normal noise, one key per leaf."""
    grad = jax.grad(log_posterior_estimate)(params, batch)
    leaves, treedef = jax.tree.flatten(params)
    leaf_keys = jax.random.split(key, len(leaves))
    noise = [jax.random.normal(k, leaf.shape, leaf.dtype) for k, leaf in zip(leaf_keys, leaves)]
    return grad, jax.tree.unflatten(treedef, noise)


def hand_fused_sgld_step(key: jax.Array, params: Params, batch: Batch) -> Params:
    """``theta <- theta + eps g + sqrt(2 eps) xi``."""
    grad, noise = gradient_and_noise(key, params, batch)
    noise_scale = math.sqrt(2.0 * STEP_SIZE)
    return jax.tree.map(lambda p, g, n: p + STEP_SIZE * g + noise_scale * n, params, grad, noise)


def hand_fused_sghmc_step(key: jax.Array, state: tuple[Params, Params], batch: Batch) -> tuple[Params, Params]:
    """``v <- (1 - a) v + eta g + sqrt(2 a eta) xi; theta <- theta + v``."""
    params, velocity = state
    grad, noise = gradient_and_noise(key, params, batch)
    noise_scale = math.sqrt(2.0 * FRICTION * STEP_SIZE)
    velocity = jax.tree.map(lambda v, g, n: (1.0 - FRICTION) * v + STEP_SIZE * g + noise_scale * n,
                            velocity, grad, noise)
    return jax.tree.map(jnp.add, params, velocity), velocity


def blackjax_grad_estimator() -> Callable:
    """blackjax's estimator of the same posterior's gradient.

    ``grad_estimator(logprior, loglikelihood, N)`` differentiates ``logprior(position) +
    N * mean(vmap(loglikelihood)(position, minibatch))``, with ``loglikelihood`` taking
    ONE datum: exactly :func:`log_posterior_estimate`, with the same signs.
    """
    import blackjax.sgmcmc.gradients

    def datum_log_likelihood(params: Params, datum: tuple[jax.Array, jax.Array]) -> jax.Array:
        return log_likelihood(params, *datum)

    return blackjax.sgmcmc.gradients.grad_estimator(log_prior, datum_log_likelihood, DATA_SIZE)


def blackjax_sgld_step() -> Callable:
    """``step(key, position, batch) -> position`` of ``blackjax.sgld`` at ``STEP_SIZE``."""
    import blackjax

    algorithm = blackjax.sgld(blackjax_grad_estimator())
    return lambda key, position, batch: algorithm.step(key, position, batch, STEP_SIZE)


def blackjax_sghmc_step() -> Callable:
    """``blackjax.sghmc`` matched to our SGHMC: 10 gradients per call on one minibatch.

    blackjax integrates ``x += h p; p <- (1 - alpha h) p + h g + sqrt(2 alpha h) xi``.
    With ``v = h p`` that is our momentum-SGD form with ``eta = h^2`` and friction
    ``a = alpha h``: so ``h = sqrt(eta)`` and ``alpha = a / h``. Each call draws a fresh
    momentum ``p ~ N(0, I)`` (ours keeps its momentum between steps).
    """
    import blackjax

    physical_step = math.sqrt(STEP_SIZE)
    algorithm = blackjax.sghmc(blackjax_grad_estimator(), num_integration_steps=BLACKJAX_SGHMC_GRADIENTS_PER_CALL,
                               alpha=FRICTION / physical_step)
    return lambda key, position, batch: algorithm.step(key, position, batch, physical_step)


class Sampler(NamedTuple):
    """One sampler, in each contender's form.

    Attributes:
        name: as printed.
        ours: ``logdensity_fn -> samplers.SamplingAlgorithm``.
        hand_fused_init: ``params -> state`` of the hand-fused loop.
        hand_fused_step: ``step(key, state, batch) -> state``.
        blackjax_step: builds blackjax's ``step(key, position, batch) -> position``.
        blackjax_gradients_per_call: gradient evaluations in one blackjax step.
        blackjax_note: how blackjax's step differs, printed under the table.
    """

    name: str
    ours: Callable[[Callable], Any]
    hand_fused_init: Callable[[Params], Any]
    hand_fused_step: Callable
    blackjax_step: Callable[[], Callable]
    blackjax_gradients_per_call: int
    blackjax_note: str


SAMPLERS = (
    Sampler(
        name="SGLD",
        ours=lambda logdensity: samplers.sgld(logdensity, STEP_SIZE),
        hand_fused_init=lambda params: params,
        hand_fused_step=hand_fused_sgld_step,
        blackjax_step=blackjax_sgld_step,
        blackjax_gradients_per_call=1,
        blackjax_note="blackjax.sgld: one gradient per call, same update as ours.",
    ),
    Sampler(
        name="SGHMC",
        ours=lambda logdensity: samplers.sghmc(logdensity, STEP_SIZE, friction=FRICTION),
        hand_fused_init=lambda params: (params, jax.tree.map(jnp.zeros_like, params)),
        hand_fused_step=hand_fused_sghmc_step,
        blackjax_step=blackjax_sghmc_step,
        blackjax_gradients_per_call=BLACKJAX_SGHMC_GRADIENTS_PER_CALL,
        blackjax_note=(f"blackjax.sghmc: each call resamples the momentum and takes "
                       f"{BLACKJAX_SGHMC_GRADIENTS_PER_CALL} leapfrog gradients on ONE minibatch (its design), "
                       f"so it consumes 1/{BLACKJAX_SGHMC_GRADIENTS_PER_CALL} of the minibatches the others do; "
                       f"counted as {BLACKJAX_SGHMC_GRADIENTS_PER_CALL} gradient evaluations per call."),
    ),
)

# ================================================================ measuring


@dataclasses.dataclass
class Measurement:
    """The timed runs of one contender at one chain count.

    Attributes:
        sampler, contender: what ran.
        num_chains: chains advanced together.
        num_devices: devices they were spread over.
        gradients_per_chain: gradient evaluations per chain in one run.
        seconds: wall time of each timed run, compilation excluded.
        compile_seconds: compilation time of each run (ours compiles on every call; the
            reference loops compile once).
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


def measurement_rows(measurements: list[Measurement], cells: Callable[[Measurement], list[str]]) -> list[str]:
    """Markdown rows ``| contender [note] | chains | devices | cells... | finite |``, then the numbered notes.

    Args:
        measurements: one row each, in order.
        cells: the columns between ``devices`` and ``finite`` of a measurement's row.
    """
    rows, notes = [], []
    for m in measurements:
        marker = ""
        if m.note:
            notes.append(m.note)
            marker = f" [{len(notes)}]"
        rows.append(f"| {m.contender}{marker} | {m.num_chains} | {m.num_devices} | " + " | ".join(cells(m))
                    + f" | {'yes' if m.finite else 'NO: DIVERGED'} |")
    return rows + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]


def publish(sections: list[str], diverged: list[str], output: str | None, numbers: dict) -> None:
    """Print the report: its sections and whether anything diverged (stdout); write the numbers as JSON.

    Args:
        sections: markdown sections, printed in order, separated by blank lines.
        diverged: what ended with a non-finite position (empty: nothing).
        output: where to write ``numbers`` and ``diverged`` as JSON (None: nowhere).
        numbers: every number of the report.
    """
    verdict = ("All final positions finite." if not diverged
               else "DIVERGED (non-finite final positions): " + "; ".join(diverged))
    print("\n\n".join([*sections, verdict]), flush=True)
    if output:
        with open(output, "w") as file:
            json.dump(dict(numbers, diverged=diverged), file, indent=2)
        log(f"wrote {output}")


def all_finite(tree: Any) -> bool:
    """Whether every element of every leaf of ``tree`` is finite."""
    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in jax.tree.leaves(tree))


def run_ours(sampler: Sampler, data: Batch, num_chains: int, num_steps: int, mesh=None) -> samplers.SampleResult:
    """One call of :func:`samplers.sample` keeping only the final draw (it compiles on every call)."""
    return samplers.sample(
        sampler.ours(log_posterior_estimate), jax.random.key(CHAIN_SEED), init_params, data,
        num_chains=num_chains, num_steps=num_steps, burn_in=0, thin=num_steps, batch_size=BATCH_SIZE,
        mesh=mesh, progress=False)


def measure_ours(sampler: Sampler, data: Batch, num_chains: int, num_steps: int, repeats: int,
                 one_device: bool) -> Measurement:
    """Time ``repeats`` whole calls of our driver, on the default or a one-device mesh."""
    mesh = samplers.make_mesh(1, 1) if one_device else None
    num_devices = 1 if one_device else samplers.mesh.default_mesh(num_chains).devices.size
    results = [run_ours(sampler, data, num_chains, num_steps, mesh) for _ in range(repeats)]
    return Measurement(
        sampler=sampler.name, contender=OURS_ONE if one_device else OURS_ALL, num_chains=num_chains,
        num_devices=num_devices, gradients_per_chain=num_steps,
        seconds=[r.timings["sampling_seconds"] for r in results],
        compile_seconds=[r.timings["compile_seconds"] for r in results],
        finite=all(all_finite(r.samples) for r in results))


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

    began = time.perf_counter()
    compiled = program.lower(*args).compile()
    compile_seconds = time.perf_counter() - began
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


# ================================================================ reporting


def environment() -> dict:
    """Versions, devices and date, for the report's header."""
    import blackjax
    import jaxlib

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "blackjax": blackjax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "machine": f"{platform.machine()}, {available_cores()} cores available",
    }


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


def problem_description() -> str:
    """The model and data, in words."""
    return (f"{DATA_SIZE:,} x {NUM_FEATURES} synthetic regression, "
            f"{'-'.join(map(str, (NUM_FEATURES, *HIDDEN_WIDTHS, 1)))} tanh MLP, Gaussian likelihood "
            f"(std {NOISE_STD}), N(0, {PRIOR_STD:g}) prior")


def environment_lines(env: dict) -> list[str]:
    """The report's lines on when and where it ran, from :func:`environment`."""
    return [f"- date: {env['date']}",
            f"- jax {env['jax']} (jaxlib {env['jaxlib']}), blackjax {env['blackjax']}, python {env['python']}",
            f"- backend {env['backend']}, devices: {', '.join(env['devices'])} ({env['machine']})"]


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
    base = QUICK if args.quick else DEFAULTS
    settings = {name: base[name] if getattr(args, name) is None else getattr(args, name) for name in DEFAULTS}
    settings["requested_steps"] = settings["steps"]
    settings["steps"] = max(1, round(settings["steps"] / STEP_QUANTUM)) * STEP_QUANTUM
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

    sections = [format_header(env, settings)]
    sections += [format_sampler_tables(s, [m for m in measurements if m.sampler == s.name],
                                       [r for r in ratios if r["sampler"] == s.name], chain_counts, repeats)
                 for s in SAMPLERS]
    sections.append(format_compile_growth(growth))
    diverged = [f"{m.sampler} {m.contender} ({m.num_chains} chains)" for m in measurements if not m.finite]
    publish(sections, diverged, args.output, {
        "environment": env,
        "settings": dict(settings, chains=list(chain_counts), step_size=STEP_SIZE, friction=FRICTION,
                         batch_size=BATCH_SIZE, data_size=DATA_SIZE),
        "measurements": [dict(dataclasses.asdict(m), best_rate=m.best_rate, median_rate=m.median_rate)
                         for m in measurements],
        "ratios": ratios,
        "compile_growth": growth,
    })
    return 0
