"""Microcanonical Langevin Monte Carlo (blackjax's), each chain tuned by blackjax.

MCLMC moves a position with a momentum of fixed norm along isokinetic dynamics, and
partially refreshes the momentum's direction so that it decorrelates over a length
``L``; it has no Metropolis test, and its bias is controlled by the step size through
the energy error's variance. blackjax tunes ``L``, the step size and a diagonal
preconditioner in three phases (``blackjax.mclmc_find_L_and_step_size``): the step size
toward a target energy variance per dimension, then the positions' variances for the
preconditioner and ``L``, then ``L`` from the effective sample size of a short run. Here
that tuning runs inside :func:`init`, once per chain with the chain's own key, sized as
blackjax sizes it: fractions of the number of steps that follow. The tuned parameters
live in the state, so every chain samples with its own; the tuning's steps come before
the driver's step 0 and are counted in the state's ``gradient_evaluations``.

The integrator is blackjax's default, McLachlan's two-stage scheme: two gradients per
step.

References:
    Robnik, De Luca, Silverstein & Seljak, Microcanonical Hamiltonian Monte Carlo, JMLR
    2023.
    Robnik & Seljak, Fluctuation without dissipation: microcanonical Langevin Monte
    Carlo, AABI 2024.
    Sommer, Wiese, Rügamer et al., Microcanonical Langevin ensembles: advancing the
    sampling of Bayesian neural networks, ICLR 2025 (MCLMC started from a deep ensemble).
"""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from jax.tree_util import Partial

from samplers.base import ArrayTree, LogDensityFn, PRNGKey, SamplingAlgorithm, Static, on_batch
from samplers.validation import check_integer, check_positive

__all__ = ["GRADIENTS_PER_STEP", "MCLMCState", "MCLMCInfo", "init", "build_kernel", "mclmc"]

GRADIENTS_PER_STEP = 2  # McLachlan's integrator, blackjax's default


class MCLMCState(NamedTuple):
    """A chain's position and momentum, the log density and gradient there, and its
    tuned parameters (``inverse_mass_matrix`` flat over the position's entries).
    ``gradient_evaluations`` counts the tuning's gradients and the steps' since."""

    position: ArrayTree
    momentum: ArrayTree
    logdensity: jax.Array
    logdensity_grad: ArrayTree
    L: jax.Array
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    gradient_evaluations: jax.Array


class MCLMCInfo(NamedTuple):
    """What one MCLMC step reports: the log density at the new position and the step's
    energy error (its variance per dimension is what the step size was tuned to)."""

    logdensity: jax.Array
    energy_change: jax.Array
    step_size: jax.Array


def init(position: ArrayTree, batch: ArrayTree, *, key: PRNGKey, logdensity_fn: LogDensityFn, num_steps: int,
         desired_energy_variance: float, diagonal_preconditioning: bool) -> MCLMCState:
    """Tune one chain from ``position`` with blackjax's three phases, sized for
    ``num_steps`` steps to follow, and return where it ended with ``L``, the step size
    and the preconditioner found."""
    density = on_batch(logdensity_fn, batch)
    start_key, tuning_key = jax.random.split(key)
    start = blackjax.mcmc.mclmc.init(position, density, start_key)
    state, parameters, tuning_steps = blackjax.mclmc_find_L_and_step_size(
        blackjax.mcmc.mclmc.build_kernel(), num_steps, start, tuning_key, logdensity_fn=density,
        desired_energy_var=desired_energy_variance, diagonal_preconditioning=diagonal_preconditioning)
    # One gradient at the start, then two per integrator step.
    spent = jnp.int32(1 + GRADIENTS_PER_STEP * tuning_steps)
    return MCLMCState(state.position, state.momentum, state.logdensity, state.logdensity_grad, parameters.L,
                      parameters.step_size, jnp.asarray(parameters.inverse_mass_matrix), spent)


def build_kernel():
    """An MCLMC step with the chain's own tuned parameters: ``kernel(key, state, batch,
    logdensity_fn) -> (state, info)``."""
    blackjax_kernel = blackjax.mcmc.mclmc.build_kernel()

    def kernel(key: PRNGKey, state: MCLMCState, batch: ArrayTree, logdensity_fn: LogDensityFn
               ) -> tuple[MCLMCState, MCLMCInfo]:
        here = blackjax.mcmc.integrators.IntegratorState(state.position, state.momentum, state.logdensity,
                                                         state.logdensity_grad)
        new, info = blackjax_kernel(key, here, on_batch(logdensity_fn, batch), state.inverse_mass_matrix, state.L,
                                    state.step_size)
        state = state._replace(position=new.position, momentum=new.momentum, logdensity=new.logdensity,
                               logdensity_grad=new.logdensity_grad,
                               gradient_evaluations=state.gradient_evaluations + GRADIENTS_PER_STEP)
        return state, MCLMCInfo(new.logdensity, info.energy_change, state.step_size)

    return kernel


def mclmc(logdensity_fn: LogDensityFn, *, num_steps: int, desired_energy_variance: float = 5e-4,
          diagonal_preconditioning: bool = True) -> SamplingAlgorithm:
    """Full-batch MCLMC whose every chain is first tuned by blackjax's tuning.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, the exact log density on the
            whole data (``batch`` is the whole data set, or None for targets without
            data), a scalar; the position must have at least 2 entries.
        num_steps: the steps that will follow the tuning (the driver's ``num_steps``);
            blackjax's tuning takes about a third as many again (10% each for the step
            size, the variances and ``L``, plus a few to re-tune the step size after
            preconditioning).
        desired_energy_variance: the energy error's variance per dimension that the step
            size is tuned to; smaller is less biased and slower.
        diagonal_preconditioning: also tune a diagonal preconditioner from the
            positions' variances.

    Returns:
        ``SamplingAlgorithm(init, step, full_batch=True)`` with ``init(position,
        batch=None, *, key)`` (the driver passes each chain its own key) and
        ``step(key, state, batch=None)``.

    Raises:
        ValueError: naming the argument, for settings out of range.
    """
    check_integer("num_steps", num_steps, 20)
    check_positive("desired_energy_variance", desired_energy_variance)
    tuning = Static((int(num_steps), float(desired_energy_variance), bool(diagonal_preconditioning)))
    return SamplingAlgorithm(Partial(_init, logdensity_fn, tuning), Partial(_step, logdensity_fn), full_batch=True)


def _init(logdensity_fn: LogDensityFn, tuning: Static, position: ArrayTree, batch: ArrayTree = None, *,
          key: PRNGKey) -> MCLMCState:
    num_steps, desired_energy_variance, diagonal_preconditioning = tuning.value
    return init(position, batch, key=key, logdensity_fn=logdensity_fn, num_steps=num_steps,
                desired_energy_variance=desired_energy_variance, diagonal_preconditioning=diagonal_preconditioning)


def _step(logdensity_fn: LogDensityFn, key: PRNGKey, state: MCLMCState, batch: ArrayTree = None
          ) -> tuple[MCLMCState, MCLMCInfo]:
    return build_kernel()(key, state, batch, logdensity_fn)
