"""Data sets as standardised train/test splits: UCI regression, scikit-learn sets, a 1-D toy, images.

Every loader returns a :class:`Dataset` of numpy arrays standardised with the training
rows' statistics, and raises :class:`DataError` (a ``ValueError``) with a one-line
message when something is missing or wrong. :func:`load` picks the loader by name::

    from posterior import data
    ds = data.load("bostonHousing", root="path/to/uci", split=3)
    rmse_in_original_units = ds.y_std * rmse_standardised
    mnist = data.load("mnist", root="path/to/mnist")  # images (n, 28, 28, 1)
"""

import os

from posterior.data.dataset import DataError, DataFolderNotFound, Dataset, without_class
from posterior.data.images import IMAGE_DATASETS, load_images
from posterior.data.sklearn_sets import SKLEARN_DATASETS, load_diabetes, load_digits
from posterior.data.toy1d import load_toy1d
from posterior.data.uci import UCI_DATASETS, load_uci

__all__ = ["DATASETS", "IMAGE_INPUTS", "DataError", "DataFolderNotFound", "Dataset", "load", "without_class"]

DATASETS = (*UCI_DATASETS, *SKLEARN_DATASETS, "toy1d", *IMAGE_DATASETS)
# The sets whose inputs are NHWC images, which convolutional networks can read.
IMAGE_INPUTS = ("digits", *IMAGE_DATASETS)

_SEEDED_LOADERS = {"diabetes": load_diabetes, "digits": load_digits, "toy1d": load_toy1d}


def load(name: str, *, root: str | os.PathLike | None = None, split: int = 0) -> Dataset:
    """Load one train/test split of a data set by name.

    UCI data sets come with fixed standard splits, read from ``root``; image sets (mnist,
    fashion_mnist, cifar10, cifar100, svhn) with one, read from ``root``; the others have
    none, so for them ``split`` seeds a random 90/10 split (diabetes, digits) or the
    draw of the toy (toy1d).

    Args:
        name: one of :data:`DATASETS`.
        root: the folder holding one sub-folder per UCI data set, or the folder holding
            an image set's files (see :func:`~posterior.data.images.load_images`);
            needed for UCI and image names, ignored otherwise.
        split: UCI: the standard split, ``0 <= split < n_splits``; images: 0;
            otherwise a non-negative seed.

    Returns:
        The standardised :class:`Dataset`.

    Raises:
        DataError: if the name is unknown, ``root`` is missing for a UCI or image set, or the
            loader finds a problem (missing or malformed file, split out of range,
            NaN or infinity in the data).
    """
    if name in UCI_DATASETS:
        if root is None:
            raise DataFolderNotFound(f"{name} is a UCI data set: pass root, the folder holding one sub-folder per "
                                     f"data set")
        return load_uci(root, name, split)
    if name in IMAGE_DATASETS:
        if root is None:
            raise DataFolderNotFound(f"{name} is an image data set: pass root, the folder holding its files")
        return load_images(name, root, split=split)
    if name in _SEEDED_LOADERS:
        return _SEEDED_LOADERS[name](split)
    raise DataError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
