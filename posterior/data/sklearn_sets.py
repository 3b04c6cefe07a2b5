"""Two small data sets shipped inside scikit-learn: diabetes (regression), digits (classification).

Both are read from files installed with scikit-learn, so nothing is downloaded. Neither
comes with standard splits, so the split number seeds a random 90/10 train/test split:
the same number always gives the same split, different numbers give different ones.
scikit-learn is imported inside the loaders, not here: the import takes most of a second,
which UCI and toy runs need not pay.
"""

import math
from typing import Callable

import numpy as np

from posterior.data.dataset import CLASSIFICATION, REGRESSION, Dataset, check_split, standardised_dataset

__all__ = ["SKLEARN_DATASETS", "TEST_FRACTION", "load_diabetes", "load_digits"]

SKLEARN_DATASETS = ("diabetes", "digits")

# digits' images: height, width, channels.
DIGITS_IMAGE_SHAPE = (8, 8, 1)
# The share of rows held out, as in the UCI standard splits.
TEST_FRACTION = 0.1


def _random_split(
    *,
    name: str,
    task: str,
    read: Callable[[], tuple[np.ndarray, np.ndarray]],
    split: int,
    num_classes: int = 0,
) -> Dataset:
    """A seeded random train/test split of the ``(inputs, targets)`` that ``read()`` returns.

    The split is checked before ``read`` is called, so a bad one fails without importing
    scikit-learn. The test set has ``ceil(TEST_FRACTION * n)`` rows, the rounding
    scikit-learn's ``train_test_split`` uses, so the two give splits of the same size.
    """
    seed = check_split(name, split)
    inputs, targets = read()
    num_rows = inputs.shape[0]
    order = np.random.default_rng(seed).permutation(num_rows)
    num_test = math.ceil(TEST_FRACTION * num_rows)
    test_rows, train_rows = order[:num_test], order[num_test:]
    return standardised_dataset(
        name=name,
        task=task,
        x_train=inputs[train_rows],
        y_train=targets[train_rows],
        x_test=inputs[test_rows],
        y_test=targets[test_rows],
        num_classes=num_classes,
    )


def load_diabetes(split: int = 0) -> Dataset:
    """The diabetes regression data set (442 patients, 10 inputs, disease progression).

    Args:
        split: the seed of the random 90/10 train/test split (a non-negative integer).

    Returns:
        The regression :class:`Dataset` (397 training and 45 test rows).
    """

    def read():
        from sklearn.datasets import load_diabetes as read_diabetes

        return read_diabetes(return_X_y=True)

    return _random_split(name="diabetes", task=REGRESSION, read=read, split=split)


def load_digits(split: int = 0) -> Dataset:
    """The digits classification data set (1,797 8x8 grey images of the digits 0-9).

    The images come as NHWC arrays ``(n, 8, 8, 1)``, for the convolutional networks
    (an MLP reads them flattened, as 64 features). Each of the 64 pixels is standardised
    on its own like any other input; pixels that are blank in every training image have
    zero spread and are left at zero.

    Args:
        split: the seed of the random 90/10 train/test split (a non-negative integer).

    Returns:
        The classification :class:`Dataset` with 10 classes (1,617 training and 180
        test images).
    """

    def read():
        from sklearn.datasets import load_digits as read_digits

        images, labels = read_digits(return_X_y=True)
        return images.reshape(-1, *DIGITS_IMAGE_SHAPE), labels

    return _random_split(name="digits", task=CLASSIFICATION, read=read, split=split, num_classes=10)
