"""Gaussian-process kernels and draws of functions from GP priors.

A GP prior is the target a network's function-space prior is fitted to: a kernel, or a
:class:`Hierarchical` kernel whose hyperparameters are redrawn for every function.
Kernels are frozen dataclasses registered as JAX pytrees whose leaves are their
hyperparameters, so a kernel can be built inside ``jit`` or ``vmap`` from traced
values, differentiated with respect to its hyperparameters (``jax.grad`` of a loss with
respect to the kernel gives a kernel of gradients), and passed to jitted functions as an
ordinary argument. Kernels add and multiply (``k1 + k2``, ``k1 * k2``).
:func:`sample_functions` draws function values at given inputs by Cholesky
factorisation, and :func:`kernel_from_spec` builds a GP prior from plain config data.

References:
    Rasmussen & Williams, Gaussian Processes for Machine Learning, MIT Press 2006,
    chapter 4 (the kernels).
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (GP targets for BNN priors).
"""

import abc
import dataclasses
import functools
import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = [
    "Kernel",
    "RBF",
    "Matern12",
    "Matern32",
    "Matern52",
    "Periodic",
    "Linear",
    "Sum",
    "Product",
    "Hierarchical",
    "sample_functions",
    "kernel_from_spec",
]

PRNGKey = jax.Array


class Kernel(abc.ABC):
    """A covariance function ``k(x1, x2)``; kernels add and multiply into new kernels."""

    @abc.abstractmethod
    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        """The covariance matrix between two sets of inputs.

        Args:
            x1: inputs of shape ``(n1, d)``.
            x2: inputs of shape ``(n2, d)``.

        Returns:
            The ``(n1, n2)`` matrix with entries ``k(x1[i], x2[j])``.
        """

    def __add__(self, other: "Kernel") -> "Sum":
        return Sum(self, other)

    def __mul__(self, other: "Kernel") -> "Product":
        return Product(self, other)


def _scaled_sq_dist(x1: jax.Array, x2: jax.Array, lengthscale: ArrayLike) -> jax.Array:
    """``||(x1[i] - x2[j]) / lengthscale||^2`` for all pairs, shape ``(n1, n2)``.

    Differences are formed explicitly rather than as ``|a|^2 + |b|^2 - 2 a.b``: that
    expansion cancels catastrophically in float32, giving small negative distances and
    a diagonal that is not exactly zero. ``lengthscale`` broadcasts against the last
    axis, so a scalar is isotropic and a ``(d,)`` vector is ARD.
    """
    diff = (x1[:, None, :] - x2[None, :, :]) / jnp.asarray(lengthscale)
    return jnp.sum(jnp.square(diff), axis=-1)


def _safe_dist(sq_dist: jax.Array) -> jax.Array:
    """``sqrt(sq_dist)`` with a finite gradient at zero distance.

    The gradient of ``sqrt`` is infinite at 0, and ``inf * 0`` from the chain rule is
    NaN, so the Matern kernels would give NaN gradients on their own diagonals. Flooring
    at the smallest normal number routes the gradient through the constant instead
    (zero, which is the correct one-sided limit for a symmetric function of distance);
    the values change by at most ``sqrt(tiny)``, about 1e-19 in float32.
    """
    return jnp.sqrt(jnp.maximum(sq_dist, jnp.finfo(sq_dist.dtype).tiny))


