"""Image classification sets read from their distributed files: MNIST, Fashion-MNIST, CIFAR-10/100, SVHN.

Nothing is downloaded: each loader reads the files as their authors distribute them from a
folder the user names. MNIST and Fashion-MNIST come as four IDX files
(``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``), each raw or gzipped (``.gz``); CIFAR-10 and CIFAR-100 in
their binary version (``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``;
``train.bin`` and ``test.bin``), directly in the folder or in the sub-folder the archive
unpacks to (``cifar-10-batches-bin``, ``cifar-100-binary``); the pickled python version
is refused, since unpickling runs whatever code a file holds. SVHN's cropped digits come
as two MATLAB files, ``train_32x32.mat`` and ``test_32x32.mat``, directly in the folder
(``extra_32x32.mat`` is not read). Each set has only its one standard train/test split.
Images come as float32 ``(n, height, width, channels)`` arrays (NHWC), scaled to [0, 1]
and then standardised per channel with the training images' mean and standard deviation.
:func:`posterior.data.augment.augment` draws random flips and crops of a batch; no loader
applies it, because it changes the likelihood being sampled.
"""

import gzip
import io
import math
import os
import pathlib
import struct
import zlib
from typing import NamedTuple

import numpy as np

from posterior.data.dataset import (CLASSIFICATION, DataError, DataFolderNotFound, Dataset, check_split, one_line,
                                    read_file_bytes)

__all__ = ["IMAGE_DATASETS", "load_images"]

IMAGE_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn")

_PIXEL_MAX = 255
_NUM_BYTE_VALUES = 256
# The IDX header: two zero bytes, a data type code, the number of dimensions; then one
# big-endian uint32 per dimension. 0x08 is the code for unsigned bytes, all MNIST holds.
_IDX_MAGIC_ZEROS = b"\x00\x00"
_IDX_UNSIGNED_BYTE = 0x08
_IDX_PREAMBLE_SIZE = 4
_MNIST_CLASSES = 10
_MNIST_IMAGE_SHAPE = (28, 28)
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# A CIFAR image is stored channel-major: 1,024 red bytes, then green, then blue, each
# plane row by row.
_CIFAR_IMAGE_SHAPE = (3, 32, 32)
_CIFAR_IMAGE_SIZE = math.prod(_CIFAR_IMAGE_SHAPE)
_SVHN_FILES = ("train_32x32.mat", "test_32x32.mat")
# The variable X holds the images as (row, column, channel, image) bytes, y one label per
# image: the digit, except that the digit 0 is labelled 10.
_SVHN_VARIABLES = ("X", "y")
_SVHN_IMAGE_SHAPE = (32, 32, 3)
_SVHN_LABELS = tuple(range(1, 11))
_SVHN_CLASSES = 10
# Images are counted and standardised this many at a time, so that the temporary integer
# arrays stay small beside the 600 MB of CIFAR's standardised training images.
_CHUNK_IMAGES = 2048


class _CifarFormat(NamedTuple):
    """Where one CIFAR binary version keeps its files, and what one record holds."""

    # The archive the binary version is distributed as, and the folder it unpacks to.
    archive: str
    subfolder: str
    train_files: tuple[str, ...]
    test_file: str
    # The number of classes of each label byte at the start of a record; the last is the
    # label used (CIFAR-100's records start with the coarse label, then the fine one).
    label_classes: tuple[int, ...]
    # Names that only the pickled python version has, to say that it is the wrong one.
    pickled_names: tuple[str, ...]


_CIFAR_FORMATS = {
    "cifar10": _CifarFormat(
        archive="cifar-10-binary.tar.gz",
        subfolder="cifar-10-batches-bin",
        train_files=tuple(f"data_batch_{batch}.bin" for batch in range(1, 6)),
        test_file="test_batch.bin",
        label_classes=(10,),
        pickled_names=("cifar-10-batches-py", "data_batch_1", "test_batch"),
    ),
    "cifar100": _CifarFormat(
        archive="cifar-100-binary.tar.gz",
        subfolder="cifar-100-binary",
        train_files=("train.bin",),
        test_file="test.bin",
        label_classes=(20, 100),
        pickled_names=("cifar-100-python", "train", "test"),
    ),
}


def _read_file(path: pathlib.Path) -> bytes:
    """The bytes of a file that must exist, gunzipped if its name ends in ``.gz``."""
    content = read_file_bytes(path)
    if path.suffix != ".gz":
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(f"malformed file {path}: gzip cannot decompress it ({one_line(error)})") from None


