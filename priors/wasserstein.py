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

Two critic policies: re-initialised every outer iteration (the reference's choice, which
needs hundreds of critic steps to give a usable estimate each time) or warm, carried with
its optimiser state from one iteration to the next, so that a few steps keep it near the
optimum as ``phi`` moves. Estimates of W1 used to compare priors come from
a judge from :func:`w1_estimator`: a fresh critic trained on fresh draws for many steps, never from the
fitting trace.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829.
    Gulrajani, Ahmed, Arjovsky, Dumoulin & Courville, Improved training of Wasserstein
    GANs, NeurIPS 2017 (the gradient penalty).
"""

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

__all__ = ["Critic", "FitResult", "fit", "w1_estimator", "function_draws"]

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
            negative; use :func:`w1_estimator` to compare priors.
        seconds: wall time of the fitting loop, compilation included.
    """

    hyperparameters: ArrayTree
    prior: Any
    trace: np.ndarray
    seconds: float


def function_draws(
    key: PRNGKey, apply_fn: ApplyFn, sample_params: Callable[[PRNGKey], ArrayTree], points: jax.Array, num: int
) -> jax.Array:
    """``num`` network functions at ``points``, ``(num, len(points))``: the first output unit.

    Args:
        key: a JAX PRNG key.
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``.
        sample_params: ``sample_params(key) -> params``, one prior draw.
        points: ``(n, d)`` inputs.
        num: the number of functions (a Python int).
    """
    return jax.vmap(lambda k: apply_fn(sample_params(k), points)[:, 0])(jax.random.split(key, num))


def _critic_loss(critic: Critic, critic_params, key: PRNGKey, network_values, gp_values, penalty: float):
    """Minus the penalised dual objective (what the critic minimises) and the W1 estimate."""
    estimate = jnp.mean(critic.apply(critic_params, network_values)) - jnp.mean(critic.apply(critic_params, gp_values))
    mix = jax.random.uniform(key, (network_values.shape[0], 1), network_values.dtype)
    interpolates = mix * network_values + (1.0 - mix) * gp_values
    input_grads = jax.vmap(jax.grad(lambda v: critic.apply(critic_params, v)))(interpolates)
    grad_norms = jnp.sqrt(jnp.sum(jnp.square(input_grads), axis=-1) + 1e-12)
    return -estimate + penalty * jnp.mean(jnp.square(grad_norms - 1.0)), estimate


def _critic_steps(critic: Critic, optimizer: optax.GradientTransformation, penalty: float, num_steps: int):
    """``train(key, params, opt_state, draw) -> (params, opt_state, last estimate)``.

    ``draw(key) -> (network_values, gp_values)`` gives each step its functions (a fixed
    bag or fresh draws).
    """

    def train(key, critic_params, opt_state, draw):
        def one_step(carry, step_key):
            critic_params, opt_state, _ = carry
            draw_key, mix_key = jax.random.split(step_key)
            network_values, gp_values = draw(draw_key)
            grads, estimate = jax.grad(_critic_loss, argnums=1, has_aux=True)(
                critic, critic_params, mix_key, network_values, gp_values, penalty)
            updates, opt_state = optimizer.update(grads, opt_state, critic_params)
            return (optax.apply_updates(critic_params, updates), opt_state, estimate), None

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
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``; the first output is matched.
        family: a prior family (``priors.weight.GaussianFamily``, ``GammaFamily``) with
            ``init(template)``, ``sample(key, phi, template)`` and ``prior(phi)``.
        target: the GP (a kernel, or ``gp.Hierarchical`` to redraw its
            hyperparameters for every function).
        measurement: a measurement strategy (``priors.measurement``) with
            ``sample(key) -> (num_points, d)``.
        key: a JAX PRNG key.
        template: network parameters of the right structure (e.g. ``network.init``).
        num_iterations: outer iterations (steps on ``phi``).
        num_functions: functions drawn from each side per iteration.
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
    for name, value in (("num_iterations", num_iterations), ("num_functions", num_functions),
                        ("critic_steps", critic_steps), ("chunk_size", chunk_size)):
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
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

    def outer_iteration(carry, iteration_key):
        phi, prior_state, critic_params, critic_state = carry
        points_key, gp_key, bag_key, init_key, critic_key, prior_key = jax.random.split(iteration_key, 6)
        points = measurement.sample(points_key)
        gp_values = gp.sample_functions(gp_key, target, points, num_functions)
        bag = (network_values(bag_key, jax.lax.stop_gradient(phi), points), gp_values)
        if not warm_critic:
            critic_params, critic_state = fresh_critic(init_key)
        critic_params, critic_state, _ = train_critic(critic_key, critic_params, critic_state, lambda _: bag)

        def expected_critic(phi):
            return jnp.mean(critic.apply(critic_params, network_values(prior_key, phi, points)))

        network_mean, grads = jax.value_and_grad(expected_critic)(phi)
        estimate = network_mean - jnp.mean(critic.apply(critic_params, gp_values))
        updates, prior_state = prior_optimizer.update(grads, prior_state, phi)
        return (optax.apply_updates(phi, updates), prior_state, critic_params, critic_state), estimate

    @jax.jit
    def run_chunk(carry, keys):
        return jax.lax.scan(outer_iteration, carry, keys)

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
                compiled[len(keys)] = run_chunk.lower(carry, keys).compile()
                compile_seconds += time.perf_counter() - began
            carry, estimates = compiled[len(keys)](carry, keys)
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


