"""The No-U-Turn sampler, each chain tuned by blackjax's window adaptation.

blackjax's NUTS (multinomial sampling along iteratively doubled trajectories) needs a
step size and a mass matrix; blackjax finds both with Stan's window adaptation, a loop of
NUTS steps that dual-averages the step size toward a target acceptance rate and sets the
diagonal of ``M^-1`` from the positions' variance over doubling windows. Here that loop
runs inside :func:`init`, once per chain and with the chain's own key, so that every
chain samples with its own tuned parameters: they live in the state, and the driver's
steps use them unchanged. The adaptation's steps therefore come before the driver's step
0 (its burn-in discards more on top, if asked) and are counted in the state's
``gradient_evaluations``, as are the leapfrog steps of every trajectory after them.

The log density is a total over the whole data set, so the energy error of a trajectory
is a difference of two large float32 numbers; it is rounded to about 1e-7 of the total,
which blackjax's acceptance test sees as noise. :func:`samplers.hmc` avoids this by
taking the log density in terms.

References:
    Hoffman & Gelman, The No-U-Turn sampler, JMLR 2014.
    Betancourt, A conceptual introduction to Hamiltonian Monte Carlo, arXiv 1701.02434
    (multinomial sampling of the trajectory).
    Stan Reference Manual, "HMC algorithm parameters: automatic parameter tuning".
"""

from typing import NamedTuple

import blackjax
import jax
import jax.numpy as jnp
from blackjax.adaptation.base import get_filter_adapt_info_fn
from jax.tree_util import Partial

from samplers.base import ArrayTree, LogDensityFn, PRNGKey, SamplingAlgorithm, Static, on_batch
from samplers.validation import check_integer, check_positive, check_probability

__all__ = ["NUTSState", "NUTSInfo", "init", "build_kernel", "nuts"]


class NUTSState(NamedTuple):
    """A chain's position, its log density and gradient there, and its tuned parameters.

    Attributes:
        inverse_mass_matrix: the diagonal of ``M^-1``, flat over the position's entries
            (blackjax's layout).
        gradient_evaluations: the log density's gradients this chain has taken, the
            adaptation's included.
    """

    position: ArrayTree
    logdensity: jax.Array
    logdensity_grad: ArrayTree
    step_size: jax.Array
    inverse_mass_matrix: jax.Array
    gradient_evaluations: jax.Array


class NUTSInfo(NamedTuple):
    """What one NUTS step reports (the per-chain scalars of blackjax's ``NUTSInfo``)."""

    logdensity: jax.Array
    acceptance_rate: jax.Array
    is_divergent: jax.Array
    num_integration_steps: jax.Array
    step_size: jax.Array


def init(position: ArrayTree, batch: ArrayTree, *, key: PRNGKey, logdensity_fn: LogDensityFn, adaptation_steps: int,
         target_acceptance_rate: float, initial_step_size: float) -> NUTSState:
    """Tune one chain from ``position`` by ``adaptation_steps`` steps of blackjax's window
    adaptation and return where it ended, with the step size and mass matrix found."""
    adaptation = blackjax.window_adaptation(
        blackjax.nuts, on_batch(logdensity_fn, batch), initial_step_size=initial_step_size,
        target_acceptance_rate=target_acceptance_rate,
        adaptation_info_fn=get_filter_adapt_info_fn(info_keys={"num_integration_steps"}))
    (state, parameters), info = adaptation.run(key, position, num_steps=adaptation_steps)
    spent = jnp.sum(info.info.num_integration_steps).astype(jnp.int32)
    return NUTSState(state.position, state.logdensity, state.logdensity_grad, jnp.asarray(parameters["step_size"]),
                     jnp.asarray(parameters["inverse_mass_matrix"]), spent)


def build_kernel(max_num_doublings: int = 10):
    """A NUTS step with the chain's own tuned parameters: ``kernel(key, state, batch,
    logdensity_fn) -> (state, info)``."""
    blackjax_kernel = blackjax.nuts.build_kernel()

    def kernel(key: PRNGKey, state: NUTSState, batch: ArrayTree, logdensity_fn: LogDensityFn
               ) -> tuple[NUTSState, NUTSInfo]:
        here = blackjax.mcmc.hmc.HMCState(state.position, state.logdensity, state.logdensity_grad)
        new, info = blackjax_kernel(key, here, on_batch(logdensity_fn, batch), state.step_size,
                                    state.inverse_mass_matrix, max_num_doublings=max_num_doublings)
        state = state._replace(position=new.position, logdensity=new.logdensity, logdensity_grad=new.logdensity_grad,
                               gradient_evaluations=state.gradient_evaluations + info.num_integration_steps)
        return state, NUTSInfo(new.logdensity, info.acceptance_rate, info.is_divergent, info.num_integration_steps,
                               state.step_size)

    return kernel


def nuts(logdensity_fn: LogDensityFn, *, adaptation_steps: int = 1000, target_acceptance_rate: float = 0.8,
         initial_step_size: float = 1.0, max_num_doublings: int = 10) -> SamplingAlgorithm:
    """Full-batch NUTS whose every chain is first tuned by window adaptation.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, the exact log density on the
            whole data (``batch`` is the whole data set, or None for targets without
            data), a scalar.
        adaptation_steps: the window adaptation's NUTS steps, run by ``init`` before the
            driver's first step (at least 20, for Stan's windows to fit).
        target_acceptance_rate: what the step size's dual averaging aims for, in (0, 1).
        initial_step_size: where the step size's adaptation starts.
        max_num_doublings: the most times a trajectory doubles (at most ``2 ** doublings
            - 1`` leapfrog steps, each one gradient).

    Returns:
        ``SamplingAlgorithm(init, step, full_batch=True)`` with ``init(position,
        batch=None, *, key)`` (the driver passes each chain its own key) and
        ``step(key, state, batch=None)``.

    Raises:
        ValueError: naming the argument, for settings out of range.
    """
    check_integer("adaptation_steps", adaptation_steps, 20)
    check_positive("initial_step_size", initial_step_size)
    check_probability("target_acceptance_rate", target_acceptance_rate)
    check_integer("max_num_doublings", max_num_doublings, 1)
    # blackjax bakes these into its adaptation loop: they shape the program.
    tuning = Static((int(adaptation_steps), float(target_acceptance_rate), float(initial_step_size)))
    return SamplingAlgorithm(Partial(_init, logdensity_fn, tuning), Partial(_step, logdensity_fn,
                                                                            Static(int(max_num_doublings))),
                             full_batch=True)


def _init(logdensity_fn: LogDensityFn, tuning: Static, position: ArrayTree, batch: ArrayTree = None, *,
          key: PRNGKey) -> NUTSState:
    adaptation_steps, target_acceptance_rate, initial_step_size = tuning.value
    return init(position, batch, key=key, logdensity_fn=logdensity_fn, adaptation_steps=adaptation_steps,
                target_acceptance_rate=target_acceptance_rate, initial_step_size=initial_step_size)


def _step(logdensity_fn: LogDensityFn, max_num_doublings: Static, key: PRNGKey, state: NUTSState,
          batch: ArrayTree = None) -> tuple[NUTSState, NUTSInfo]:
    return build_kernel(max_num_doublings.value)(key, state, batch, logdensity_fn)
