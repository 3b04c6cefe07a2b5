"""Hamiltonian Monte Carlo on the full data, with a float32-safe acceptance test.

Each step draws a momentum ``p ~ N(0, M)``, follows Hamiltonian dynamics for
``H(theta, p) = -log p(theta) / T + p' M^-1 p / 2`` with ``L`` leapfrog steps of size
``epsilon``, and accepts the end point with probability ``min(1, exp(-Delta H))``
(Metropolis–Hastings). Leapfrog is reversible and volume-preserving, so the accept step
makes the chain leave ``p(theta)^(1/T)`` invariant exactly, whatever ``epsilon``: unlike
the SG-MCMC kernels, HMC has no discretisation bias, only a lower acceptance rate when
the step is too large. ``M`` is diagonal, fixed or adapted during burn-in.

Float32. Networks have log densities of order 1e5 (a sum over the whole data set) while
``Delta H`` is of order one; float32 keeps ~7 significant digits, so two totals of 1e5
carry rounding errors of ~0.01 each and a total of 1e7 is only known to within 1, and
their difference would decide acceptance by rounding. Here ``logdensity_fn`` may return
its terms separately (a tuple or dict such as ``(log_prior, log_likelihood)``, or arrays
of per-example terms): the gradient is that of their sum, but ``Delta H`` is the sum of
the per-term differences ``new - old``, and the kinetic part is summed from per-entry
differences ``(p_new - p_old)(p_new + p_old) / 2``, so no large total is ever
subtracted from another. Terms that do not depend on ``theta`` (a normalising constant
in its own term) cancel exactly.

The step size can be adapted by dual averaging (Nesterov 2009, as Hoffman & Gelman 2014
and Stan use it) toward a target acceptance rate during the first ``adaptation_steps``
steps; from then on it is frozen at the averaged iterate. A step size that keeps
changing depends on the chain's past and biases it, so draws taken while it adapts
belong to the burn-in. Because adaptation can grow ``epsilon``, the trajectory can be
capped: ``L epsilon <= max_trajectory_length``.

The diagonal of ``M^-1`` can be adapted too, in Stan's windows: after an initial buffer
in which only the step size adapts, the position's variance is estimated over windows
that double in length (25, 50, 100, ... steps, the last one stretched to the end of the
slow phase), ``M^-1`` is set to each window's regularised variance at its end and the
step size's dual averaging restarts; a terminal buffer lets the step size settle on the
last ``M``. Everything is frozen after ``adaptation_steps``. A mass matrix matched to the
posterior's scales lets one step size suit every coordinate, which is what makes HMC
efficient on targets whose scales differ by orders of magnitude.

A step costs ``L`` gradient evaluations; the state caches the log density and its
gradient at the position, so :func:`init` evaluates the log density once, on the batch
(usually the whole data set) that ``step`` will see.

References:
    Duane, Kennedy, Pendleton & Roweth, Hybrid Monte Carlo, Physics Letters B 1987.
    Neal, MCMC using Hamiltonian dynamics, Handbook of MCMC, 2011.
    Nesterov, Primal-dual subgradient methods for convex problems, Mathematical
    Programming 2009.
    Hoffman & Gelman, The No-U-Turn sampler, JMLR 2014 (section 3.2.1, dual averaging).
    Stan Reference Manual, "HMC algorithm parameters: automatic parameter tuning"
    (the adaptation windows and the variance regularisation).
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from samplers.base import ArrayTree, LogDensityFn, PRNGKey, SamplingAlgorithm, Static, normal_like, tree_where
from samplers.validation import check_integer, check_positive, check_probability

__all__ = [
    "DualAveragingState",
    "MassAdaptationState",
    "HMCState",
    "HMCInfo",
    "init",
    "build_kernel",
    "potential_change",
    "kinetic_change",
    "hmc",
]

# A step whose energy error exceeds this is reported divergent (blackjax's default); its
# acceptance probability exp(-1000) is zero in any float format anyway.
DIVERGENCE_THRESHOLD = 1000.0

# Dual averaging constants of Hoffman & Gelman (2014), also Stan's and blackjax's defaults.
_GAMMA = 0.05  # how strongly log(epsilon) is pulled by the accumulated acceptance error
_T0 = 10.0  # damps the first iterations
_KAPPA = 0.75  # decay of the weights of past iterates in the average

# floor(max_trajectory_length / epsilon) must not lose a whole step to rounding when the
# ratio is an integer (0.6 / 0.1 = 5.9999995 in float32).
_TRAJECTORY_ROUNDING = 1e-5

_MIN_MASS_ADAPTATION_STEPS = 20


class DualAveragingState(NamedTuple):
    """Dual averaging of ``log(epsilon)`` (Hoffman & Gelman 2014, section 3.2.1).

    Attributes:
        log_step_size: the current iterate ``x_t``, the step size used while adapting.
        log_step_size_avg: the weighted average ``x_bar_t``, the step size used after
            adaptation. Starts at ``log(epsilon_0)``, so that without adaptation the
            step size stays ``epsilon_0`` (the first update overwrites it completely).
        avg_error: ``H_bar_t``, the running mean of ``target - acceptance_rate``.
        mu: ``log(10 epsilon_0)``, the point the iterates are shrunk towards.
    """

    log_step_size: jax.Array
    log_step_size_avg: jax.Array
    avg_error: jax.Array
    mu: jax.Array


class MassAdaptationState(NamedTuple):
    """The diagonal of ``M^-1`` in use and the moments of the current window.

    Attributes:
        inverse_mass: the diagonal of ``M^-1``, shaped like the position.
        mean, m2: Welford's running mean and sum of squared deviations of the position
            over the current window.
        count: positions in those moments.
        restarted_at: the step at which dual averaging last restarted (0 at the start).
    """

    inverse_mass: ArrayTree
    mean: ArrayTree
    m2: ArrayTree
    count: jax.Array
    restarted_at: jax.Array


# Stan's window sizes: an initial buffer, a first slow window, a terminal buffer.
_INITIAL_BUFFER, _FIRST_WINDOW, _TERMINAL_BUFFER = 75, 25, 50
# Stan's shrinkage of a window's variance towards 1e-3: (n var + 5e-3) / (n + 5).
_SHRINKAGE_COUNT, _SHRINKAGE_TARGET = 5.0, 1e-3


def mass_adaptation_windows(adaptation_steps: int) -> tuple[int, tuple[int, ...]]:
    """Where the mass matrix adapts: ``(initial buffer, the steps that end each window)``.

    Stan's scheme: buffers of 75 and 50 steps around windows of 25, 50, 100, ... steps,
    the last stretched to the terminal buffer; for fewer than 150 adaptation steps, 15%,
    75% and 10% of them.
    """
    initial, first, terminal = _INITIAL_BUFFER, _FIRST_WINDOW, _TERMINAL_BUFFER
    if initial + first + terminal > adaptation_steps:
        initial, terminal = int(0.15 * adaptation_steps), int(0.1 * adaptation_steps)
        first = adaptation_steps - initial - terminal
    slow_end, ends, start, size = adaptation_steps - terminal, [], initial, first
    while True:
        end = start + size
        if end + 2 * size > slow_end:
            ends.append(slow_end)
            return initial, tuple(ends)
        ends.append(end)
        start, size = end, 2 * size


class HMCState(NamedTuple):
    """The state of an HMC chain.

    Attributes:
        position: the parameters.
        logdensity: ``logdensity_fn``'s total (sum of its terms) at ``position``,
            before tempering.
        logdensity_terms: what ``logdensity_fn`` returned at ``position`` (a scalar,
            or a pytree of terms).
        logdensity_grad: the gradient of ``logdensity`` at ``position``, before tempering.
        step: the number of steps taken; adaptation runs while it is below
            ``adaptation_steps``.
        adaptation: the dual-averaging state of the step size.
        mass: the mass-matrix adaptation (None when ``M`` is fixed).
    """

    position: ArrayTree
    logdensity: jax.Array
    logdensity_terms: ArrayTree
    logdensity_grad: ArrayTree
    step: jax.Array
    adaptation: DualAveragingState
    mass: MassAdaptationState | None = None


class HMCInfo(NamedTuple):
    """What an HMC step reports.

    Attributes:
        weight: the weight of the new state in expectations (1.0).
        acceptance_rate: ``min(1, exp(-energy_change))``, 0 for a divergent step.
        is_accepted: whether the proposal was accepted.
        is_divergent: whether the energy change was non-finite or above
            :data:`DIVERGENCE_THRESHOLD` (the proposal is then rejected).
        step_size: the leapfrog step size used in this step.
        logdensity: ``logdensity_fn``'s total at the state after the step (untempered).
        num_integration_steps: the leapfrog steps taken (after the trajectory cap).
        energy_change: ``Delta H`` of the proposal, in tempered units (may be inf or nan
            for a divergent step).
    """

    weight: jax.Array
    acceptance_rate: jax.Array
    is_accepted: jax.Array
    is_divergent: jax.Array
    step_size: jax.Array
    logdensity: jax.Array
    num_integration_steps: jax.Array
    energy_change: jax.Array


def _at_least_float32(x: jax.Array) -> jnp.dtype:
    """The dtype differences are summed in: float32, or the array's own if wider."""
    return jnp.promote_types(jnp.result_type(x), jnp.float32)