def w1_estimator(
    apply_fn: ApplyFn,
    sample_params: Callable[[PRNGKey, ArrayTree], ArrayTree],
    target: gp.Kernel | gp.Hierarchical,
    *,
    num_functions: int = 256,
    steps: int = 2000,
    evaluation_batches: int = 20,
    learning_rate: float = 1e-3,
    gradient_penalty: float = 10.0,
    critic_widths: Sequence[int] = (200, 200),
) -> Callable[[PRNGKey, ArrayTree, jax.Array], float]:
    """A judge of W1 between a network prior and a GP, for comparing priors.

    ``estimate(key, hyperparameters, points)`` trains a fresh critic for ``steps`` Adam
    steps, each on fresh draws from both sides (so it cannot overfit a sample), then
    averages the dual objective over ``evaluation_batches`` further fresh batches. The
    program is compiled once and reused for every prior of the family, so judging the
    initial and the fitted prior costs one compilation. Two priors judged with the same
    ``key`` and ``points`` see the same critic initialisation and GP draws.

    Args:
        apply_fn: ``apply_fn(params, x) -> (n, outputs)``; the first output is compared.
        sample_params: ``sample_params(key, hyperparameters) -> params``, one draw from
            the prior judged (e.g. ``lambda k, phi: family.sample(k, phi, template)``;
            for a fixed prior, ignore ``hyperparameters`` and pass None for them).
        target: the GP.
        num_functions: functions per side per batch.
        steps: critic training steps.
        evaluation_batches: fresh batches averaged for the estimate.
        learning_rate: Adam's learning rate for the critic.
        gradient_penalty: the penalty weight.
        critic_widths: the critic's hidden widths.

    Returns:
        ``estimate(key, hyperparameters, points) -> float`` with ``points`` the ``(n, d)``
        measurement points, held fixed. The gradient penalty keeps the critic only softly
        Lipschitz, so the estimate is not a lower bound on W1: use it to compare priors
        judged the same way, not as an absolute distance.
    """
    critic = Critic(tuple(critic_widths))
    optimizer = optax.adam(learning_rate)
    train_critic = _critic_steps(critic, optimizer, gradient_penalty, steps)

    @jax.jit
    def run(key, hyperparameters, points):
        def draw(key):
            network_key, gp_key = jax.random.split(key)
            return (function_draws(network_key, apply_fn, lambda k: sample_params(k, hyperparameters), points,
                                   num_functions),
                    gp.sample_functions(gp_key, target, points, num_functions))

        init_key, train_key, evaluation_key = jax.random.split(key, 3)
        params = critic.init(init_key, jnp.zeros((points.shape[0],)))
        params, _, _ = train_critic(train_key, params, optimizer.init(params), draw)

        def estimate(key):
            network_values, gp_values = draw(key)
            return jnp.mean(critic.apply(params, network_values)) - jnp.mean(critic.apply(params, gp_values))

        return jnp.mean(jax.lax.map(estimate, jax.random.split(evaluation_key, evaluation_batches)))

    def estimate(key: PRNGKey, hyperparameters: ArrayTree, points: jax.Array) -> float:
        value = float(run(key, hyperparameters, points))
        if not math.isfinite(value):
            raise FloatingPointError("the W1 estimate is not finite; the critic diverged (lower learning_rate)")
        return value

    return estimate
