"""Measurement sets: the inputs at which a network's function-space prior meets a GP.

Fitting a weight prior so that the network's functions look like GP draws compares the
two only at finitely many inputs ``X_M``, drawn afresh at every iteration so that the
fit covers the input region rather than one fixed set of points. Each strategy here is
a NamedTuple with a ``sample(key)`` method giving a ``(num_points, d)`` float32 array.
Numbers that set shapes (``num_points``, ``data_fraction``) must be Python numbers, so
call ``sample`` inside ``jit`` on a strategy the jitted function closes over; passed as
a jitted function's argument, a NamedTuple's fields would all be traced.
:func:`measurement_from_spec` builds a strategy from plain config data.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (measurement sets mixing
    training inputs with uniform draws in their bounding box).
"""

from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["Grid", "TrainingSubset", "UniformBox", "Mixture", "MeasurementSet", "measurement_from_spec"]

PRNGKey = jax.Array


def _check_enough_rows(x_train: Any, needed: Any, key: str) -> None:
    """Refuse to draw more distinct rows than ``x_train`` has.

    The pytree machinery rebuilds NamedTuples with tracers, placeholders or arrays as
    fields (``jit`` arguments, ``vmap`` axis specs, ``jax.device_put``), so the check
    runs only when both values are concrete: a Python int and an array.
    """
    if isinstance(needed, int) and hasattr(x_train, "shape") and needed > x_train.shape[0]:
        raise ValueError(f"{key} must be at most the {x_train.shape[0]} rows of x_train, got {needed}")


class Grid(NamedTuple):
    """``num_points`` evenly spaced 1-D inputs from ``low`` to ``high`` (both included).

    The same points at every call (``key`` is ignored): for 1-D toy problems, where a
    grid covers the whole plotted range, gaps between the data included.

    Attributes:
        low: the first point.
        high: the last point.
        num_points: how many points.
    """

    low: float
    high: float
    num_points: int

    def sample(self, key: PRNGKey) -> jax.Array:
        """The grid as a ``(num_points, 1)`` array; ``key`` is ignored."""
        del key
        return jnp.linspace(self.low, self.high, self.num_points, dtype=jnp.float32)[:, None]


class _TrainingSubsetFields(NamedTuple):
    x_train: jax.Array
    num_points: int


class TrainingSubset(_TrainingSubsetFields):
    """``num_points`` distinct rows of ``x_train``, drawn without replacement.

    Measures the prior where the data are; "distinct" means distinct row indices, so
    duplicated training inputs can still appear twice.

    Attributes:
        x_train: the training inputs, shape ``(n, d)``.
        num_points: how many rows to draw (at most ``n``).

    Raises:
        ValueError: at construction, if ``num_points`` exceeds the number of rows.
    """

    # A NamedTuple cannot define __new__ itself; a subclass can (with no instance dict).
    __slots__ = ()

    def __new__(cls, x_train: jax.Array, num_points: int) -> "TrainingSubset":
        _check_enough_rows(x_train, num_points, "TrainingSubset num_points")
        return super().__new__(cls, x_train, num_points)

    def sample(self, key: PRNGKey) -> jax.Array:
        """A fresh subset as a ``(num_points, d)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            The chosen rows of ``x_train``, in random order.
        """
        x_train = jnp.asarray(self.x_train, jnp.float32)
        rows = jax.random.choice(key, x_train.shape[0], (self.num_points,), replace=False)
        return x_train[rows]


class UniformBox(NamedTuple):
    """``num_points`` inputs uniform in the box ``[low, high)`` (per feature).

    Attributes:
        low: the lower corner, shape ``(d,)``, or a scalar for ``d = 1``.
        high: the upper corner, shaped as ``low``.
        num_points: how many points.
    """

    low: ArrayLike
    high: ArrayLike
    num_points: int

    def sample(self, key: PRNGKey) -> jax.Array:
        """Fresh uniform points as a ``(num_points, d)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            Points with feature ``j`` uniform in ``[low[j], high[j])``.
        """
        low = jnp.atleast_1d(jnp.asarray(self.low, jnp.float32))
        high = jnp.atleast_1d(jnp.asarray(self.high, jnp.float32))
        unit = jax.random.uniform(key, (self.num_points, low.shape[0]), jnp.float32)
        return low + (high - low) * unit


class _MixtureFields(NamedTuple):
    x_train: jax.Array
    num_points: int
    data_fraction: float = 0.7  # the UCI reference strategy's 70 of 100