def _read_idx(path: pathlib.Path, num_dims: int) -> np.ndarray:
    """The unsigned bytes of an IDX file with ``num_dims`` non-empty dimensions, in their shape."""
    content = _read_file(path)
    if len(content) < _IDX_PREAMBLE_SIZE:
        raise DataError(f"malformed file {path}: truncated IDX header ({len(content)} bytes)")
    if content[:2] != _IDX_MAGIC_ZEROS:
        raise DataError(f"malformed file {path}: not an IDX file (magic {content[:4].hex()} does not start with 0000)")
    if content[2] != _IDX_UNSIGNED_BYTE:
        raise DataError(f"malformed file {path}: IDX data type code 0x{content[2]:02x}, expected 0x08 (unsigned byte)")
    if content[3] != num_dims:
        raise DataError(f"malformed file {path}: {content[3]} dimensions, expected {num_dims}")
    header_size = _IDX_PREAMBLE_SIZE + 4 * num_dims
    if len(content) < header_size:
        raise DataError(f"malformed file {path}: truncated IDX header ({len(content)} bytes)")
    shape = struct.unpack(f">{num_dims}I", content[_IDX_PREAMBLE_SIZE:header_size])
    if 0 in shape:
        raise DataError(f"malformed file {path}: it holds no data (dimensions {shape})")
    expected, found = math.prod(shape), len(content) - header_size
    if found < expected:
        raise DataError(f"malformed file {path}: truncated: dimensions {shape} need {expected} bytes, it holds {found}")
    if found > expected:
        raise DataError(f"malformed file {path}: {found - expected} trailing bytes after the {expected} of {shape}")
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)


def _idx_path(folder: pathlib.Path, filename: str) -> pathlib.Path:
    """The raw IDX file ``filename`` in ``folder`` if it is there, else its gzipped form."""
    for path in (folder / filename, folder / f"{filename}.gz"):
        if path.is_file():
            return path
    raise DataError(f"missing file: {filename} (or {filename}.gz) in {folder}")


def _check_labels(path: pathlib.Path, labels: np.ndarray, num_classes: int, what: str = "the label") -> None:
    """Raise :class:`DataError` naming ``path`` if a label is not a class in ``[0, num_classes)``."""
    outside = np.flatnonzero(labels >= num_classes)
    if outside.size:
        raise DataError(
            f"malformed file {path}: {what} of example {outside[0]} is {labels[outside[0]]}, not a class in "
            f"0..{num_classes - 1}"
        )


