"""Metropolis-adjusted microcanonical dynamics (blackjax's), each chain tuned by blackjax.

Adjusted MCLMC (blackjax's "MHMCHMC") draws a fresh direction for a momentum of fixed
norm, integrates the isokinetic dynamics of MCLMC for a number of steps, and accepts or
rejects the trajectory's end by a Metropolis test on the energy error (the log density's
change less the kinetic energy's). Unlike :func:`samplers.mclmc` it has no step-size
bias: the step size only trades acceptance against the distance a trajectory goes.

The trajectory length is random, as in ``blackjax.mcmc.adjusted_mclmc_dynamic`` (whose
docstring recommends it over the static ``adjusted_mclmc``): each trajectory takes
``ceil(u * s)`` integrator steps, ``u`` uniform and ``s`` set so that the mean is
``L / step_size``, drawn from a key the state carries and splits at every step (the
number does not depend on the position, so the kernel stays reversible in
distribution). This is also what the tuner calibrates against: it hands its kernel
``integration_steps_params=(L / step_size,)``, an average that need not be an integer,
and sizes the step for trajectories of that mean length; a static kernel would round
it and run at a length the step was not tuned for.

blackjax tunes the chain in two dual-averaging passes
(``blackjax.adjusted_mclmc_find_L_and_step_size``): the step size toward
``target_acceptance_rate`` with ``L`` kept at twice the step (2 integrator steps per
trajectory on average, blackjax's default), while averaging the positions' variances;
then the diagonal preconditioner from those variances and a second pass of the step
size, ``L`` following it. Here that tuning runs inside :func:`init`, once per chain with
the chain's own key, sized as blackjax sizes it: 10% + 10% + 10% of the steps that
follow. The tuned parameters live in the state, so every chain samples with its own;
the tuning's trajectories come before the driver's step 0 and are counted in the
state's ``gradient_evaluations``.

The integrator is blackjax's default, the isokinetic McLachlan scheme: two gradients per
integrator step (the gradient at the start is the state's). As with
:func:`samplers.nuts`, the log density is a total over the whole data set, so the
float32 energy error is rounded to about 1e-7 of that total.

References:
    Robnik, De Luca, Silverstein & Seljak, Microcanonical Hamiltonian Monte Carlo, JMLR
    2023.
    Robnik, Cohn-Gordon & Seljak, Metropolis adjusted microcanonical Hamiltonian Monte
    Carlo, arXiv 2025.
    Hoffman & Gelman, The No-U-Turn sampler, JMLR 2014 (dual averaging of the step
    size).
"""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.mclmc_adaptation import MCLMCAdaptationState
from blackjax.mcmc import adjusted_mclmc_dynamic
from jax.flatten_util import ravel_pytree
from jax.tree_util import Partial

from samplers.base import ArrayTree, LogDensityFn, PRNGKey, SamplingAlgorithm, Static, on_batch
from samplers.validation import check_integer, check_positive, check_probability

__all__ = ["GRADIENTS_PER_STEP", "AdjustedMCLMCState", "AdjustedMCLMCInfo", "init", "build_kernel",
           "adjusted_mclmc"]

GRADIENTS_PER_STEP = 2  # the isokinetic McLachlan integrator, blackjax's default


class AdjustedMCLMCState(NamedTuple):
    """A chain's position, its log density and gradient there, and its tuned parameters.

    Attributes:
        L: the mean trajectory length (in the dynamics' time; ``L / step_size``
            integrator steps on average).
        inverse_mass_matrix: the diagonal preconditioner, flat over the position's
            entries (blackjax's layout).
        random_generator_arg: the key the next trajectory's number of integrator steps
            is drawn from (split at every step).
        gradient_evaluations: the log density's gradients this chain has taken, the
            tuning's included.
    """

    position: ArrayTree
    logdensity: jax.Array
    logdensity_grad: ArrayTree
    L: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    random_generator_arg: jax.Array
    gradient_evaluations: jax.Array


class AdjustedMCLMCInfo(NamedTuple):
    """What one adjusted MCLMC step reports (the per-chain scalars of blackjax's
    ``HMCInfo``): the log density at the new state, the Metropolis acceptance
    probability, whether the proposal was accepted or diverged, and its integrator
    steps."""

    logdensity: jax.Array
    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    num_integration_steps: jax.Array
    step_size: jax.Array


def _blackjax_kernel():
    """blackjax's dynamic kernel with random trajectory lengths of mean
    ``integration_steps_params[0]``; its keyword arguments are those the tuner passes."""
    return adjusted_mclmc_dynamic.build_kernel(
        integration_steps_fn=adjusted_mclmc_dynamic.make_random_trajectory_length_fn(True))


