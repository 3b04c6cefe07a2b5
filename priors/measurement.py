"""Measurement sets: the inputs at which a network's function-space prior meets a GP.

Fitting a weight prior so that the network's functions look like GP draws compares the
two only at finitely many inputs ``X_M``, drawn afresh at every iteration so that the
fit covers the input region rather than one fixed set of points. Each strategy here is
a NamedTuple with a ``num_points`` and a ``sample(key)`` method giving a ``(num_points,
*input_shape)`` float32 array: ``(num_points, d)`` for feature vectors, ``(num_points,
height, width, channels)`` for images. Numbers that set shapes (``num_points``,
``data_fraction``, ``crop_padding``) must be Python numbers, so call ``sample`` inside
``jit`` on a strategy the jitted function closes over; passed as a jitted function's
argument, a NamedTuple's fields would all be traced (``priors.wasserstein.fit`` passes
only the arrays, such as ``x_train``, and closes over the rest).
:func:`measurement_from_spec` builds a strategy from plain config data.

For images there are training images as they are (:class:`TrainingSubset`), training
images randomly shifted by pad-and-crop and with Gaussian noise added
(:class:`PerturbedTraining`), uniform images in the per-pixel range of the training
images (:class:`UniformBox`, and :class:`Mixture` with training images), and any
concatenation of these (:class:`MeasurementUnion`), e.g. clean and noisy training
images together. The reference code of Tran et al. draws a classifier's measurement
sets as minibatches of training inputs; the perturbations and their sizes are this
package's choice, so that the prior is also matched near, not only at, the images the
posterior will see.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (measurement sets mixing
    training inputs with uniform draws in their bounding box; minibatches of training
    inputs for classifiers, in the reference code).
"""

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from posterior.data.augment import augment

__all__ = ["Grid", "TrainingSubset", "PerturbedTraining", "UniformBox", "Mixture", "MeasurementUnion",
           "MeasurementSet", "measurement_from_spec"]

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
        x_train: the training inputs, shape ``(n, *input_shape)``.
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
        """A fresh subset as a ``(num_points, *input_shape)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            The chosen rows of ``x_train``, in random order.
        """
        x_train = jnp.asarray(self.x_train, jnp.float32)
        rows = jax.random.choice(key, x_train.shape[0], (self.num_points,), replace=False)
        return x_train[rows]


def _check_perturbations(x_train: Any, noise_std: Any, crop_padding: Any, key: str) -> None:
    """Refuse a negative noise level, a crop padding that is not a non-negative integer,
    or a crop of inputs that are not images (concrete values only, as in _check_enough_rows)."""
    if isinstance(noise_std, int | float) and not (noise_std >= 0.0 and math.isfinite(noise_std)):
        raise ValueError(f"{key}noise_std must be a finite number >= 0, got {noise_std!r}")
    if isinstance(crop_padding, int) and crop_padding < 0:
        raise ValueError(f"{key}crop_padding must be a non-negative integer, got {crop_padding!r}")
    if isinstance(crop_padding, int) and crop_padding > 0 and hasattr(x_train, "shape") and len(x_train.shape) != 4:
        raise ValueError(f"{key}crop_padding needs images (n, height, width, channels), but x_train has shape "
                         f"{tuple(x_train.shape)}")


class _PerturbedTrainingFields(NamedTuple):
    x_train: jax.Array
    num_points: int
    noise_std: float = 0.0
    crop_padding: int = 0