def _total(terms: ArrayTree) -> jax.Array:
    """The log density: the sum of every entry of every term."""
    return sum(jnp.sum(term, dtype=_at_least_float32(term)) for term in jax.tree.leaves(terms))


def potential_change(old_terms: ArrayTree, new_terms: ArrayTree) -> jax.Array:
    """``log p(theta') - log p(theta)`` as the sum of the per-term (and per-entry) differences.

    Never the difference of the two totals: in float32 a total of ~1e5 is rounded to
    ~0.01 and one of ~1e7 to ~1, while the difference that decides acceptance is of
    order one. Each term's difference is taken first, where a term's own rounding is all
    that is lost, and a term that did not change (a constant) contributes exactly zero.

    Args:
        old_terms: ``logdensity_fn``'s output at the current position.
        new_terms: its output at the proposal (same structure).

    Returns:
        The scalar change, untempered.
    """
    differences = jax.tree.map(lambda new, old: jnp.sum(new - old, dtype=_at_least_float32(new)), new_terms, old_terms)
    return sum(jax.tree.leaves(differences))


def kinetic_change(inverse_mass: ArrayTree, old_momentum: ArrayTree, new_momentum: ArrayTree) -> jax.Array:
    """``K(p') - K(p)`` with ``K(p) = p' M^-1 p / 2``, summed from per-entry differences.

    ``K`` is about half the number of parameters (1e5 and more for a network), so, as for
    the potential, the difference is formed entry by entry,
    ``(p' - p)(p' + p) M^-1 / 2``, before anything is summed.
    """

    def per_leaf(m, old, new):
        return 0.5 * jnp.sum(m * (new - old) * (new + old), dtype=_at_least_float32(new))

    return sum(jax.tree.leaves(jax.tree.map(per_leaf, inverse_mass, old_momentum, new_momentum)))