def init(position: ArrayTree, batch: ArrayTree, *, key: PRNGKey, logdensity_fn: LogDensityFn, num_steps: int,
         target_acceptance_rate: float, diagonal_preconditioning: bool,
         initial_step_size: float | None = None) -> AdjustedMCLMCState:
    """Tune one chain from ``position`` with blackjax's dual averaging, sized for
    ``num_steps`` steps to follow, starting at ``initial_step_size`` (None: blackjax's
    ``0.2 sqrt(d)``), and return where it ended with ``L``, the step size and the
    preconditioner found."""
    density = on_batch(logdensity_fn, batch)
    lengths_key, tuning_key = jax.random.split(key)
    start = adjusted_mclmc_dynamic.init(position, density, lengths_key)
    parameters = None
    if initial_step_size is not None:
        dim = ravel_pytree(position)[0].size
        # blackjax sets L to twice the step size on entry.
        parameters = MCLMCAdaptationState(2.0 * initial_step_size, initial_step_size, jnp.ones((dim,)))
    state, parameters, tuning_steps = blackjax.adjusted_mclmc_find_L_and_step_size(
        _blackjax_kernel(), density, num_steps, start, tuning_key, target=target_acceptance_rate,
        diagonal_preconditioning=diagonal_preconditioning, params=parameters)
    # One gradient at the start, then two per integrator step of every tuning trajectory.
    spent = (1 + GRADIENTS_PER_STEP * jnp.asarray(tuning_steps)).astype(jnp.int32)
    return AdjustedMCLMCState(state.position, state.logdensity, state.logdensity_grad, jnp.asarray(parameters.L),
                              jnp.asarray(parameters.step_size), jnp.asarray(parameters.inverse_mass_matrix),
                              state.random_generator_arg, spent)


def build_kernel():
    """One Metropolis-adjusted trajectory with the chain's own tuned parameters:
    ``kernel(key, state, batch, logdensity_fn) -> (state, info)``."""
    blackjax_kernel = _blackjax_kernel()

    def kernel(key: PRNGKey, state: AdjustedMCLMCState, batch: ArrayTree, logdensity_fn: LogDensityFn
               ) -> tuple[AdjustedMCLMCState, AdjustedMCLMCInfo]:
        here = adjusted_mclmc_dynamic.DynamicHMCState(state.position, state.logdensity, state.logdensity_grad,
                                                      state.random_generator_arg)
        new, info = blackjax_kernel(key, here, on_batch(logdensity_fn, batch), state.step_size,
                                    inverse_mass_matrix=state.inverse_mass_matrix,
                                    integration_steps_params=(state.L / state.step_size,))
        spent = GRADIENTS_PER_STEP * jnp.asarray(info.num_integration_steps, jnp.int32)
        state = state._replace(position=new.position, logdensity=new.logdensity, logdensity_grad=new.logdensity_grad,
                               random_generator_arg=new.random_generator_arg,
                               gradient_evaluations=state.gradient_evaluations + spent)
        return state, AdjustedMCLMCInfo(new.logdensity, info.acceptance_rate, info.is_accepted, info.is_divergent,
                                        info.num_integration_steps, state.step_size)

    return kernel


def adjusted_mclmc(logdensity_fn: LogDensityFn, *, num_steps: int, target_acceptance_rate: float = 0.9,
                   diagonal_preconditioning: bool = True, initial_step_size: float | None = None
                   ) -> SamplingAlgorithm:
    """Full-batch Metropolis-adjusted MCLMC whose every chain is first tuned by blackjax.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, the exact log density on the
            whole data (``batch`` is the whole data set, or None for targets without
            data), a scalar; the position must have at least 2 entries.
        num_steps: the steps that will follow the tuning (the driver's ``num_steps``);
            blackjax's tuning takes 30% as many again (20% in its first pass, 10% in its
            second), each a trajectory of 2 integrator steps on average.
        target_acceptance_rate: what the step size's dual averaging aims for, in (0, 1).
            0.9 is what blackjax's own adjusted-MCLMC tuning uses
            (``mclmc_lrd_adaptation``'s ``adjusted_target``): a trajectory of 2 steps
            gains more from acceptance than from a longer step.
        diagonal_preconditioning: also tune a diagonal preconditioner from the
            positions' variances in the first pass.
        initial_step_size: where the step size's dual averaging starts; None for
            blackjax's ``0.2 sqrt(d)``. Start small rather than large: the first pass
            holds ``L`` at twice the initial step while the step size shrinks, so a
            start far above the tuned step makes its trajectories ``L / step_size``
            integrator steps long (on a network's posterior, tens of thousands), while a
            small one is outgrown in the second pass, where ``L`` follows the step.

    Returns:
        ``SamplingAlgorithm(init, step, full_batch=True)`` with ``init(position,
        batch=None, *, key)`` (the driver passes each chain its own key) and
        ``step(key, state, batch=None)``.

    Raises:
        ValueError: naming the argument, for settings out of range.
    """
    check_integer("num_steps", num_steps, 20)
    check_probability("target_acceptance_rate", target_acceptance_rate)
    if initial_step_size is not None:
        check_positive("initial_step_size", initial_step_size)
        initial_step_size = float(initial_step_size)
    # blackjax bakes these into its tuning loops: they shape the program.
    tuning = Static((int(num_steps), float(target_acceptance_rate), bool(diagonal_preconditioning),
                     initial_step_size))
    return SamplingAlgorithm(Partial(_init, logdensity_fn, tuning), Partial(_step, logdensity_fn), full_batch=True)


def _init(logdensity_fn: LogDensityFn, tuning: Static, position: ArrayTree, batch: ArrayTree = None, *,
          key: PRNGKey) -> AdjustedMCLMCState:
    num_steps, target_acceptance_rate, diagonal_preconditioning, initial_step_size = tuning.value
    return init(position, batch, key=key, logdensity_fn=logdensity_fn, num_steps=num_steps,
                target_acceptance_rate=target_acceptance_rate, diagonal_preconditioning=diagonal_preconditioning,
                initial_step_size=initial_step_size)


def _step(logdensity_fn: LogDensityFn, key: PRNGKey, state: AdjustedMCLMCState, batch: ArrayTree = None
          ) -> tuple[AdjustedMCLMCState, AdjustedMCLMCInfo]:
    return build_kernel()(key, state, batch, logdensity_fn)