class PerturbedTraining(_PerturbedTrainingFields):
    """Distinct training rows, randomly shifted (images) and with Gaussian noise added.

    Each of ``num_points`` distinct rows of ``x_train`` is, if ``crop_padding > 0``,
    padded by ``crop_padding`` zeros on every side and cropped back to its size at a
    uniformly random offset (:func:`posterior.data.augment.augment` without flips:
    a mirrored digit is another digit), so the image moves by up to ``crop_padding``
    pixels each way, the uncovered border at zero, the training mean of standardised
    pixels; then every entry gets independent ``N(0, noise_std^2)`` noise, in the
    standardised units of the inputs. Where the reference measures at training inputs,
    these put the measurement points also between and around them, where test images
    and out-of-distribution inputs fall.

    Attributes:
        x_train: the training inputs, shape ``(n, *input_shape)``; images
            ``(n, height, width, channels)`` for a crop.
        num_points: how many rows to draw (at most ``n``).
        noise_std: the standard deviation of the added noise (>= 0).
        crop_padding: the largest shift in pixels (>= 0; 0: no shift).

    Raises:
        ValueError: at construction, for too many rows, a negative ``noise_std`` or
            ``crop_padding``, or a crop of inputs that are not images.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    __slots__ = ()

    def __new__(cls, x_train: jax.Array, num_points: int, noise_std: float = 0.0,
                crop_padding: int = 0) -> "PerturbedTraining":
        _check_enough_rows(x_train, num_points, "PerturbedTraining num_points")
        _check_perturbations(x_train, noise_std, crop_padding, "PerturbedTraining ")
        return super().__new__(cls, x_train, num_points, noise_std, crop_padding)

    def sample(self, key: PRNGKey) -> jax.Array:
        """Fresh perturbed rows as a ``(num_points, *input_shape)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            The chosen rows of ``x_train`` (random order), shifted, then noised.
        """
        rows_key, crop_key, noise_key = jax.random.split(key, 3)
        points = TrainingSubset(jnp.asarray(self.x_train, jnp.float32), self.num_points).sample(rows_key)
        if self.crop_padding:
            points = augment(crop_key, points, flip=False, crop_padding=self.crop_padding)
        return points + self.noise_std * jax.random.normal(noise_key, points.shape, points.dtype)


class UniformBox(NamedTuple):
    """``num_points`` inputs uniform in the box ``[low, high)`` (per feature, or per pixel).

    Attributes:
        low: the lower corner, of an input's shape (``(d,)``, or ``(height, width,
            channels)`` for images), or a scalar for ``d = 1``.
        high: the upper corner, shaped as ``low``.
        num_points: how many points.
    """

    low: ArrayLike
    high: ArrayLike
    num_points: int

    def sample(self, key: PRNGKey) -> jax.Array:
        """Fresh uniform points as a ``(num_points, *low.shape)`` float32 array.

        Args:
            key: a JAX PRNG key.

        Returns:
            Points with entry ``j`` uniform in ``[low[j], high[j])``.
        """
        low = jnp.atleast_1d(jnp.asarray(self.low, jnp.float32))
        high = jnp.atleast_1d(jnp.asarray(self.high, jnp.float32))
        unit = jax.random.uniform(key, (self.num_points, *low.shape), jnp.float32)
        return low + (high - low) * unit


class _MixtureFields(NamedTuple):
    x_train: jax.Array
    num_points: int
    data_fraction: float = 0.7  # the UCI reference strategy's 70 of 100


class Mixture(_MixtureFields):
    """Training rows plus uniform points in the training inputs' bounding box.

    ``round(data_fraction * num_points)`` distinct rows of ``x_train`` (Python's
    ``round``, half to even) come first, then the remaining points uniform in the box
    spanned by ``x_train`` (per-feature, for images per-pixel, minimum and maximum). The
    data rows keep the prior honest where predictions are made, the box points between
    and around them. The UCI reference strategy is 100 points, 70 from the data and 30
    from the box.

    Attributes:
        x_train: the training inputs, shape ``(n, *input_shape)``.
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
        """A fresh mixture as a ``(num_points, *input_shape)`` float32 array.

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


class MeasurementUnion(NamedTuple):
    """The points of several strategies together, e.g. clean and noisy training images.

    Each part draws its own points (with its own key) at every call; they are
    concatenated in the order of ``parts``.

    Attributes:
        parts: a tuple of strategies whose points have one shape.
    """

    parts: tuple

    @property
    def num_points(self) -> int:
        """How many points in all: the sum over the parts."""
        return sum(part.num_points for part in self.parts)

    def sample(self, key: PRNGKey) -> jax.Array:
        """Every part's fresh points, concatenated, as a ``(num_points, *input_shape)`` array.

        Args:
            key: a JAX PRNG key.

        Returns:
            The first part's points, then the second's, and so on.
        """
        keys = jax.random.split(key, len(self.parts))
        return jnp.concatenate([part.sample(part_key) for part, part_key in zip(self.parts, keys)])


MeasurementSet = Grid | TrainingSubset | PerturbedTraining | UniformBox | Mixture | MeasurementUnion

# For each kind: the keys it requires, then the keys it may hold.
_REQUIRED = {
    "grid": ("low", "high", "num_points"),
    "training": ("num_points",),
    "box": ("num_points",),
    "mixture": ("num_points",),
    "union": ("parts",),
}
_OPTIONAL = {"training": ("noise_std", "crop_padding"), "mixture": ("data_fraction",)}


def _number(spec: Mapping, key: str, path: str) -> float:
    value = spec[key]
    # bool is an int subclass, but ``low: true`` is a config mistake, not 1.
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"{path}.{key} must be a number, got {value!r}")
    return float(value)


def _training(spec: Mapping, x_train: jax.Array, num_points: int, path: str) -> TrainingSubset | PerturbedTraining:
    """The ``training`` kind: plain rows, or perturbed ones when ``noise_std`` or ``crop_padding`` is given."""
    _check_enough_rows(x_train, num_points, f"{path}.num_points")
    if "noise_std" not in spec and "crop_padding" not in spec:
        return TrainingSubset(x_train, num_points)
    noise_std = _number(spec, "noise_std", path) if "noise_std" in spec else 0.0
    crop_padding = spec.get("crop_padding", 0)
    if not isinstance(crop_padding, int) or isinstance(crop_padding, bool):
        raise ValueError(f"{path}.crop_padding must be a non-negative integer, got {crop_padding!r}")
    _check_perturbations(x_train, noise_std, crop_padding, f"{path}.")
    return PerturbedTraining(x_train, num_points, noise_std, crop_padding)


def _union(spec: Mapping, x_train: jax.Array, path: str) -> MeasurementUnion:
    """The ``union`` kind: a strategy for each spec of ``parts``."""
    parts = spec["parts"]
    if not isinstance(parts, list | tuple) or not parts:
        raise ValueError(f"{path}.parts must be a non-empty list of measurement specs, got {parts!r}")
    return MeasurementUnion(tuple(measurement_from_spec(part, x_train=x_train, path=f"{path}.parts[{i}]")
                                  for i, part in enumerate(parts)))


def measurement_from_spec(spec: Mapping, *, x_train: ArrayLike, path: str = "prior.fit.measurement") -> MeasurementSet:
    """A measurement-set strategy from plain config data.

    ``spec["kind"]`` is ``grid`` (``low``, ``high``, ``num_points``; 1-D inputs only),
    ``training`` (``num_points`` rows of ``x_train``; with ``noise_std``, the standard
    deviation of Gaussian noise added to every entry, or ``crop_padding``, the largest
    random shift of an image in pixels, a :class:`PerturbedTraining`), ``box``
    (``num_points`` uniform in the box spanned by ``x_train``, per feature or pixel),
    ``mixture`` (``num_points``, and ``data_fraction`` with default 0.7) or ``union``
    (``parts``, a list of such specs whose points are concatenated). Every kind but
    ``grid`` takes inputs of any shape, images included. For example::

        {"kind": "mixture", "num_points": 100, "data_fraction": 0.7}
        {"kind": "grid", "low": -6, "high": 6, "num_points": 200}
        {"kind": "union", "parts": [{"kind": "training", "num_points": 70},
                                    {"kind": "training", "num_points": 30, "noise_std": 1.0}]}

    Args:
        spec: the mapping (as loaded from YAML).
        x_train: the training inputs, shape ``(n, *input_shape)``.
        path: where ``spec`` sits in the config, for error messages.

    Returns:
        A :class:`Grid`, :class:`TrainingSubset`, :class:`PerturbedTraining`,
        :class:`UniformBox`, :class:`Mixture` or :class:`MeasurementUnion`.

    Raises:
        ValueError: for an unknown kind or key, a missing key, ``num_points`` below 1
            or above the training rows it needs, ``data_fraction`` outside ``[0, 1]``,
            ``high <= low``, a grid on inputs with more than one feature, a negative
            ``noise_std`` or ``crop_padding``, a crop of inputs that are not images, or
            ``parts`` that is not a non-empty list; the one-line message names the key
            (``prior.fit.measurement.parts[1].noise_std`` within a union).
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
    x_train = jnp.asarray(x_train, jnp.float32)
    if kind == "union":
        return _union(spec, x_train, path)

    num_points = spec["num_points"]
    if not isinstance(num_points, int) or isinstance(num_points, bool) or num_points < 1:
        raise ValueError(f"{path}.num_points must be a positive integer, got {num_points!r}")

    if kind == "grid":
        if x_train.shape[1:] != (1,):
            raise ValueError(f"{path}.kind 'grid' needs 1-D inputs, but x_train has inputs of shape "
                             f"{x_train.shape[1:]}")
        low, high = _number(spec, "low", path), _number(spec, "high", path)
        if high <= low:
            raise ValueError(f"{path}.high must be greater than low ({low:g}), got {high:g}")
        return Grid(low, high, num_points)
    if kind == "training":
        return _training(spec, x_train, num_points, path)
    if kind == "box":
        return UniformBox(jnp.min(x_train, axis=0), jnp.max(x_train, axis=0), num_points)
    data_fraction = (_number(spec, "data_fraction", path) if "data_fraction" in spec
                     else _MixtureFields._field_defaults["data_fraction"])
    if not 0.0 <= data_fraction <= 1.0:
        raise ValueError(f"{path}.data_fraction must be in [0, 1], got {spec['data_fraction']!r}")
    _check_enough_rows(x_train, round(data_fraction * num_points), f"{path}.num_points * data_fraction (rounded)")
    return Mixture(x_train, num_points, data_fraction)