def _read_mnist_split(folder: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(images, labels)`` of MNIST's ``"train"`` or ``"test"`` files; images ``(n, 28, 28, 1)``."""
    images_name, labels_name = _MNIST_FILES[split]
    # Both files are looked for before either is parsed, so a missing one is named at once.
    images_path, labels_path = _idx_path(folder, images_name), _idx_path(folder, labels_name)
    images = _read_idx(images_path, num_dims=3)
    if images.shape[1:] != _MNIST_IMAGE_SHAPE:
        raise DataError(
            f"malformed file {images_path}: images of {images.shape[1:]} pixels, expected {_MNIST_IMAGE_SHAPE}"
        )
    labels = _read_idx(labels_path, num_dims=1)
    if labels.shape[0] != images.shape[0]:
        raise DataError(
            f"malformed file {labels_path}: {labels.shape[0]} labels for the {images.shape[0]} images "
            f"of {images_path.name}"
        )
    _check_labels(labels_path, labels, _MNIST_CLASSES)
    return images[..., np.newaxis], labels


def _cifar_folder(name: str, root: pathlib.Path, layout: _CifarFormat) -> pathlib.Path:
    """The folder, ``root`` or its standard sub-folder, that holds the binary version's files."""
    folders = (root, root / layout.subfolder)
    for folder in folders:
        if any((folder / filename).is_file() for filename in (*layout.train_files, layout.test_file)):
            return folder
    for folder in folders:
        pickled = [folder / filename for filename in layout.pickled_names if (folder / filename).exists()]
        pickled += sorted(folder.glob("*.pkl"))
        if pickled:
            raise DataError(
                f"{name}: {pickled[0]} is the pickled python version, which is not read; the binary version "
                f"({layout.archive}, unpacked: {layout.test_file} and the rest) is needed"
            )
    raise DataError(f"missing file: {layout.test_file} in {root} or in {folders[1]}")


def _read_cifar_file(path: pathlib.Path, layout: _CifarFormat) -> tuple[np.ndarray, np.ndarray]:
    """The ``(images, labels)`` of one CIFAR binary file; images ``(n, 32, 32, 3)``, a view of its bytes."""
    num_label_bytes = len(layout.label_classes)
    record_size = num_label_bytes + _CIFAR_IMAGE_SIZE
    content = _read_file(path)
    if not content or len(content) % record_size:
        raise DataError(
            f"malformed file {path}: its {len(content)} bytes are not a positive whole number of "
            f"{record_size}-byte records"
        )
    records = np.frombuffer(content, dtype=np.uint8).reshape(-1, record_size)
    for column, num_classes in enumerate(layout.label_classes):
        _check_labels(path, records[:, column], num_classes, what=f"label byte {column}")
    images = records[:, num_label_bytes:].reshape(-1, *_CIFAR_IMAGE_SHAPE).transpose(0, 2, 3, 1)
    return images, records[:, num_label_bytes - 1]


def _svhn_paths(root: pathlib.Path) -> tuple[pathlib.Path, ...]:
    """SVHN's train and test files in ``root``; both are looked for before either is parsed."""
    paths = tuple(root / filename for filename in _SVHN_FILES)
    for path in paths:
        if not path.is_file():
            raise DataError(f"missing file: {path.name} in {root}")
    return paths


def _read_mat_variables(path: pathlib.Path) -> dict:
    """The variables X and y of a MATLAB file (those of them it holds), as ``scipy.io.loadmat`` reads them."""
    import scipy.io  # here, not at the top: only SVHN needs it, and the command starts without it

    content = read_file_bytes(path)
    # scipy's reader raises whatever its parsing of corrupt bytes runs into (OSError and
    # MatReadError for a truncated file, ValueError for one that is not a MATLAB file,
    # TypeError, IndexError, zlib.error, even ZeroDivisionError), so every exception but
    # running out of memory is the file's.
    try:
        return scipy.io.loadmat(io.BytesIO(content), variable_names=_SVHN_VARIABLES)
    except MemoryError:
        raise
    except Exception as error:
        raise DataError(
            f"malformed file {path}: truncated, corrupt or not a MATLAB file (scipy.io.loadmat: "
            f"{type(error).__name__}: {one_line(error)})"
        ) from None


def _mat_variable(path: pathlib.Path, variables: dict, name: str) -> np.ndarray:
    """The variable ``name`` of a MATLAB file's ``variables``, which must be a numeric array."""
    if name not in variables:
        raise DataError(f"malformed file {path}: it holds no variable {name} (SVHN's files hold X and y)")
    value = variables[name]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iuf":
        raise DataError(f"malformed file {path}: {name} is {type(value).__name__} of dtype "
                        f"{getattr(value, 'dtype', None)}, not a numeric array")
    return value


def _svhn_images(path: pathlib.Path, variables: dict) -> np.ndarray:
    """The images of an SVHN file's variable X, ``(n, 32, 32, 3)`` bytes, a view of X."""
    images = _mat_variable(path, variables, "X")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[:3] != _SVHN_IMAGE_SHAPE:
        raise DataError(
            f"malformed file {path}: X is {images.dtype} of shape {images.shape}, expected uint8 of shape "
            f"(32, 32, 3, n)"
        )
    if images.shape[-1] == 0:
        raise DataError(f"malformed file {path}: it holds no images (X of shape {images.shape})")
    return images.transpose(3, 0, 1, 2)


def _svhn_labels(path: pathlib.Path, variables: dict, num_images: int) -> np.ndarray:
    """The classes 0..9 of an SVHN file's variable y, which labels ``num_images`` images 1..10."""
    labels = _mat_variable(path, variables, "y")
    if labels.shape != (num_images, 1):
        raise DataError(
            f"malformed file {path}: y of shape {labels.shape} for {num_images} images, expected "
            f"({num_images}, 1)"
        )
    labels = labels[:, 0]
    outside = np.flatnonzero(~np.isin(labels, _SVHN_LABELS))
    if outside.size:
        raise DataError(
            f"malformed file {path}: the label of example {outside[0]} is {labels[outside[0]]}, not one of 1..10"
        )
    return labels.astype(np.int32) % _SVHN_CLASSES  # the label 10 is the digit 0


def _read_svhn_file(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``(images, labels)`` of one SVHN cropped-digits file; images ``(n, 32, 32, 3)``."""
    variables = _read_mat_variables(path)
    images = _svhn_images(path, variables)
    return images, _svhn_labels(path, variables, len(images))


def _value_channel_codes(images: np.ndarray) -> np.ndarray:
    """For each byte of NHWC images, its index ``value * channels + channel`` in a flat ``(256, channels)`` table."""
    num_channels = images.shape[-1]
    return images.astype(np.intp) * num_channels + np.arange(num_channels)


def _standardisation_table(images: np.ndarray) -> np.ndarray:
    """The standardised value of each byte value in each channel, ``(256, channels)`` float32.

    Pixels are bytes, so counting how often each value occurs in each channel of the
    (training) ``images`` gives the per-channel mean and standard deviation exactly, and
    standardising becomes a look-up that makes no float64 copy of the images.
    """
    num_channels = images.shape[-1]
    counts = np.zeros((_NUM_BYTE_VALUES, num_channels), dtype=np.int64)
    for start in range(0, images.shape[0], _CHUNK_IMAGES):
        codes = _value_channel_codes(images[start:start + _CHUNK_IMAGES])
        counts += np.bincount(codes.ravel(), minlength=counts.size).reshape(counts.shape)
    values = np.arange(_NUM_BYTE_VALUES)[:, np.newaxis] / _PIXEL_MAX  # scaled to [0, 1]
    frequencies = counts / counts.sum(axis=0)
    mean = (frequencies * values).sum(axis=0)
    scale = np.sqrt((frequencies * (values - mean) ** 2).sum(axis=0))
    # A channel constant over the training images (possible in a small file) stays at zero.
    scale = np.where(scale > 0, scale, 1.0)
    return ((values - mean) / scale).astype(np.float32)


def _standardised_images(images: np.ndarray, table: np.ndarray) -> np.ndarray:
    """NHWC byte images mapped through :func:`_standardisation_table`'s ``table``, as a new float32 array."""
    standardised = np.empty(images.shape, dtype=np.float32)
    for start in range(0, images.shape[0], _CHUNK_IMAGES):
        stop = start + _CHUNK_IMAGES
        np.take(table.ravel(), _value_channel_codes(images[start:stop]), out=standardised[start:stop])
    return standardised


def _image_dataset(
    name: str, train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray], num_classes: int
) -> Dataset:
    """A classification :class:`Dataset` from ``(images, labels)`` byte arrays, standardised per channel."""
    (train_images, train_labels), (test_images, test_labels) = train, test
    table = _standardisation_table(train_images)
    return Dataset(
        name=name,
        task=CLASSIFICATION,
        x_train=_standardised_images(train_images, table),
        y_train=train_labels.astype(np.int32),
        x_test=_standardised_images(test_images, table),
        y_test=test_labels.astype(np.int32),
        y_mean=0.0,
        y_std=1.0,
        num_classes=num_classes,
    )


def load_images(name: str, root: str | os.PathLike, *, split: int = 0) -> Dataset:
    """The standard train/test split of an image classification set, read from ``root``.

    Args:
        name: one of :data:`IMAGE_DATASETS`: ``"mnist"``, ``"fashion_mnist"`` (``root``
            holds the four IDX files, raw or ``.gz``; where both forms are there the raw
            one is read), ``"cifar10"``, ``"cifar100"`` (``root`` holds the binary
            version's files, or the sub-folder its archive unpacks to), ``"svhn"``
            (``root`` holds ``train_32x32.mat`` and ``test_32x32.mat``, the cropped
            digits).
        root: the folder holding the set's files, as described for ``name``.
        split: must be 0: these sets have one standard split.

    Returns:
        The classification :class:`Dataset`: float32 images ``(n, height, width,
        channels)`` (28x28x1 for MNIST, 32x32x3 for CIFAR and SVHN) in file order,
        scaled to [0, 1] and standardised per channel with the training images'
        statistics; int32 labels (CIFAR-100: the 100 fine classes; SVHN: the digits,
        its label 10 being the digit 0).

    Raises:
        DataError: if the name is unknown, the split is not 0, the folder or a file is
            missing, a file is corrupt (an IDX header that is wrong or disagrees with the
            size, a gzip that does not decompress, a CIFAR file that is not whole
            records, an SVHN file that scipy cannot read or whose X or y is missing or
            of the wrong type or shape), labels are out of range or do not match the
            images in number, or only CIFAR's pickled python version is there.
    """
    if name not in IMAGE_DATASETS:
        raise DataError(f"unknown image data set {name!r}; known: {', '.join(IMAGE_DATASETS)}")
    check_split(name, split, num_splits=1)
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DataFolderNotFound(f"{name}: data folder not found: {root}")
    if name in _CIFAR_FORMATS:
        layout = _CIFAR_FORMATS[name]
        folder = _cifar_folder(name, root, layout)
        train_parts = [_read_cifar_file(folder / filename, layout) for filename in layout.train_files]
        train = tuple(np.concatenate(arrays) for arrays in zip(*train_parts))
        test = _read_cifar_file(folder / layout.test_file, layout)
        return _image_dataset(name, train, test, num_classes=layout.label_classes[-1])
    if name == "svhn":
        train_path, test_path = _svhn_paths(root)
        train, test = _read_svhn_file(train_path), _read_svhn_file(test_path)
        return _image_dataset(name, train, test, num_classes=_SVHN_CLASSES)
    return _image_dataset(
        name, _read_mnist_split(root, "train"), _read_mnist_split(root, "test"), num_classes=_MNIST_CLASSES
    )
