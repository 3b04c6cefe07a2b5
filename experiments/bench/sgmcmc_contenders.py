"""The contenders of ``posterior bench sgmcmc``: our SGLD/SGHMC, blackjax's, and a hand-fused loop.

The samplers' settings (:data:`STEP_SIZE`, :data:`FRICTION`, and :data:`STEP_QUANTUM`, the
step count every contender can take with the same number of gradients), the contenders'
names, :func:`build_reference_program` (the ``jit(vmap(scan))`` loop over epochs of
minibatches that blackjax's and the hand-fused steps run in), those steps, and
:data:`SAMPLERS`: SGLD and SGHMC, each in every contender's form.
"""

import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

import samplers
from samplers.minibatch import permutation as shuffle_rows
from experiments.bench.settings import (BATCH_SIZE, BATCHES_PER_EPOCH, BLACKJAX_SGHMC_GRADIENTS_PER_CALL,
                                        DATA_SIZE)
from experiments.bench.mlp_regression import Batch, Params, log_likelihood, log_prior, log_posterior_estimate

# blackjax is imported where it is used: importing it runs JAX computations, which must
# wait until the CLI has set the number of CPU devices.

STEP_SIZE = 5e-8  # SGLD epsilon, SGHMC eta; blackjax.sghmc (explicit Euler) diverges at 2e-7 with 16 chains
FRICTION = 0.05

OURS_ALL, OURS_ONE, BLACKJAX, HAND_FUSED = "ours (all devices)", "ours (1 device)", "blackjax", "hand-fused"


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
        ours: ``(logdensity_fn, step_size=STEP_SIZE) -> samplers.SamplingAlgorithm``.
        hand_fused_init: ``params -> state`` of the hand-fused loop.
        hand_fused_step: ``step(key, state, batch) -> state``.
        blackjax_step: builds blackjax's ``step(key, position, batch) -> position``.
        blackjax_gradients_per_call: gradient evaluations in one blackjax step.
        blackjax_note: how blackjax's step differs, printed under the table.
    """

    name: str
    ours: Callable[..., Any]
    hand_fused_init: Callable[[Params], Any]
    hand_fused_step: Callable
    blackjax_step: Callable[[], Callable]
    blackjax_gradients_per_call: int
    blackjax_note: str


SAMPLERS = (
    Sampler(
        name="SGLD",
        ours=lambda logdensity, step_size=STEP_SIZE: samplers.sgld(logdensity, step_size),
        hand_fused_init=lambda params: params,
        hand_fused_step=hand_fused_sgld_step,
        blackjax_step=blackjax_sgld_step,
        blackjax_gradients_per_call=1,
        blackjax_note="blackjax.sgld: one gradient per call, same update as ours.",
    ),
    Sampler(
        name="SGHMC",
        ours=lambda logdensity, step_size=STEP_SIZE: samplers.sghmc(logdensity, step_size, friction=FRICTION),
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