def _strong(terms: ArrayTree) -> ArrayTree:
    """Terms as arrays with definite dtypes, so that loop carries keep one type (a
    constant term may come back as a Python float)."""
    return jax.tree.map(lambda t: jnp.asarray(t, jnp.result_type(t)), terms)


def _value_and_grad(logdensity_fn: LogDensityFn) -> Callable:
    """``f(position, batch) -> ((total, terms), gradient of total)``."""

    def total_and_terms(position, batch):
        terms = _strong(logdensity_fn(position, batch))
        return _total(terms), terms

    return jax.value_and_grad(total_and_terms, has_aux=True)


def _all_finite(tree: ArrayTree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _dual_averaging_init(step_size: float) -> DualAveragingState:
    log_step_size = jnp.log(jnp.asarray(step_size, jnp.float32))
    return DualAveragingState(log_step_size, log_step_size, jnp.zeros((), jnp.float32),
                              jnp.log(10.0) + log_step_size)


def _dual_averaging_update(state: DualAveragingState, acceptance_rate: jax.Array, iteration: jax.Array,
                           target: float) -> DualAveragingState:
    """One iteration ``t >= 1`` of dual averaging, as in Hoffman & Gelman (2014) and Stan
    (the average takes the new iterate ``x_{t+1}``; blackjax averages the previous one)."""
    t = jnp.asarray(iteration, jnp.float32)
    avg_error = (1.0 - 1.0 / (t + _T0)) * state.avg_error + (target - acceptance_rate) / (t + _T0)
    log_step_size = state.mu - jnp.sqrt(t) / _GAMMA * avg_error
    weight = t ** (-_KAPPA)
    log_step_size_avg = weight * log_step_size + (1.0 - weight) * state.log_step_size_avg
    return DualAveragingState(log_step_size, log_step_size_avg, avg_error, state.mu)


def init(position: ArrayTree, batch: ArrayTree, logdensity_fn: LogDensityFn, step_size: float, *,
         adapt_mass_from: ArrayTree | None = None) -> HMCState:
    """The HMC state at ``position``: the log density, its terms and gradient on ``batch``,
    dual averaging started from ``step_size``, and with ``adapt_mass_from`` (the diagonal
    of ``M^-1`` to start from) the mass-matrix adaptation."""
    (total, terms), grad = _value_and_grad(logdensity_fn)(position, batch)
    mass = None
    if adapt_mass_from is not None:
        zeros = jax.tree.map(lambda x: jnp.zeros(jnp.shape(x), jnp.float32), position)
        inverse_mass = jax.tree.map(lambda m, x: jnp.broadcast_to(jnp.asarray(m, jnp.float32), jnp.shape(x)),
                                    adapt_mass_from, position)
        mass = MassAdaptationState(inverse_mass, zeros, zeros, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    return HMCState(position, total, terms, grad, jnp.zeros((), jnp.int32), _dual_averaging_init(step_size), mass)


def _adapt_mass(mass: MassAdaptationState, position: ArrayTree, step: jax.Array, windows: tuple[int, tuple[int, ...]]
                ) -> tuple[MassAdaptationState, jax.Array]:
    """The moments after the position of step ``step`` (1, 2, ...) and, at the end of a
    window, the new ``M^-1``; returns it with whether a window ended."""
    initial, ends = windows
    collecting = (step > initial) & (step <= ends[-1])
    count = mass.count + collecting.astype(jnp.int32)
    weight = jnp.where(collecting, 1.0 / jnp.maximum(count, 1).astype(jnp.float32), 0.0)
    deltas = jax.tree.map(lambda x, mean: x.astype(jnp.float32) - mean, position, mass.mean)
    mean = jax.tree.map(lambda mean, d: mean + weight * d, mass.mean, deltas)
    m2 = jax.tree.map(lambda m2, d, x, new_mean: m2 + jnp.where(collecting, d * (x.astype(jnp.float32) - new_mean), 0.0),
                      mass.m2, deltas, position, mean)
    window_end = jnp.any(step == jnp.asarray(ends, jnp.int32))
    n = count.astype(jnp.float32)

    def regularised(m2):
        variance = m2 / jnp.maximum(n - 1.0, 1.0)
        return (n * variance + _SHRINKAGE_COUNT * _SHRINKAGE_TARGET) / (n + _SHRINKAGE_COUNT)

    inverse_mass = tree_where(window_end, jax.tree.map(regularised, m2), mass.inverse_mass)
    zeros = jax.tree.map(jnp.zeros_like, mean)
    return MassAdaptationState(inverse_mass, tree_where(window_end, zeros, mean), tree_where(window_end, zeros, m2),
                               jnp.where(window_end, 0, count), jnp.where(window_end, step, mass.restarted_at)
                               ), window_end


def build_kernel(num_integration_steps: int, *, adapt_step_size: bool = False,
                 mass_windows: tuple[int, tuple[int, ...]] | None = None) -> Callable:
    """The HMC transition as a function of the target and its hyperparameters.

    Args:
        num_integration_steps: ``L``, the leapfrog steps per trajectory (the most, when
            ``max_trajectory_length`` caps it).
        adapt_step_size: whether the state's dual averaging chooses the step size while
            ``state.step`` is below ``adaptation_steps`` (and its average after).
        mass_windows: :func:`mass_adaptation_windows` of ``adaptation_steps`` to adapt
            the diagonal of ``M^-1`` in (the state's ``mass``, which then replaces
            ``inverse_mass_matrix``); None: ``M`` is fixed.

    Returns:
        ``kernel(key, state, batch, logdensity_fn, step_size, inverse_mass_matrix,
        temperature, *, target_acceptance_rate, adaptation_steps, max_trajectory_length)``
        returning ``(state, info)``. ``step_size`` is used as it is without adaptation;
        ``inverse_mass_matrix`` is a pytree like the position (leaves broadcastable to its
        leaves); ``max_trajectory_length`` (or None) caps the leapfrog steps at
        ``min(L, max(1, floor(max_trajectory_length / epsilon)))``. Without adaptation and
        with a cap, ``step_size`` and the cap must be Python numbers, so that the loop has
        a length known when it is compiled.
    """

    def leapfrog(value_and_grad, batch, state, momentum, step_size, inverse_mass, temperature, num_steps):
        # Velocity Verlet; the gradient at the start is the state's, so a step costs L gradients.
        half_step = 0.5 * step_size / temperature  # the force is grad(log p) / T

        def kick(momentum, grad):
            return jax.tree.map(lambda p, g: p + (half_step * g).astype(p.dtype), momentum, grad)

        def one_step(_, carry):
            position, momentum, _, _, grad = carry
            momentum = kick(momentum, grad)
            position = jax.tree.map(lambda x, m, p: x + (step_size * m * p).astype(x.dtype),
                                    position, inverse_mass, momentum)
            (total, terms), grad = value_and_grad(position, batch)
            return position, kick(momentum, grad), total, terms, grad

        carry = (state.position, momentum, state.logdensity, state.logdensity_terms, state.logdensity_grad)
        # With a Python int the loop has a static length (a scan); with a traced count it is
        # a while loop that stops after the capped number of steps rather than masking the
        # rest, which would still cost their gradients.
        return jax.lax.fori_loop(0, num_steps, one_step, carry)

    def capped_num_steps(xp, step_size, max_trajectory_length):
        """``min(L, max(1, floor(max_trajectory_length / epsilon)))`` in NumPy or JAX (``xp``)."""
        if max_trajectory_length is None:
            return num_integration_steps
        fitting = xp.floor(max_trajectory_length / step_size * (1.0 + _TRAJECTORY_ROUNDING))
        return xp.clip(fitting, 1, num_integration_steps).astype(xp.int32)

    def kernel(
        key: PRNGKey,
        state: HMCState,
        batch: ArrayTree,
        logdensity_fn: LogDensityFn,
        step_size: float,
        inverse_mass_matrix: ArrayTree,
        temperature: float,
        *,
        target_acceptance_rate: float,
        adaptation_steps: int,
        max_trajectory_length: float | None,
    ) -> tuple[HMCState, HMCInfo]:
        momentum_key, accept_key = jax.random.split(key)
        adapting = state.step < adaptation_steps
        adaptation = state.adaptation
        if state.mass is not None:
            inverse_mass_matrix = state.mass.inverse_mass
        if not adapt_step_size and max_trajectory_length is not None:
            # The step size exactly as given (exp(log(x)) is not x in float32), and with it a
            # number of leapfrog steps known now, so that the loop has a static length.
            step_size = np.float32(step_size)
            num_steps = int(capped_num_steps(np, step_size, max_trajectory_length))
        elif not adapt_step_size:
            step_size, num_steps = jnp.asarray(step_size, jnp.float32), num_integration_steps
        else:
            step_size = jnp.exp(jnp.where(adapting, adaptation.log_step_size, adaptation.log_step_size_avg))
            num_steps = capped_num_steps(jnp, step_size, max_trajectory_length)

        # p ~ N(0, M): standard normal scaled by sqrt(M) = 1 / sqrt(M^-1).
        momentum = jax.tree.map(lambda n, m: (n * jax.lax.rsqrt(jnp.asarray(m, jnp.float32))).astype(n.dtype),
                                normal_like(momentum_key, state.position), inverse_mass_matrix)
        position, new_momentum, total, terms, grad = leapfrog(
            _value_and_grad(logdensity_fn), batch, state, momentum, step_size, inverse_mass_matrix, temperature,
            num_steps)

        log_ratio = (potential_change(state.logdensity_terms, terms) / temperature
                     - kinetic_change(inverse_mass_matrix, momentum, new_momentum))
        energy_change = -log_ratio
        # A non-finite proposal is rejected outright: accepting it would leave the chain
        # with a position or gradient no later step recovers from.
        finite = jnp.isfinite(log_ratio) & jnp.isfinite(total) & _all_finite(position) & _all_finite(grad)
        is_divergent = ~finite | (energy_change > DIVERGENCE_THRESHOLD)
        acceptance_rate = jnp.where(finite, jnp.exp(jnp.minimum(jnp.where(finite, log_ratio, 0.0), 0.0)), 0.0)
        is_accepted = jax.random.uniform(accept_key, dtype=acceptance_rate.dtype) < acceptance_rate

        position, total, terms, grad = tree_where(is_accepted, (position, total, terms, grad), (
            state.position, state.logdensity, state.logdensity_terms, state.logdensity_grad))
        restarted_at = 0 if state.mass is None else state.mass.restarted_at
        adapted = _dual_averaging_update(adaptation, acceptance_rate, state.step + 1 - restarted_at,
                                         target_acceptance_rate)
        mass = state.mass
        if mass_windows is not None:
            adapted_mass, window_end = _adapt_mass(mass, position, state.step + 1, mass_windows)
            mass = tree_where(adapting, adapted_mass, mass)
            # A new M changes the step size that fits: dual averaging starts again from the current one.
            restarted = _dual_averaging_init(jnp.exp(adapted.log_step_size))
            adapted = tree_where(window_end, restarted, adapted)
        adaptation = tree_where(adapting, adapted, adaptation)
        info = HMCInfo(
            weight=jnp.ones((), jnp.float32),
            acceptance_rate=acceptance_rate.astype(jnp.float32),
            is_accepted=is_accepted,
            is_divergent=is_divergent,
            step_size=jnp.asarray(step_size, jnp.float32),
            logdensity=total,
            num_integration_steps=jnp.asarray(num_steps, jnp.int32),
            energy_change=energy_change.astype(jnp.float32),
        )
        return HMCState(position, total, terms, grad, state.step + 1, adaptation, mass), info

    return kernel


def _check_inverse_mass_matrix(inverse_mass_matrix: ArrayTree) -> ArrayTree:
    """The leaves as float arrays, each entry checked to be finite and positive where it is
    concrete (not when the constructor runs under a transformation)."""
    leaves = jax.tree.leaves(inverse_mass_matrix)
    if not leaves:
        raise ValueError("inverse_mass_matrix has no arrays; pass None for the identity")
    for leaf in leaves:
        try:
            values = np.asarray(leaf, np.float64)
        except (TypeError, ValueError, jax.errors.TracerArrayConversionError):
            continue
        if not np.all(np.isfinite(values) & (values > 0)):
            raise ValueError(f"inverse_mass_matrix must have finite entries > 0, got min {np.min(values)}")
    return jax.tree.map(lambda leaf: jnp.asarray(leaf, jnp.float32), inverse_mass_matrix)


def hmc(
    logdensity_fn: LogDensityFn,
    step_size: float,
    num_integration_steps: int,
    inverse_mass_matrix: ArrayTree | None = None,
    *,
    target_acceptance_rate: float = 0.8,
    adaptation_steps: int = 0,
    max_trajectory_length: float | None = None,
    temperature: float = 1.0,
    adapt_mass_matrix: bool = False,
) -> SamplingAlgorithm:
    """Full-batch HMC as a :class:`SamplingAlgorithm`.

    Each step: fresh momentum, ``L`` leapfrog steps, Metropolis–Hastings accept (a
    rejected or divergent proposal leaves the state as it was). The target is
    ``p(theta)^(1/T)``: every term of ``logdensity_fn`` is divided by ``T``. Pass the
    driver's burn-in as ``adaptation_steps`` so that the step size is frozen before the
    first kept draw.

    Args:
        logdensity_fn: ``logdensity_fn(params, batch)``, the exact log posterior on the
            whole data (``batch`` is the whole data set, or None for targets without
            data). It may return a scalar, or a pytree of terms (e.g. ``(log_prior,
            log_likelihood)``, a dict, per-example arrays) whose entries sum to the log
            density: acceptance is then decided from per-term differences, which float32
            resolves where a difference of two large totals does not. Put large
            constants in a term of their own (they cancel exactly).
        step_size: epsilon, a positive number (no schedules: a step size that moves after
            burn-in would break the Metropolis–Hastings correction's invariance); the
            initial value when adapting.
        num_integration_steps: ``L``, leapfrog steps per proposal (the most, with
            ``max_trajectory_length``).
        inverse_mass_matrix: the diagonal of ``M^-1`` as a pytree with the position's
            structure, each leaf an array broadcastable to the position's leaf (a scalar
            per leaf is allowed), entries > 0; None: the identity. Ideally the posterior
            variances.
        target_acceptance_rate: the acceptance rate dual averaging aims for, in (0, 1).
        adaptation_steps: adapt the step size during this many first steps (usually the
            driver's ``burn_in``), then freeze it at the averaged value; 0: never adapt.
        max_trajectory_length: cap the leapfrog steps at ``max(1, floor(length /
            epsilon))``, so that ``L epsilon`` does not grow with an adapted epsilon
            (None: no cap).
        temperature: T > 0; the chain targets ``p^(1/T)``. If ``logdensity_fn`` is
            already tempered (``posterior.density.log_posterior(temperature=...)``), leave
            this at 1.
        adapt_mass_matrix: also adapt the diagonal of ``M^-1`` during the
            ``adaptation_steps`` (at least 20), in Stan's windows (see the module
            docstring), starting from ``inverse_mass_matrix``; frozen after.

    Returns:
        ``SamplingAlgorithm(init, step)`` with ``init(position, batch=None)`` (the state
        holds the log density and gradient, so ``init`` needs the data when the log
        density reads it) and ``step(key, state, batch=None)``.

    Raises:
        ValueError: naming the argument, for hyperparameters out of range.
    """
    if callable(step_size):
        raise ValueError("step_size must be a number: HMC takes no schedule (adapt it with adaptation_steps)")
    check_positive("step_size", step_size)
    check_integer("num_integration_steps", num_integration_steps, 1)
    check_integer("adaptation_steps", adaptation_steps, 0)
    check_probability("target_acceptance_rate", target_acceptance_rate)
    if max_trajectory_length is not None:
        check_positive("max_trajectory_length", max_trajectory_length)
    check_positive("temperature", temperature)
    if adapt_mass_matrix and adaptation_steps < _MIN_MASS_ADAPTATION_STEPS:
        raise ValueError(f"adapt_mass_matrix needs adaptation_steps >= {_MIN_MASS_ADAPTATION_STEPS} to estimate "
                         f"variances in, got {adaptation_steps}")
    if inverse_mass_matrix is not None:
        inverse_mass_matrix = _check_inverse_mass_matrix(inverse_mass_matrix)
    if max_trajectory_length is not None:
        max_trajectory_length = float(max_trajectory_length)
    step_size = float(step_size)
    if adaptation_steps == 0 and max_trajectory_length is not None:
        # The loop's length follows from these two when the program is built.
        step_size, max_trajectory_length = Static(step_size), Static(max_trajectory_length)
    windows = mass_adaptation_windows(int(adaptation_steps)) if adapt_mass_matrix else None
    settings = Static((int(num_integration_steps), adaptation_steps > 0, windows))
    step = Partial(_step, logdensity_fn, settings, step_size, inverse_mass_matrix, float(temperature),
                   float(target_acceptance_rate), int(adaptation_steps), max_trajectory_length)
    init = Partial(_init, logdensity_fn, step_size, inverse_mass_matrix, Static(bool(adapt_mass_matrix)))
    return SamplingAlgorithm(init, step, full_batch=True)


def _value(setting: Any) -> Any:
    return setting.value if isinstance(setting, Static) else setting


def _inverse_mass_for(inverse_mass_matrix: ArrayTree | None, position: ArrayTree) -> ArrayTree:
    """The diagonal of ``M^-1`` for ``position``: ones without a matrix; a matrix that does
    not fit the position is refused naming the mismatch."""
    if inverse_mass_matrix is None:
        return jax.tree.map(lambda x: jnp.ones((), jnp.float32), position)
    if jax.tree.structure(inverse_mass_matrix) != jax.tree.structure(position):
        raise ValueError(
            f"inverse_mass_matrix must have the position's structure {jax.tree.structure(position)}, "
            f"got {jax.tree.structure(inverse_mass_matrix)}")
    for m, x in zip(jax.tree.leaves(inverse_mass_matrix), jax.tree.leaves(position)):
        try:
            fits = jnp.broadcast_shapes(jnp.shape(m), jnp.shape(x)) == jnp.shape(x)
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"inverse_mass_matrix leaf of shape {jnp.shape(m)} does not broadcast to the "
                             f"position's leaf of shape {jnp.shape(x)}")
    return inverse_mass_matrix


def _init(logdensity_fn: LogDensityFn, step_size: float | Static, inverse_mass_matrix: ArrayTree | None,
          adapt_mass: Static, position: ArrayTree, batch: ArrayTree = None) -> HMCState:
    # A mismatched mass matrix fails here, not inside the loop.
    start = _inverse_mass_for(inverse_mass_matrix, position)
    return init(position, batch, logdensity_fn, _value(step_size), adapt_mass_from=start if adapt_mass.value else None)


def _step(logdensity_fn: LogDensityFn, settings: Static, step_size: float | Static,
          inverse_mass_matrix: ArrayTree | None, temperature: float, target_acceptance_rate: float,
          adaptation_steps: int, max_trajectory_length: float | Static | None, key: PRNGKey, state: HMCState,
          batch: ArrayTree = None) -> tuple[HMCState, HMCInfo]:
    num_integration_steps, adapt_step_size, mass_windows = settings.value
    kernel = build_kernel(num_integration_steps, adapt_step_size=adapt_step_size, mass_windows=mass_windows)
    return kernel(key, state, batch, logdensity_fn, _value(step_size),
                  _inverse_mass_for(inverse_mass_matrix, state.position), temperature,
                  target_acceptance_rate=target_acceptance_rate, adaptation_steps=adaptation_steps,
                  max_trajectory_length=_value(max_trajectory_length))
