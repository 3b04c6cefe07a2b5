"""Fit a weight prior's hyperparameters so that the network's function-space prior matches a GP.

The distance is the 1-Wasserstein distance between the distribution of ``f(X_M; theta)``,
``theta ~ p_phi``, and a GP's ``g(X_M)`` at measurement points ``X_M``, in its dual form

    W1 = max_{||c||_L <= 1} E[c(f(X_M))] - E[c(g(X_M))],

with a critic ``c`` (an MLP of the vector of function values) kept 1-Lipschitz by a
gradient penalty ``lambda E[(||grad c(x_hat)|| - 1)^2]`` at random interpolates between
paired draws. Each outer iteration draws a measurement set, a bag of network and GP
functions, takes ``critic_steps`` ascent steps on the critic over that bag, then one
descent step on ``phi`` through fresh reparameterised network draws. The whole loop is
one compiled ``lax.scan`` per chunk of outer iterations, with progress reported between
chunks.

A network with several outputs (a classifier's logits) is matched output by output, to
one independent GP function per output: every network draw gives one function per
output, each a row of the draws compared, and the GP side has as many rows, each an
independent GP function. The critic thus compares the per-output marginals of the
network's functions with the GP, as the reference does (one critic for every output);
the estimate is the mean over outputs where the reference takes their sum. Dependence
between a draw's outputs is not compared: the GP's outputs are independent, and a
critic of every output at once would need a ``num_outputs`` times wider input.

Two critic policies: re-initialised every outer iteration (the reference's choice, which
needs hundreds of critic steps to give a usable estimate each time) or warm, carried with
its optimiser state from one iteration to the next, so that a few steps keep it near the
optimum as ``phi`` moves. Estimates of W1 used to compare priors come from a judge
(:func:`w1_judge`): fresh critics trained until their objective settles, never from the
fitting trace.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829.
    Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, Improved training of Wasserstein
    GANs, NeurIPS 2017 (the gradient penalty).
"""

import functools
import math
import time
from typing import Any, Callable, NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from priors import gp
from samplers.progress import Progress

__all__ = ["Critic", "FitResult", "Judgement", "fit", "function_draws", "w1_judge"]

ArrayTree = Any
PRNGKey = jax.Array
ApplyFn = Callable[[ArrayTree, jax.Array], jax.Array]


class Critic(nn.Module):
    """The Lipschitz critic: an MLP with softplus activations from function values to a scalar.

    Attributes:
        widths: the hidden layer widths (the reference's 200-200 by default).
    """

    widths: Sequence[int] = (200, 200)

    @nn.compact
    def __call__(self, values: jax.Array) -> jax.Array:
        x = values
        for width in self.widths:
            x = nn.softplus(nn.Dense(width)(x))
        return nn.Dense(1)(x)[..., 0]


class FitResult(NamedTuple):
    """What :func:`fit` returns.

    Attributes:
        hyperparameters: the fitted (unconstrained) hyperparameters ``phi``.
        prior: ``family.prior(phi)``, the fitted prior for posterior sampling.
        trace: the critic's W1 estimate at every outer iteration, shape
            ``(num_iterations,)``. With a re-initialised critic it is noisy and can be
            negative; use :func:`w1_judge` to compare priors.
        seconds: wall time of the fitting loop, compilation included.
    """

    hyperparameters: ArrayTree
    prior: Any
    trace: np.ndarray
    seconds: float


def function_draws(
    key: PRNGKey, apply_fn: ApplyFn, sample_params: Callable[[PRNGKey], ArrayTree], points: jax.Array, num: int
) -> jax.Array:
    """The functions of ``num`` network draws at ``points``, one row per draw and output.

    Each output unit of a draw is a function of its own (see the module docstring): row
    ``i * outputs + j`` is output ``j`` of draw ``i``, so a single-output network gives
    one row per draw.

    Args:
        key: a JAX PRNG key.
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``.
        sample_params: ``sample_params(key) -> params``, one prior draw.
        points: ``(n, *input_shape)`` inputs.
        num: the number of network draws (a Python int).

    Returns:
        An array of shape ``(num * outputs, n)``.
    """
    values = jax.vmap(lambda k: apply_fn(sample_params(k), points))(jax.random.split(key, num))
    return jnp.swapaxes(values, 1, 2).reshape(-1, points.shape[0])