@dataclasses.dataclass(frozen=True)
class _Stationary(Kernel):
    """``variance * correlation(r^2)`` of the scaled squared distance ``r^2`` (see :class:`RBF`).

    Attributes:
        variance: the marginal variance ``k(x, x)``.
        lengthscale: a scalar, or an array of shape ``(d,)``.
    """

    variance: ArrayLike = 1.0
    lengthscale: ArrayLike = 1.0

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.variance * self._correlation(_scaled_sq_dist(x1, x2, self.lengthscale))

    @abc.abstractmethod
    def _correlation(self, sq_dist: jax.Array) -> jax.Array:
        """The correlation at scaled squared distance ``sq_dist``."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RBF(_Stationary):
    """The squared-exponential kernel ``variance * exp(-r^2 / 2)``.

    ``r = ||(x1 - x2) / lengthscale||``: a scalar lengthscale is isotropic, a ``(d,)``
    vector gives one lengthscale per input dimension (automatic relevance determination).
    Draws are infinitely differentiable. Fields as in :class:`_Stationary`.
    """

    def _correlation(self, sq_dist: jax.Array) -> jax.Array:
        return jnp.exp(-0.5 * sq_dist)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Matern12(_Stationary):
    """The Matern-1/2 (exponential) kernel ``variance * exp(-r)``.

    ``r`` as in :class:`RBF` (scalar or ARD lengthscale). Draws are continuous but
    nowhere differentiable (the Ornstein-Uhlenbeck process in 1-D). Fields as in
    :class:`_Stationary`.
    """

    def _correlation(self, sq_dist: jax.Array) -> jax.Array:
        return jnp.exp(-_safe_dist(sq_dist))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Matern32(_Stationary):
    """The Matern-3/2 kernel ``variance * (1 + sqrt(3) r) * exp(-sqrt(3) r)``.

    ``r`` as in :class:`RBF` (scalar or ARD lengthscale). Draws are once differentiable.
    Fields as in :class:`_Stationary`.
    """

    def _correlation(self, sq_dist: jax.Array) -> jax.Array:
        scaled = math.sqrt(3.0) * _safe_dist(sq_dist)
        return (1.0 + scaled) * jnp.exp(-scaled)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Matern52(_Stationary):
    """The Matern-5/2 kernel ``variance * (1 + sqrt(5) r + 5 r^2 / 3) * exp(-sqrt(5) r)``.

    ``r`` as in :class:`RBF` (scalar or ARD lengthscale). Draws are twice differentiable.
    Fields as in :class:`_Stationary`.
    """

    def _correlation(self, sq_dist: jax.Array) -> jax.Array:
        scaled = math.sqrt(5.0) * _safe_dist(sq_dist)
        return (1.0 + scaled + (5.0 / 3.0) * sq_dist) * jnp.exp(-scaled)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Periodic(Kernel):
    """The periodic kernel ``variance * exp(-2 sum_d sin^2(pi (x1_d - x2_d) / period) / lengthscale^2)``.

    MacKay's form for ``d >= 1`` inputs: a product over dimensions of 1-D periodic
    kernels, so draws repeat with ``period`` along every input axis. ``lengthscale`` and
    ``period`` may also be ``(d,)`` vectors, one per dimension (they broadcast against
    the last input axis).

    Attributes:
        variance: the marginal variance ``k(x, x)``.
        lengthscale: how fast correlation decays within one period.
        period: the distance after which draws repeat.

    References:
        MacKay, Introduction to Gaussian processes, in Neural Networks and Machine
        Learning (NATO ASI Series), 1998.
    """

    variance: ArrayLike = 1.0
    lengthscale: ArrayLike = 1.0
    period: ArrayLike = 1.0

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        diff = x1[:, None, :] - x2[None, :, :]
        sines = jnp.sin(math.pi * diff / jnp.asarray(self.period)) / jnp.asarray(self.lengthscale)
        return self.variance * jnp.exp(-2.0 * jnp.sum(jnp.square(sines), axis=-1))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Linear(Kernel):
    """The linear (dot-product) kernel ``bias + variance * x1 . x2``.

    Draws are affine functions ``w . x + b`` with ``w ~ N(0, variance I)`` and
    ``b ~ N(0, bias)``; the covariance matrix has rank at most ``d + 1``, so on more
    points it is singular and only the jitter of :func:`sample_functions` makes it
    factorisable.

    Attributes:
        variance: the prior variance of each slope.
        bias: the prior variance of the offset (may be 0).
    """

    variance: ArrayLike = 1.0
    bias: ArrayLike = 0.0

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.bias + self.variance * (x1 @ x2.T)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Sum(Kernel):
    """``left(x1, x2) + right(x1, x2)``: draws are sums of independent draws of each.

    Attributes:
        left: a kernel.
        right: a kernel.
    """

    left: Kernel
    right: Kernel

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.left(x1, x2) + self.right(x1, x2)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Product(Kernel):
    """``left(x1, x2) * right(x1, x2)`` (entrywise), positive semi-definite by Schur's theorem.

    Attributes:
        left: a kernel.
        right: a kernel.
    """

    left: Kernel
    right: Kernel

    def __call__(self, x1: jax.Array, x2: jax.Array) -> jax.Array:
        return self.left(x1, x2) * self.right(x1, x2)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Hierarchical:
    """A GP prior whose kernel hyperparameters are redrawn for every function.

    Every hyperparameter ``h`` of ``kernel`` (every leaf of its pytree, each entry of
    an ARD lengthscale separately) becomes ``h * exp(log_std * z)`` with an independent
    ``z ~ N(0, 1)`` per function: log-normal with median ``h``. A hyperparameter that
    is 0 (a :class:`Linear` bias) stays 0. The marginal law of a function is then a
    scale mixture of GPs, with heavier tails and more varied lengthscales than any one
    GP.

    The perturbed values are used as hyperparameters directly. The reference code
    passes them through a softplus first, so its "median" is ``softplus(h)`` rather than
    ``h``; that is not copied here, and a config's numbers mean what they say.

    Attributes:
        kernel: the kernel whose hyperparameters are the medians.
        log_std: the standard deviation of each ``log h``.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    kernel: Kernel
    log_std: ArrayLike

    def draw_kernel(self, key: PRNGKey) -> Kernel:
        """One kernel with independently perturbed hyperparameters.

        Args:
            key: a JAX PRNG key.

        Returns:
            A kernel with the structure of ``self.kernel``, each leaf multiplied by its
            own ``exp(log_std * z)``.
        """
        leaves, treedef = jax.tree.flatten(self.kernel)
        keys = jax.random.split(key, len(leaves))
        perturbed = [
            leaf * jnp.exp(self.log_std * jax.random.normal(k, jnp.shape(leaf)))
            for k, leaf in zip(keys, leaves)
        ]
        return jax.tree.unflatten(treedef, perturbed)


