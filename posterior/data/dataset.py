"""What every loader returns, what it raises, and the standardisation they share.

Loaders read raw arrays in their own way and hand them to :func:`standardised_dataset`,
so that every data set is standardised by the same rule: inputs (and regression targets)
are shifted and scaled by the mean and standard deviation of the *training* rows only,
so that nothing about the test rows leaks into the model. The target statistics are kept
in the :class:`Dataset` so that metrics can be reported in the original units. Image
sets (:mod:`posterior.data.images`) follow the same rule per colour channel rather than
per pixel, and keep their ``(height, width, channels)`` shape.
"""

import math
import pathlib
from typing import NamedTuple

import numpy as np

__all__ = ["DataError", "DataFolderNotFound", "Dataset", "StandardisationOverflow", "standardised_dataset",
           "check_split", "one_line", "read_file_bytes", "without_class"]

REGRESSION = "regression"
CLASSIFICATION = "classification"


class DataError(ValueError):
    """A data set cannot be loaded; the message is one line naming the cause."""


class DataFolderNotFound(DataError):
    """The folder a data set is read from was not given, or is not there."""


class StandardisationOverflow(DataError):
    """A column whose standardisation leaves float range; ``part`` (``x_train``, ``y_test``,
    ...) and ``column`` (its index among that part's flattened columns) say which, so that
    a loader can name the column of its own file."""

    def __init__(self, name: str, part: str, column: int, largest: float):
        super().__init__(f"{name}: column {column} of {part} overflows when standardised (magnitudes up to "
                         f"{largest:.3g}); rescale it")
        self.part, self.column, self.largest = part, column, largest


def one_line(error: Exception) -> str:
    """An exception's message with its line breaks folded, for a one-line DataError."""
    return " ".join(str(error).split())


def read_file_bytes(path: pathlib.Path) -> bytes:
    """The bytes of a data file that must exist, or a one-line :class:`DataError` naming it."""
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror}") from None


class Dataset(NamedTuple):
    """A train/test split, standardised with training statistics.

    Attributes:
        name: the data set's name as given to :func:`posterior.data.load`.
        task: ``"regression"`` or ``"classification"``.
        x_train: float32 inputs, shape ``(n_train, *input_shape)``: ``(n_train,
            input_dim)`` for feature vectors, ``(n_train, height, width, channels)``
            for images.
        y_train: regression: standardised float32 targets, shape ``(n_train,)``;
            classification: int32 class labels in ``[0, num_classes)``.
        x_test: float32 inputs, shape ``(n_test, *input_shape)``, standardised with the
            training statistics.
        y_test: as ``y_train``, standardised with the training statistics.
        y_mean: the training-target mean subtracted from regression targets (0.0 for
            classification): original units are ``y * y_std + y_mean``.
        y_std: the training-target standard deviation the targets were divided by (1.0
            for classification).
        num_classes: the number of classes (0 for regression).
        test_in_gap: for data with a gap in the training inputs (the 1-D toy), a boolean
            mask of the test rows inside it; None otherwise.
    """

    name: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    y_mean: float
    y_std: float
    num_classes: int
    test_in_gap: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The shape of one input: ``(input_dim,)``, or ``(height, width, channels)`` for images."""
        return self.x_train.shape[1:]

    @property
    def input_dim(self) -> int:
        """The number of input features (for images, of numbers in one image: their flattened size)."""
        return math.prod(self.input_shape)


def _mean_and_scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations, with a zero deviation replaced by 1.

    A constant column (several exist in naval-propulsion-plant and in the border pixels
    of digits) carries no information; dividing it by 1 leaves it at zero instead of
    producing NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is found and named by the caller
        mean = values.mean(axis=0)
        scale = values.std(axis=0)
    return mean, np.where(scale > 0, scale, 1.0)


def _standardise(name: str, parts: dict[str, np.ndarray],
                 dtype) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The training part's columns (``parts``' first) shifted and scaled, every part in
    ``dtype``, with that mean and scale.

    Raises:
        StandardisationOverflow: naming the first column whose statistics, or whose
            standardised values in ``dtype``, are not finite (e.g. a target near 1e308).
    """
    train = next(iter(parts.values()))
    mean, scale = _mean_and_scale(train)
    standardised = {}
    for part, values in parts.items():
        with np.errstate(over="ignore", invalid="ignore"):
            result = ((values - mean) / scale).astype(dtype)
        finite = np.isfinite(result).reshape(len(result), -1).all(axis=0) & np.isfinite(mean) & np.isfinite(scale)
        if not finite.all():
            column = int(np.argmin(finite))
            raise StandardisationOverflow(name, part, column,
                                          float(np.max(np.abs(values.reshape(len(values), -1)[:, column]))))
        standardised[part] = result
    return standardised, mean, scale


def _input_shape(inputs) -> tuple[int, ...]:
    """The shape of one row of ``inputs``; rows of a 1-D array are single features."""
    return tuple(np.shape(inputs)[1:]) if np.ndim(inputs) > 1 else (1,)