def _split_arrays(tree: Any) -> tuple[list, Callable[[list], Any]]:
    """The array leaves of ``tree`` and ``rebuild(arrays)``, the tree with those arrays put back.

    A jitted function that closes over an array compiles it into its program as a
    constant, which for a measurement set's training images (CIFAR-10's are 600 MB)
    makes a huge program; passed as arguments, they are not. The other leaves (counts
    that set shapes) stay Python values in ``rebuild``'s closure.
    """
    leaves, treedef = jax.tree.flatten(tree)
    is_array = [isinstance(leaf, jax.Array | np.ndarray) for leaf in leaves]

    def rebuild(arrays: list) -> Any:
        given = iter(arrays)
        return jax.tree.unflatten(treedef, [next(given) if array else leaf for leaf, array in zip(leaves, is_array)])

    return [leaf for leaf, array in zip(leaves, is_array) if array], rebuild


def _critic_loss(critic: Critic, critic_params, key: PRNGKey, network_values, gp_values, penalty: float):
    """Minus the penalised dual objective (what the critic minimises) and the W1 estimate."""
    estimate = jnp.mean(critic.apply(critic_params, network_values)) - jnp.mean(critic.apply(critic_params, gp_values))
    mix = jax.random.uniform(key, (network_values.shape[0], 1), network_values.dtype)
    interpolates = mix * network_values + (1.0 - mix) * gp_values
    input_grads = jax.vmap(jax.grad(lambda v: critic.apply(critic_params, v)))(interpolates)
    grad_norms = jnp.sqrt(jnp.sum(jnp.square(input_grads), axis=-1) + 1e-12)
    return -estimate + penalty * jnp.mean(jnp.square(grad_norms - 1.0)), estimate


def _check_counts(**counts: Any) -> None:
    """Refuse, by name, a count that is not a positive Python integer."""
    for name, value in counts.items():
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _critic_update(critic: Critic, optimizer: optax.GradientTransformation, penalty: float, params, opt_state,
                   mix_key: PRNGKey, network_values: jax.Array, gp_values: jax.Array):
    """One optimiser step of the critic on these draws: ``(params, opt_state, penalised
    objective, estimate)``, the objective and the estimate taken before the step."""
    (loss, estimate), grads = jax.value_and_grad(_critic_loss, argnums=1, has_aux=True)(
        critic, params, mix_key, network_values, gp_values, penalty)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, -loss, estimate


def _critic_steps(critic: Critic, optimizer: optax.GradientTransformation, penalty: float, num_steps: int):
    """``train(key, params, opt_state, bag) -> (params, opt_state, last estimate)``, every
    step on the same ``bag = (network_values, gp_values)``."""

    def train(key, critic_params, opt_state, bag):
        def one_step(carry, step_key):
            critic_params, opt_state, _ = carry
            # The key's second half mixes the sides, as fits have always used it (so a fit
            # keeps its draws); the first half is spare.
            _, mix_key = jax.random.split(step_key)
            critic_params, opt_state, _, estimate = _critic_update(critic, optimizer, penalty, critic_params,
                                                                   opt_state, mix_key, *bag)
            return (critic_params, opt_state, estimate), None

        init = (critic_params, opt_state, jnp.zeros(()))
        return jax.lax.scan(one_step, init, jax.random.split(key, num_steps))[0]

    return train