def _cholesky(kernel: Kernel, x: jax.Array, jitter: float) -> jax.Array:
    """The lower Cholesky factor of ``K(x, x) + jitter * mean(diag K) * I``."""
    gram = kernel(x, x)
    # Relative to the mean marginal variance, so one default suits any kernel scale.
    nugget = jitter * jnp.mean(jnp.diagonal(gram))
    return jnp.linalg.cholesky(gram + nugget * jnp.eye(gram.shape[0], dtype=gram.dtype))


# Compiled as a whole: op-by-op, the vmapped Cholesky of a hierarchical target costs
# seconds of dispatch on every call.
@functools.partial(jax.jit, static_argnames="num_functions")
def sample_functions(
    key: PRNGKey,
    target: Kernel | Hierarchical,
    x: jax.Array,
    num_functions: int,
    *,
    jitter: float = 1e-5,
) -> jax.Array:
    """Draws of ``f(x)`` under a zero-mean GP prior.

    Each row is ``f(x) ~ N(0, K(x, x) + jitter * mean(diag K) * I)``, drawn as ``L z``
    with ``L`` the Cholesky factor. For a :class:`Kernel` all rows share one
    factorisation; for a :class:`Hierarchical` target each row has its own kernel draw
    and its own factorisation (``vmap`` over functions).

    The jitter is relative to the mean marginal variance, so the same value suits any
    kernel variance. Smooth kernels on many or close points have covariance matrices
    that are singular to working precision, and the jitter must exceed the rounding
    error of the factorisation (about ``n * eps`` relative). Measured in float32:
    ``1e-6`` failed for an RBF kernel on 100 random 1-D points and on a 200-point grid
    over ``[-6, 6]`` with lengthscale 2, and ``1e-5`` held in every RBF case tried (up
    to 1000 points in 3-D), hence the default. A failed factorisation gives NaN rows
    rather than an error (nothing can be raised under ``jit``).

    Inputs of more than one axis after the first (images) are flattened to
    ``(n, prod(input_shape))`` first: a kernel sees each image as its vector of pixels.

    Jitted, with ``num_functions`` static; ``target`` is a pytree, so its
    hyperparameters are traced arguments and new values do not recompile.

    Args:
        key: a JAX PRNG key.
        target: a kernel, or a hierarchical GP prior.
        x: inputs of shape ``(n, d)``, or ``(n, *input_shape)`` (e.g. NHWC images).
        num_functions: how many functions to draw (a Python int: it sets a shape).
        jitter: the diagonal added to ``K``, as a fraction of ``mean(diag K)``.

    Returns:
        An array of shape ``(num_functions, n)``: row ``i`` is function ``i`` at ``x``.
    """
    x = x.reshape(x.shape[0], -1)
    if isinstance(target, Hierarchical):

        def one_function(function_key: PRNGKey) -> jax.Array:
            kernel_key, noise_key = jax.random.split(function_key)
            chol = _cholesky(target.draw_kernel(kernel_key), x, jitter)
            return chol @ jax.random.normal(noise_key, (x.shape[0],), chol.dtype)

        return jax.vmap(one_function)(jax.random.split(key, num_functions))
    chol = _cholesky(target, x, jitter)
    return jax.random.normal(key, (num_functions, x.shape[0]), chol.dtype) @ chol.T


