"""The contenders of ``posterior bench hmc``: our HMC, three ways, and blackjax's, each as a timed run.

The sampler's settings (:data:`STEP_SIZE`, :data:`NUM_INTEGRATION_STEPS`, the seeds), the
contenders' names, the full-batch log densities (a scalar, its terms, and the sum over
the mesh's 'data' axis that the scaling check runs), :func:`run_ours` (one call of our
driver), and for each contender a function timing one run (:func:`our_contender`,
:func:`blackjax_contender`), with the acceptance rate of an untimed run
(:func:`our_acceptance_rate`; blackjax's comes with its contender).
"""

import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from experiments.bench.mlp_regression import Batch, Params, init_params, log_likelihood, log_prior
from experiments.bench.settings import HMC_NUM_INTEGRATION_STEPS as NUM_INTEGRATION_STEPS
from experiments.bench.timing import compile_timed

# blackjax is imported where it is used: importing it runs JAX computations, which must
# wait until the CLI has set the number of CPU devices.

# Chosen by running ours with 4 chains from START for 200-600 steps at step sizes from 1e-4
# to 8e-4 (blackjax agreed at 3.6e-4: 0.89 against our 0.90 over 300 steps). From this
# start the chains climb from a log density of about -275,000 toward the posterior, into
# ever sharper regions, so the acceptance rate falls along the run: about 0.99 at 1e-4 and
# 2e-4; at 3.5e-4 to 3.7e-4 about 0.9 over 200-300 steps (at 3.6e-4, 0.96 in the first
# quarter of 300 steps and 0.85 in the last; 0.75 in the last quarter of 600 steps at
# 3.5e-4); at 3.85e-4 erratic (0.37 to 0.90 by quarter); from 4e-4 leapfrog turns unstable
# on the way and the chains stop moving (acceptance 0). 3.6e-4 keeps a margin below that edge.
STEP_SIZE = 3.6e-4
CHAIN_SEED = 1  # the key every contender's randomness derives from
START_SEED = 2  # init_params(key(START_SEED)) is every chain's starting position

OURS_ONE, OURS_DEFAULT, OURS_TERMS, BLACKJAX = (
    "ours (1 device)", "ours (default mesh)", "ours, terms (1 device)", "blackjax")
OURS = (OURS_ONE, OURS_DEFAULT, OURS_TERMS)


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


def run_ours(logdensity_fn: Callable, data: Batch, num_chains: int, num_steps: int, mesh=None, *,
             every_step: bool = False) -> samplers.SampleResult:
    """One call of :func:`samplers.sample` with our HMC, compiled afresh (the process's
    program cache is emptied first, so that every call is timed as a new process's first).

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
    samplers.programs.clear()
    return samplers.sample(
        samplers.hmc(logdensity_fn, STEP_SIZE, NUM_INTEGRATION_STEPS), jax.random.key(CHAIN_SEED),
        starting_position(), data, num_chains=num_chains, num_steps=num_steps, burn_in=0,
        thin=1 if every_step else num_steps, keep_samples=not every_step, mesh=mesh, progress=False)


def our_contender(contender: str, data: Batch, num_chains: int, num_steps: int) -> Callable[[], tuple]:
    """One timed call of our driver as ``contender`` says, as a function (compiled afresh every call).

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
    compiled, compile_seconds = compile_timed(program, args)
    _, acceptance = jax.block_until_ready(compiled(*args))

    def run() -> tuple[float, float, Any]:
        began = time.perf_counter()
        final, _ = jax.block_until_ready(compiled(*args))
        return time.perf_counter() - began, compile_seconds, final

    return run, float(np.mean(acceptance))