def fit(
    apply_fn: ApplyFn,
    family: Any,
    target: gp.Kernel | gp.Hierarchical,
    measurement: Any,
    *,
    key: PRNGKey,
    template: ArrayTree,
    num_iterations: int = 200,
    num_functions: int = 128,
    critic_steps: int = 200,
    warm_critic: bool = False,
    critic_optimizer: optax.GradientTransformation | None = None,
    prior_optimizer: optax.GradientTransformation | None = None,
    gradient_penalty: float = 10.0,
    critic_widths: Sequence[int] = (200, 200),
    chunk_size: int = 10,
    progress: bool | None = None,
) -> FitResult:
    """Fit ``family``'s hyperparameters so that the network's functions look like GP draws.

    The defaults are the reference's UCI setting (re-initialised critic, 200 Adagrad
    steps at 0.02, RMSprop at 0.05 on ``phi``, 128 functions, 200 outer iterations).

    Args:
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``; every output is matched to its
            own independent GP function (see the module docstring).
        family: a prior family (``priors.weight.GaussianFamily``, ``GammaFamily``) with
            ``init(template)``, ``sample(key, phi, template)`` and ``prior(phi)``.
        target: the GP (a kernel, or ``gp.Hierarchical`` to redraw its
            hyperparameters for every function).
        measurement: a measurement strategy (``priors.measurement``) with ``num_points``
            and ``sample(key) -> (num_points, *input_shape)``.
        key: a JAX PRNG key.
        template: network parameters of the right structure (e.g. ``network.init``).
        num_iterations: outer iterations (steps on ``phi``).
        num_functions: network draws per iteration (each gives one function per
            output), and as many GP functions per output.
        critic_steps: critic steps per outer iteration.
        warm_critic: carry the critic and its optimiser state across outer iterations
            instead of re-initialising them.
        critic_optimizer: defaults to ``optax.adagrad(0.02)``.
        prior_optimizer: defaults to ``optax.rmsprop(0.05)``.
        gradient_penalty: the penalty weight ``lambda``.
        critic_widths: the critic's hidden widths.
        chunk_size: outer iterations per compiled call (progress is reported between).
        progress: report progress on stderr (:class:`samplers.progress.Progress`: a bar on
            a terminal, a line every tenth of the iterations elsewhere); False: silent.

    Returns:
        A :class:`FitResult`.
    """
    _check_counts(num_iterations=num_iterations, num_functions=num_functions, critic_steps=critic_steps,
                  chunk_size=chunk_size)
    if not gradient_penalty >= 0:
        raise ValueError(f"gradient_penalty must be non-negative, got {gradient_penalty}")
    critic_optimizer = critic_optimizer or optax.adagrad(0.02)
    prior_optimizer = prior_optimizer or optax.rmsprop(0.05)
    critic = Critic(tuple(critic_widths))
    train_critic = _critic_steps(critic, critic_optimizer, gradient_penalty, critic_steps)

    def fresh_critic(key):
        params = critic.init(key, jnp.zeros((measurement.num_points,)))
        return params, critic_optimizer.init(params)

    def network_values(key, phi, points):
        return function_draws(key, apply_fn, lambda k: family.sample(k, phi, template), points, num_functions)

    def outer_iteration(strategy, carry, iteration_key):
        phi, prior_state, critic_params, critic_state = carry
        points_key, gp_key, bag_key, init_key, critic_key, prior_key = jax.random.split(iteration_key, 6)
        points = strategy.sample(points_key)
        bag_values = network_values(bag_key, jax.lax.stop_gradient(phi), points)
        gp_values = gp.sample_functions(gp_key, target, points, bag_values.shape[0])
        bag = (bag_values, gp_values)
        if not warm_critic:
            critic_params, critic_state = fresh_critic(init_key)
        critic_params, critic_state, _ = train_critic(critic_key, critic_params, critic_state, bag)

        def expected_critic(phi):
            return jnp.mean(critic.apply(critic_params, network_values(prior_key, phi, points)))

        network_mean, grads = jax.value_and_grad(expected_critic)(phi)
        estimate = network_mean - jnp.mean(critic.apply(critic_params, gp_values))
        updates, prior_state = prior_optimizer.update(grads, prior_state, phi)
        return (optax.apply_updates(phi, updates), prior_state, critic_params, critic_state), estimate

    measurement_arrays, rebuild_measurement = _split_arrays(measurement)

    @jax.jit
    def run_chunk(carry, keys, measurement_arrays):
        return jax.lax.scan(functools.partial(outer_iteration, rebuild_measurement(measurement_arrays)), carry, keys)

    init_key, loop_key = jax.random.split(key)
    phi = family.init(template)
    carry = (phi, prior_optimizer.init(phi), *fresh_critic(init_key))
    iteration_keys = jax.random.split(loop_key, num_iterations)
    trace = []
    start = time.perf_counter()
    bar = Progress(num_iterations, label="prior fit", unit="iteration", show=progress)
    compiled, compile_seconds = {}, 0.0  # a program per chunk length (the last chunk may be shorter)
    try:
        for first in range(0, num_iterations, chunk_size):
            keys = iteration_keys[first:first + chunk_size]
            if len(keys) not in compiled:
                began = time.perf_counter()
                compiled[len(keys)] = run_chunk.lower(carry, keys, measurement_arrays).compile()
                compile_seconds += time.perf_counter() - began
            carry, estimates = compiled[len(keys)](carry, keys, measurement_arrays)
            estimates = np.asarray(estimates)
            trace.append(estimates)
            bar.update(first + len(keys), excluded_seconds=compile_seconds, note=f"W1 estimate {estimates[-1]:.3f}")
    finally:
        bar.close()
    trace = np.concatenate(trace)
    if not np.all(np.isfinite(trace)):
        raise FloatingPointError(f"prior fit diverged: the Wasserstein estimate is not finite at outer iteration "
                                 f"{int(np.argmin(np.isfinite(trace))) + 1}; lower the learning rates")
    phi = carry[0]
    return FitResult(phi, family.prior(phi), trace, time.perf_counter() - start)