# The keys each kind of spec may hold besides "kind" (and "hierarchical" at the top).
_STATIONARY_KEYS = ("variance", "lengthscale")
_LEAF_KINDS: dict[str, tuple[type[Kernel], tuple[str, ...]]] = {
    "rbf": (RBF, _STATIONARY_KEYS),
    "matern12": (Matern12, _STATIONARY_KEYS),
    "matern32": (Matern32, _STATIONARY_KEYS),
    "matern52": (Matern52, _STATIONARY_KEYS),
    "periodic": (Periodic, (*_STATIONARY_KEYS, "period")),
    "linear": (Linear, ("variance", "bias")),
}
_COMBINATIONS: dict[str, type[Kernel]] = {"sum": Sum, "product": Product}
_KINDS = (*_LEAF_KINDS, *_COMBINATIONS)
# How a spec's lengthscale is read: as written, or in units of sqrt(d) for d input
# dimensions. Two independent standardised inputs lie about sqrt(2 d) apart, so a
# lengthscale in units of sqrt(d) means the same correlation for 8x8 digits (d = 64) as
# for CIFAR's 32x32x3 (d = 3072).
_LENGTHSCALE_UNITS = ("absolute", "sqrt_dim")


def _is_number(value: Any) -> bool:
    # bool is an int subclass, but ``variance: true`` is a config mistake, not 1.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_number(value: Any, key: str, *, allow_zero: bool = False) -> float:
    """``value`` as a float, if it is a positive (or, with ``allow_zero``, non-negative) number."""
    if not _is_number(value):
        raise ValueError(f"{key} must be a number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{key} must be {bound}, got {value!r}")
    return float(value)


def _check_scale(value: Any, key: str) -> float | jax.Array:
    """A positive number, or a non-empty list of them (one per input dimension)."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError(f"{key} must be a positive number or a non-empty list of them, got []")
        return jnp.asarray([_check_number(v, f"{key}[{i}]") for i, v in enumerate(value)])
    if not _is_number(value):
        raise ValueError(f"{key} must be a positive number or a list of them, got {value!r}")
    return _check_number(value, key)


def _check_keys(spec: Mapping, allowed: tuple[str, ...], path: str, kind: str) -> None:
    for key in spec:
        if key not in allowed:
            raise ValueError(f"{path}.{key} is not a key of a {kind!r} kernel (expected one of: "
                             f"{', '.join(allowed)})")


def _lengthscale_factor(spec: Mapping, path: str, input_dim: int | None) -> float:
    """What ``spec``'s lengthscale is multiplied by: 1, or ``sqrt(input_dim)`` for ``lengthscale_unit: sqrt_dim``."""
    unit = spec.get("lengthscale_unit", "absolute")
    if unit not in _LENGTHSCALE_UNITS:
        raise ValueError(f"{path}.lengthscale_unit must be one of {', '.join(_LENGTHSCALE_UNITS)}, got {unit!r}")
    if unit == "absolute":
        return 1.0
    if input_dim is None:
        raise ValueError(f"{path}.lengthscale_unit 'sqrt_dim' needs the input dimension, which was not given")
    return math.sqrt(input_dim)