def standardised_dataset(
    *,
    name: str,
    task: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    num_classes: int = 0,
    test_in_gap: np.ndarray | None = None,
) -> Dataset:
    """A :class:`Dataset` from raw arrays, standardised with the training rows' statistics.

    The statistics are computed in float64 and the results cast to float32, so that large
    raw values (protein has features near 2e6) lose no precision before centring.

    Args:
        name: the data set's name.
        task: ``"regression"`` or ``"classification"``.
        x_train: raw training inputs, shape ``(n_train, *input_shape)`` (or ``(n_train,)``
            for one feature); every number of an input is standardised on its own (each
            pixel of an image, not each channel), and the shape is kept.
        y_train: raw training targets, shape ``(n_train,)``: real numbers for regression,
            integer labels for classification.
        x_test: raw test inputs, shape ``(n_test, *input_shape)`` (or ``(n_test,)``).
        y_test: raw test targets, shape ``(n_test,)``.
        num_classes: the number of classes for classification (0 for regression).
        test_in_gap: a boolean mask of the test rows in a gap of the training inputs.

    Returns:
        The standardised :class:`Dataset`.

    Raises:
        DataError: if the arrays hold NaN or infinity, a split is empty, or the shapes
            disagree; :class:`StandardisationOverflow` if a column's standardisation
            overflows.
    """
    arrays = {}
    for part, values in (("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)):
        values = np.asarray(values, dtype=np.float64)
        if values.shape[0] == 0:
            raise DataError(f"{name}: {part} has no rows")
        if not np.all(np.isfinite(values)):
            raise DataError(f"{name}: {part} holds NaN or infinite values")
        arrays[part] = values.reshape(values.shape[0], -1) if part.startswith("x") else values.reshape(-1)
    input_shape, test_input_shape = _input_shape(x_train), _input_shape(x_test)
    if input_shape != test_input_shape:
        raise DataError(f"{name}: train and test inputs have different shapes {input_shape} and {test_input_shape}")
    for split in ("train", "test"):
        if arrays[f"x_{split}"].shape[0] != arrays[f"y_{split}"].shape[0]:
            raise DataError(f"{name}: {split} inputs and targets have different numbers of rows")

    inputs, _, _ = _standardise(name, {"x_train": arrays["x_train"], "x_test": arrays["x_test"]}, np.float32)
    x_train_std = inputs["x_train"].reshape(-1, *input_shape)
    x_test_std = inputs["x_test"].reshape(-1, *input_shape)

    if task == REGRESSION:
        targets, y_mean, y_std = _standardise(name, {"y_train": arrays["y_train"], "y_test": arrays["y_test"]},
                                              np.float32)
        y_train_out, y_test_out = targets["y_train"], targets["y_test"]
        y_mean, y_std = float(y_mean), float(y_std)
        num_classes = 0
    elif task == CLASSIFICATION:
        y_mean, y_std = 0.0, 1.0
        y_train_out = arrays["y_train"].astype(np.int32)
        y_test_out = arrays["y_test"].astype(np.int32)
        for labels in (y_train_out, y_test_out):
            if labels.min() < 0 or labels.max() >= num_classes:
                raise DataError(f"{name}: class labels outside [0, {num_classes})")
    else:
        raise DataError(f"{name}: task must be {REGRESSION!r} or {CLASSIFICATION!r}, got {task!r}")

    return Dataset(
        name=name,
        task=task,
        x_train=x_train_std,
        y_train=y_train_out,
        x_test=x_test_std,
        y_test=y_test_out,
        y_mean=y_mean,
        y_std=y_std,
        num_classes=int(num_classes),
        test_in_gap=None if test_in_gap is None else np.asarray(test_in_gap, dtype=bool),
    )


def check_split(name: str, split: object, *, num_splits: int | None = None) -> int:
    """Return ``split`` as an int, or raise :class:`DataError` if it is not a valid split.

    Args:
        name: the data set's name, for the message.
        split: the split number asked for.
        num_splits: how many splits exist (None: any non-negative number is a seed).

    Returns:
        ``split`` as a Python int.
    """
    # bool is an int subclass, but split=True is certainly a mistake.
    if isinstance(split, bool) or not isinstance(split, (int, np.integer)):
        raise DataError(f"{name}: split must be an integer, got {split!r}")
    upper = math.inf if num_splits is None else num_splits
    if not 0 <= split < upper:
        allowed = "a non-negative integer" if num_splits is None else f"in 0..{num_splits - 1}"
        raise DataError(f"{name}: split {split} out of range (must be {allowed})")
    return int(split)


def without_class(dataset: Dataset, label: int) -> tuple[Dataset, np.ndarray]:
    """A classification set with one class held out, and that class's test inputs.

    The usual out-of-distribution test of a classifier that needs no second data set:
    train and test without the class, then ask how uncertain the model is about the
    held-out class's test inputs. The set keeps ``num_classes`` (the network keeps an
    output the training data never names) and its standardisation (computed with the
    class's training rows).

    Args:
        dataset: a classification :class:`Dataset`.
        label: the class to hold out, in ``[0, num_classes)``.

    Returns:
        ``(dataset without the class's training and test rows, the class's test inputs)``.

    Raises:
        DataError: for a regression set, a label out of range, or a class that leaves no
            training or test rows (or has no test rows of its own).
    """
    if dataset.task != CLASSIFICATION:
        raise DataError(f"{dataset.name}: only a classification set can hold out a class")
    if not 0 <= label < dataset.num_classes:
        raise DataError(f"{dataset.name}: class {label} out of range (must be in 0..{dataset.num_classes - 1})")
    train_kept, test_kept = dataset.y_train != label, dataset.y_test != label
    if not (train_kept.any() and test_kept.any() and not test_kept.all()):
        raise DataError(f"{dataset.name}: holding out class {label} leaves no training or test rows, "
                        f"or it has no test rows")
    kept = dataset._replace(x_train=dataset.x_train[train_kept], y_train=dataset.y_train[train_kept],
                            x_test=dataset.x_test[test_kept], y_test=dataset.y_test[test_kept])
    return kept, dataset.x_test[~test_kept]