class Judgement(NamedTuple):
    """What a judge from :func:`w1_judge` returns, one entry per prior judged.

    Attributes:
        estimates: the W1 estimates, the dual objective of each prior's trained critic on
            held-out draws.
        standard_errors: their Monte Carlo standard errors over those held-out draws.
        steps: the critic steps each prior's critic took before its stopping rule held.
        seconds: wall time of the judging, compilation included.
    """

    estimates: np.ndarray
    standard_errors: np.ndarray
    steps: np.ndarray
    seconds: float


def _draw_batches(key: PRNGKey, draw: Callable[[PRNGKey], jax.Array], num_batches: int) -> jax.Array:
    """``num_batches`` calls of ``draw`` one after another (bounded memory), rows concatenated."""
    batches = jax.lax.map(draw, jax.random.split(key, num_batches))
    return batches.reshape(-1, batches.shape[-1])


def _select(keep: jax.Array, new: ArrayTree, old: ArrayTree) -> ArrayTree:
    """``new`` where ``keep`` (one flag per leading index), else ``old``."""
    def choose(new_leaf, old_leaf):
        return jnp.where(keep.reshape(keep.shape + (1,) * (new_leaf.ndim - 1)), new_leaf, old_leaf)

    return jax.tree.map(choose, new, old)