def _kernel(spec: Any, path: str, *, top: bool, input_dim: int | None) -> Kernel:
    """The kernel that ``spec`` describes; a top-level ``hierarchical`` key is left to the caller."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path} must be a mapping with a 'kind', got {spec!r}")
    if "kind" not in spec:
        raise ValueError(f"{path}.kind is missing (one of: {', '.join(_KINDS)})")
    kind = spec["kind"]
    if kind not in _KINDS:
        raise ValueError(f"{path}.kind must be one of {', '.join(_KINDS)}, got {kind!r}")
    if "hierarchical" in spec and not top:
        raise ValueError(f"{path}.hierarchical is allowed only at the top level of the kernel")
    extra = ("hierarchical",) if top else ()
    if kind in _COMBINATIONS:
        _check_keys(spec, ("kind", "terms", *extra), path, kind)
        terms = spec.get("terms")
        if not isinstance(terms, list | tuple) or not terms:
            raise ValueError(f"{path}.terms must be a non-empty list of kernel specs, got {terms!r}")
        kernels = [_kernel(term, f"{path}.terms[{i}]", top=False, input_dim=input_dim)
                   for i, term in enumerate(terms)]
        return functools.reduce(_COMBINATIONS[kind], kernels)
    cls, keys = _LEAF_KINDS[kind]
    unit_key = ("lengthscale_unit",) if "lengthscale" in keys else ()
    _check_keys(spec, ("kind", *keys, *unit_key, *extra), path, kind)
    values = {}
    for key in keys:
        if key not in spec:
            continue  # the class default
        if key == "bias":
            values[key] = _check_number(spec[key], f"{path}.{key}", allow_zero=True)
        elif key == "variance":
            values[key] = _check_number(spec[key], f"{path}.{key}")
        else:
            values[key] = _check_scale(spec[key], f"{path}.{key}")
    if unit_key:
        factor = _lengthscale_factor(spec, path, input_dim)
        if factor != 1.0:
            values["lengthscale"] = values.get("lengthscale", 1.0) * factor
    return cls(**values)


def kernel_from_spec(spec: Mapping, path: str = "target.kernel", *,
                     input_dim: int | None = None) -> Kernel | Hierarchical:
    """A kernel, or a hierarchical GP prior, from plain config data.

    ``spec["kind"]`` is one of ``rbf``, ``matern12``, ``matern32``, ``matern52``,
    ``periodic``, ``linear`` (the other keys are the class's attributes, defaults where
    left out; lengthscales and periods may be lists, one entry per input dimension), or
    ``sum`` / ``product`` with ``terms``, a list of specs. At the top level only,
    ``hierarchical: {log_std: s}`` wraps the kernel in :class:`Hierarchical`. For example::

        {"kind": "rbf", "variance": 1.0, "lengthscale": [1.0, 2.0],
         "hierarchical": {"log_std": 0.5}}
        {"kind": "sum", "terms": [{"kind": "periodic", "period": 2.0}, {"kind": "linear"}]}
        {"kind": "rbf", "lengthscale": 1.4142135624, "lengthscale_unit": "sqrt_dim"}

    A kernel with a lengthscale may say ``lengthscale_unit: sqrt_dim``: its lengthscale
    (1 when left out) is then in units of ``sqrt(input_dim)``, so that one spec suits
    inputs of any size; images are flattened (see :func:`sample_functions`), so
    ``input_dim`` is their number of pixels times channels. The last example is the
    reference's UCI choice ``sqrt(2 d)`` for any ``d``, ``sqrt(128) = 11.3`` for 8x8
    digits. The default, ``absolute``, takes the lengthscale as written.

    Args:
        spec: the mapping (as loaded from YAML).
        path: where ``spec`` sits in the config, for error messages.
        input_dim: the number of input dimensions ``d``, needed only by
            ``lengthscale_unit: sqrt_dim``.

    Returns:
        A :class:`Kernel`, or a :class:`Hierarchical` when ``spec`` has ``hierarchical``.

    Raises:
        ValueError: for an unknown kind or key, a missing ``kind`` or ``terms``, a
            non-positive variance, lengthscale or period, a negative bias or
            ``log_std``, an unknown ``lengthscale_unit`` or ``sqrt_dim`` without
            ``input_dim``; the one-line message names the key, e.g.
            ``target.kernel.terms[1].lengthscale must be positive, got -1``.
    """
    kernel = _kernel(spec, path, top=True, input_dim=input_dim)
    if "hierarchical" not in spec:
        return kernel
    settings, where = spec["hierarchical"], f"{path}.hierarchical"
    if not isinstance(settings, Mapping) or "log_std" not in settings:
        raise ValueError(f"{where} must be a mapping with a 'log_std', got {settings!r}")
    for key in settings:
        if key != "log_std":
            raise ValueError(f"{where}.{key} is not a key of hierarchical (expected: log_std)")
    return Hierarchical(kernel, log_std=_check_number(settings["log_std"], f"{where}.log_std", allow_zero=True))