class Mixture(_MixtureFields):
    """Training rows plus uniform points in the training inputs' bounding box.

    ``round(data_fraction * num_points)`` distinct rows of ``x_train`` (Python's
    ``round``, half to even) come first, then the remaining points uniform in the box
    spanned by ``x_train`` (per-feature minimum and maximum). The data rows keep the
    prior honest where predictions are made, the box points between and around them.
    The UCI reference strategy is 100 points, 70 from the data and 30 from the box.

    Attributes:
        x_train: the training inputs, shape ``(n, d)``.
        num_points: how many points in all.
        data_fraction: the fraction of them taken from ``x_train``, in ``[0, 1]``.

    Raises:
        ValueError: at construction, if ``data_fraction`` is outside ``[0, 1]`` or more
            training rows are asked for than ``x_train`` has.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    __slots__ = ()

    def __new__(cls, x_train: jax.Array, num_points: int, data_fraction: float = 0.7) -> "Mixture":
        # Checked only for concrete numbers, as in _check_enough_rows.
        if isinstance(data_fraction, int | float):
            if not 0.0 <= data_fraction <= 1.0:
                raise ValueError(f"Mixture data_fraction must be in [0, 1], got {data_fraction!r}")
            if isinstance(num_points, int):
                _check_enough_rows(x_train, round(data_fraction * num_points),
                                   "Mixture round(data_fraction * num_points)")
        return super().__new__(cls, x_train, num_points, data_fraction)

    @property
    def num_data(self) -> int:
        """How many of the points are rows of ``x_train``."""
        return round(self.data_fraction * self.num_points)

    def sample(self, key: PRNGKey) -> jax.Array:
        """A fresh mixture as a ``(num_points, d)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            ``num_data`` training rows (random order), then the box points.
        """
        data_key, box_key = jax.random.split(key)
        x_train = jnp.asarray(self.x_train, jnp.float32)
        data = TrainingSubset(x_train, self.num_data).sample(data_key)
        box = UniformBox(jnp.min(x_train, axis=0), jnp.max(x_train, axis=0), self.num_points - self.num_data)
        return jnp.concatenate([data, box.sample(box_key)])


MeasurementSet = Grid | TrainingSubset | UniformBox | Mixture

# For each kind: the keys it requires, then the keys it may hold.
_REQUIRED = {
    "grid": ("low", "high", "num_points"),
    "training": ("num_points",),
    "box": ("num_points",),
    "mixture": ("num_points",),
}
_OPTIONAL = {"mixture": ("data_fraction",)}


def _number(spec: Mapping, key: str, path: str) -> float:
    value = spec[key]
    # bool is an int subclass, but ``low: true`` is a config mistake, not 1.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{path}.{key} must be a number, got {value!r}")
    return float(value)


def measurement_from_spec(spec: Mapping, *, x_train: ArrayLike, path: str = "prior.fit.measurement") -> MeasurementSet:
    """A measurement-set strategy from plain config data.

    ``spec["kind"]`` is ``grid`` (``low``, ``high``, ``num_points``; 1-D inputs only),
    ``training`` (``num_points`` rows of ``x_train``), ``box`` (``num_points`` uniform in
    the box spanned by ``x_train``) or ``mixture`` (``num_points``, and
    ``data_fraction`` with default 0.7). For example::

        {"kind": "mixture", "num_points": 100, "data_fraction": 0.7}
        {"kind": "grid", "low": -6, "high": 6, "num_points": 200}

    Args:
        spec: the mapping (as loaded from YAML).
        x_train: the training inputs, shape ``(n, d)``.
        path: where ``spec`` sits in the config, for error messages.

    Returns:
        A :class:`Grid`, :class:`TrainingSubset`, :class:`UniformBox` or :class:`Mixture`.

    Raises:
        ValueError: for an unknown kind or key, a missing key, ``num_points`` below 1
            or above the training rows it needs, ``data_fraction`` outside ``[0, 1]``,
            ``high <= low``, or a grid on inputs with more than one feature; the
            one-line message names the key.
    """
    if not isinstance(spec, Mapping):
        raise ValueError(f"{path} must be a mapping with a 'kind', got {spec!r}")
    kinds = ", ".join(_REQUIRED)
    if "kind" not in spec:
        raise ValueError(f"{path}.kind is missing (one of: {kinds})")
    kind = spec["kind"]
    if kind not in _REQUIRED:
        raise ValueError(f"{path}.kind must be one of {kinds}, got {kind!r}")
    allowed = ("kind", *_REQUIRED[kind], *_OPTIONAL.get(kind, ()))
    for key in spec:
        if key not in allowed:
            raise ValueError(f"{path}.{key} is not a key of a {kind!r} measurement set (expected one of: "
                             f"{', '.join(allowed)})")
    for key in _REQUIRED[kind]:
        if key not in spec:
            raise ValueError(f"{path}.{key} is missing (a {kind!r} measurement set needs it)")

    num_points = spec["num_points"]
    if not isinstance(num_points, int) or isinstance(num_points, bool) or num_points < 1:
        raise ValueError(f"{path}.num_points must be a positive integer, got {num_points!r}")
    x_train = jnp.asarray(x_train, jnp.float32)

    if kind == "grid":
        if x_train.shape[1] != 1:
            raise ValueError(f"{path}.kind 'grid' needs 1-D inputs, but x_train has {x_train.shape[1]} features")
        low, high = _number(spec, "low", path), _number(spec, "high", path)
        if high <= low:
            raise ValueError(f"{path}.high must be greater than low ({low:g}), got {high:g}")
        return Grid(low, high, num_points)
    if kind == "training":
        _check_enough_rows(x_train, num_points, f"{path}.num_points")
        return TrainingSubset(x_train, num_points)
    if kind == "box":
        return UniformBox(jnp.min(x_train, axis=0), jnp.max(x_train, axis=0), num_points)
    data_fraction = (_number(spec, "data_fraction", path) if "data_fraction" in spec
                     else _MixtureFields._field_defaults["data_fraction"])
    if not 0.0 <= data_fraction <= 1.0:
        raise ValueError(f"{path}.data_fraction must be in [0, 1], got {spec['data_fraction']!r}")
    _check_enough_rows(x_train, round(data_fraction * num_points), f"{path}.num_points * data_fraction (rounded)")
    return Mixture(x_train, num_points, data_fraction)