def w1_judge(
    apply_fn: ApplyFn,
    sample_params: Callable[[PRNGKey, ArrayTree], ArrayTree],
    target: gp.Kernel | gp.Hierarchical,
    *,
    num_functions: int = 256,
    pool_batches: int = 16,
    held_out_batches: int = 8,
    max_steps: int = 2000,
    check_every: int = 100,
    tolerance: float = 0.01,
    learning_rate: float = 1e-3,
    gradient_penalty: float = 10.0,
    critic_widths: Sequence[int] = (200, 200),
    progress: bool | None = None,
) -> Callable[[PRNGKey, Sequence[ArrayTree], jax.Array], Judgement]:
    """A judge of W1 between network priors and a GP, for comparing priors.

    ``judge(key, [phi_1, phi_2, ...], points)`` judges several priors of one family in
    one compiled program. It draws a pool of ``pool_batches`` batches of
    ``num_functions`` network draws from each prior (a batch is ``num_functions *
    outputs`` functions, as in :func:`function_draws`) and as many GP functions, and a
    held-out set of ``held_out_batches`` batches,
    then trains a fresh critic per prior with Adam on minibatches of the pools. Every
    ``check_every`` steps it compares the mean penalised objective of the last round of
    steps with the round before: a critic stops when its objective rose by less than
    ``tolerance`` of its value, or by less than twice the standard error of the rise
    (it has stopped learning what the noise lets it see), or at ``max_steps``. The
    estimate is the trained critic's dual objective on the held-out draws, which played
    no part in training or stopping.

    All priors share the GP draws, and each prior's critic sees the same initialisation,
    minibatch indices and network-draw keys, and stops on its own objective alone: a
    prior judged with others gets the estimate it gets judged alone, and differences
    between priors are not blurred by different random numbers. Nothing is shared with
    a fit's critic. Minibatches from a pool cost a tenth of fresh draws per step; the
    pool can be overfitted, which the held-out estimate would show as a lower value,
    never as a higher one.

    Args:
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``; every output is compared with
            its own GP function, as in :func:`fit`.
        sample_params: ``sample_params(key, hyperparameters) -> params``, one draw from
            the prior judged (e.g. ``lambda k, phi: family.sample(k, phi, template)``;
            for a fixed prior, ignore ``hyperparameters`` and pass None for them).
        target: the GP.
        num_functions: network draws per minibatch and per drawn batch (each gives one
            function per output; the GP side has as many functions).
        pool_batches: batches of functions per side that the critics train on.
        held_out_batches: batches per side for the estimate.
        max_steps: the most critic steps.
        check_every: critic steps per round between checks of the stopping rule.
        tolerance: the relative rise of the objective below which a critic stops.
        learning_rate: Adam's learning rate for the critics.
        gradient_penalty: the penalty weight.
        critic_widths: the critics' hidden widths.
        progress: report the critic steps on stderr (:class:`samplers.progress.Progress`);
            False: silent.

    Returns:
        ``judge(key, hyperparameters, points) -> Judgement`` with ``hyperparameters`` a
        sequence of the priors' hyperparameters (pytrees of one structure) and ``points``
        the ``(n, *input_shape)`` measurement points. The gradient penalty keeps the critic only
        softly Lipschitz, so an estimate is not a lower bound on W1: use it to compare
        priors judged the same way, not as an absolute distance.
    """
    _check_counts(num_functions=num_functions, pool_batches=pool_batches, held_out_batches=held_out_batches,
                  max_steps=max_steps, check_every=check_every)
    critic = Critic(tuple(critic_widths))
    optimizer = optax.adam(learning_rate)
    num_batches = pool_batches + held_out_batches

    def pool_size(pool: jax.Array) -> int:
        """The rows of a pool that critics train on (the rest are held out), from its static shape."""
        return pool.shape[0] // num_batches * pool_batches

    @jax.jit
    def start(key, stacked, points):
        gp_key, network_key, init_key = jax.random.split(key, 3)

        def network_pool(hyperparameters):
            def draw(k):
                return function_draws(k, apply_fn, lambda k: sample_params(k, hyperparameters), points, num_functions)
            return _draw_batches(network_key, draw, num_batches)

        network_pools = jax.lax.map(network_pool, stacked)
        batch_rows = network_pools.shape[1] // num_batches  # num_functions per output
        gp_pool = _draw_batches(gp_key, lambda k: gp.sample_functions(k, target, points, batch_rows), num_batches)
        params = critic.init(init_key, jnp.zeros((points.shape[0],)))
        critics = jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (network_pools.shape[0], *leaf.shape)),
                               (params, optimizer.init(params)))
        return critics, network_pools, gp_pool

    @functools.partial(jax.jit, static_argnums=0)
    def train_round(num_steps, critics, active, network_pools, gp_pool, key):
        rows, batch_rows = pool_size(gp_pool), pool_size(gp_pool) // pool_batches

        def one_step(critics, step_key):
            network_key, gp_key, mix_key = jax.random.split(step_key, 3)
            network_rows = jax.random.randint(network_key, (batch_rows,), 0, rows)
            gp_values = gp_pool[jax.random.randint(gp_key, (batch_rows,), 0, rows)]

            def update(critic_state, network_pool):
                params, opt_state, objective, _ = _critic_update(critic, optimizer, gradient_penalty, *critic_state,
                                                                 mix_key, network_pool[network_rows], gp_values)
                return (params, opt_state), objective

            updated, objectives = jax.vmap(update)(critics, network_pools)
            return _select(active, updated, critics), objectives

        return jax.lax.scan(one_step, critics, jax.random.split(key, num_steps))

    @jax.jit
    def evaluate(critics, network_pools, gp_pool):
        rows = pool_size(gp_pool)
        gp_held_out = gp_pool[rows:]

        def estimate(params, network_pool):
            network_values = critic.apply(params, network_pool[rows:])
            gp_values = critic.apply(params, gp_held_out)
            error = jnp.sqrt(jnp.var(network_values, ddof=1) / network_values.shape[0]
                             + jnp.var(gp_values, ddof=1) / gp_values.shape[0])
            return jnp.mean(network_values) - jnp.mean(gp_values), error

        return jax.vmap(estimate)(critics[0], network_pools)

    def judge(key: PRNGKey, hyperparameters: Sequence[ArrayTree], points: jax.Array) -> Judgement:
        began = time.perf_counter()
        num_priors = len(hyperparameters)
        start_key, train_key = jax.random.split(key)
        stacked = jax.tree.map(lambda *leaves: jnp.stack(leaves), *hyperparameters)
        critics, network_pools, gp_pool = start(start_key, stacked, points)
        active = np.ones(num_priors, bool)
        steps = np.zeros(num_priors, int)
        previous = None
        compiled, compile_seconds = {}, 0.0
        bar = Progress(max_steps, label="W1 judge", unit="critic step", show=progress)
        try:
            for first in range(0, max_steps, check_every):
                length = min(check_every, max_steps - first)
                arguments = (critics, jnp.asarray(active), network_pools, gp_pool,
                             jax.random.fold_in(train_key, first))
                if length not in compiled:
                    compiling = time.perf_counter()
                    compiled[length] = train_round.lower(length, *arguments).compile()
                    compile_seconds += time.perf_counter() - compiling
                critics, objectives = compiled[length](*arguments)
                objectives = np.asarray(objectives)[:, active]
                if not np.all(np.isfinite(objectives)):
                    raise FloatingPointError("a W1 judge's critic diverged (its objective is not finite); "
                                             "lower learning_rate")
                steps[active] += length
                current = np.full((2, num_priors), np.nan)
                current[0, active] = objectives.mean(axis=0)
                current[1, active] = objectives.std(axis=0, ddof=1) / math.sqrt(length) if length > 1 else np.inf
                if previous is not None:
                    rise = current[0] - previous[0]
                    settled = rise < np.maximum(tolerance * np.abs(previous[0]),
                                                2.0 * np.hypot(current[1], previous[1]))
                    active &= ~settled
                previous = current
                bar.update(first + length, excluded_seconds=compile_seconds,
                           note=f"{int(active.sum())} of {num_priors} critics training")
                if not active.any():
                    break
        finally:
            bar.close()
        estimates, errors = (np.asarray(values) for values in evaluate(critics, network_pools, gp_pool))
        if not np.all(np.isfinite(estimates)):
            raise FloatingPointError("a W1 estimate is not finite; the critic diverged (lower learning_rate)")
        return Judgement(estimates, errors, steps, time.perf_counter() - began)

    return judge
