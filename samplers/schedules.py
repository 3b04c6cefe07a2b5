"""Step-size schedules: functions from the step count to a step size.

Every sampler accepts either a float or any callable ``schedule(step) -> float``; optax
schedules (``optax.cosine_decay_schedule`` and friends) have exactly that signature and
are accepted as they are. The step count is the one stored in the sampler state, so a
schedule continues correctly across driver calls and resumes.

The schedules here are ``jax.tree_util.Partial`` objects: callables whose constants are
pytree leaves. The driver passes those leaves to its compiled programs at run time, so
runs that differ only in a schedule's constants share one program (see
:func:`samplers.sample`); any other callable is part of what identifies the program.
"""

from typing import Callable

import jax
import jax.numpy as jnp
from jax.tree_util import Partial

Schedule = Callable[[jax.Array], jax.Array]


def _constant(value, step):
    del step
    return jnp.asarray(value, jnp.float32)


def _polynomial_decay(init_value, decay_rate, offset, step):
    return init_value * (1.0 + jnp.asarray(step, jnp.float32) / offset) ** (-decay_rate)


def _cyclical_cosine(init_value, cycle_length, step):
    phase = jnp.mod(jnp.asarray(step, jnp.float32), cycle_length) / cycle_length
    return 0.5 * init_value * (jnp.cos(jnp.pi * phase) + 1.0)


def constant(value: float) -> Schedule:
    """A constant step size.

    Args:
        value: the step size at every step.

    Returns:
        A schedule.
    """
    return Partial(_constant, float(value))


def polynomial_decay(init_value: float, *, decay_rate: float = 0.55, offset: float = 1.0) -> Schedule:
    """The decaying step size of Welling & Teh (2011): ``init * (1 + step/offset)^-decay_rate``.

    This is their ``a (b + t)^-gamma`` with ``b = offset`` and ``a`` chosen so the first
    step has size ``init_value``. For ``decay_rate`` in (0.5, 1] the sum of step sizes
    diverges while the sum of their squares converges, so SGLD's discretisation bias
    vanishes asymptotically.

    References:
        Welling & Teh, Bayesian learning via stochastic gradient Langevin dynamics, ICML 2011.

    Args:
        init_value: the step size at step 0.
        decay_rate: the exponent gamma.
        offset: the number of steps over which the decay sets in (b).

    Returns:
        A schedule.
    """
    if offset <= 0:
        raise ValueError(f"offset must be > 0, got {offset}")
    return Partial(_polynomial_decay, float(init_value), float(decay_rate), float(offset))


def cyclical_cosine(init_value: float, *, num_steps: int, num_cycles: int) -> Schedule:
    """The cyclical cosine step size of Zhang et al. (2020).

    ``eps_k = init/2 * (cos(pi * (k mod c) / c) + 1)`` with cycle length
    ``c = ceil(num_steps / num_cycles)``: each cycle starts at ``init_value`` (exploration)
    and decays towards zero (sampling), where samples are usually collected.

    References:
        Zhang, Li, Zhang, Chen & Wilson, Cyclical stochastic gradient MCMC for Bayesian
        deep learning, ICLR 2020.

    Args:
        init_value: the step size at the start of every cycle.
        num_steps: the total number of steps the cycles cover.
        num_cycles: how many cycles.

    Returns:
        A schedule.
    """
    if num_cycles < 1 or num_steps < num_cycles:
        raise ValueError(f"need 1 <= num_cycles <= num_steps, got num_cycles={num_cycles}, num_steps={num_steps}")
    cycle_length = -(-num_steps // num_cycles)
    return Partial(_cyclical_cosine, float(init_value), float(cycle_length))


def as_schedule(step_size: float | Schedule) -> Schedule:
    """A schedule from a float (held constant) or a schedule (returned as is)."""
    return step_size if callable(step_size) else constant(step_size)
