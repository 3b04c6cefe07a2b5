"""Tests of posterior.data: the loaders, their standardisation, and their error messages.

The UCI loader is tested on a small fake data set written in the standard layout, so the
tests need no downloaded data; one test reads the real bostonHousing when it is present.
"""

import numpy as np
import pytest

from conftest import write_lines, write_uci_folder
from posterior import data
from posterior.data.toy1d import GAP_FRACTION, INPUT_RANGE, NUM_TEST, NUM_TRAIN, draw_toy1d

NUM_ROWS = 30
FEATURE_COLUMNS = [0, 1, 3, 4]  # the target sits between features, to test the index files
TARGET_COLUMN = 2
CONSTANT_COLUMN = 4
NUM_SPLITS = 2
NUM_TEST_ROWS = 3
FAKE_NAME = "yacht"  # load() accepts only known names, so the fake borrows a UCI one


@pytest.fixture
def fake_uci(tmp_path):
    """A UCI-layout root with one small data set; returns (root, folder, table, splits)."""
    rng = np.random.default_rng(0)
    table = rng.normal(loc=5.0, scale=3.0, size=(NUM_ROWS, 5))
    table[:, CONSTANT_COLUMN] = 7.0
    splits = []
    for _ in range(NUM_SPLITS):
        order = rng.permutation(NUM_ROWS)
        splits.append((order[NUM_TEST_ROWS:], order[:NUM_TEST_ROWS]))
    folder = write_uci_folder(tmp_path, FAKE_NAME, table, features=FEATURE_COLUMNS, target=TARGET_COLUMN,
                              splits=splits)
    return tmp_path, folder, table, splits


def test_uci_split_is_read_and_standardised(fake_uci):
    root, _, table, splits = fake_uci
    ds = data.load(FAKE_NAME, root=root, split=1)
    train_rows, test_rows = splits[1]

    assert ds.name == FAKE_NAME and ds.task == "regression" and ds.num_classes == 0
    assert ds.x_train.shape == (NUM_ROWS - NUM_TEST_ROWS, 4) and ds.x_test.shape == (NUM_TEST_ROWS, 4)
    assert ds.y_train.shape == (NUM_ROWS - NUM_TEST_ROWS,) and ds.y_test.shape == (NUM_TEST_ROWS,)
    assert ds.input_dim == 4
    assert ds.x_train.dtype == ds.y_train.dtype == np.float32

    varying = [FEATURE_COLUMNS.index(c) for c in FEATURE_COLUMNS if c != CONSTANT_COLUMN]
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train[:, varying].std(axis=0), 1.0, rtol=1e-5)
    # A constant column has zero spread: divided by 1, it stays at zero, not NaN.
    np.testing.assert_array_equal(ds.x_test[:, FEATURE_COLUMNS.index(CONSTANT_COLUMN)], 0.0)
    np.testing.assert_allclose(ds.y_train.mean(), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.y_train.std(), 1.0, rtol=1e-5)

    # The test rows are the listed ones, in order, standardised with training statistics.
    raw_train, raw_test = table[train_rows], table[test_rows]
    np.testing.assert_allclose(ds.y_test * ds.y_std + ds.y_mean, raw_test[:, TARGET_COLUMN], rtol=1e-5)
    np.testing.assert_allclose(ds.y_train * ds.y_std + ds.y_mean, raw_train[:, TARGET_COLUMN], rtol=1e-5)
    varying_columns = [c for c in FEATURE_COLUMNS if c != CONSTANT_COLUMN]
    x_mean, x_std = raw_train[:, varying_columns].mean(axis=0), raw_train[:, varying_columns].std(axis=0)
    np.testing.assert_allclose(ds.x_test[:, varying], (raw_test[:, varying_columns] - x_mean) / x_std, rtol=1e-4)


def _remove(name):
    """A folder-breaking function that deletes the file ``name``."""
    return lambda folder: (folder / name).unlink()


def _corrupt_cell(text, column=1):
    """Replace row 5, ``column`` of data.txt by ``text``."""

    def corrupt(folder):
        lines = (folder / "data.txt").read_text().splitlines()
        cells = lines[5].split()
        cells[column] = text
        lines[5] = " ".join(cells)
        (folder / "data.txt").write_text("\n".join(lines) + "\n")

    return corrupt


def _drop_cell(folder):
    """Drop the last number of row 7 of data.txt."""
    lines = (folder / "data.txt").read_text().splitlines()
    lines[7] = " ".join(lines[7].split()[:-1])
    (folder / "data.txt").write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "break_folder, kwargs, expected",
    [
        (None, {"split": NUM_SPLITS}, f"split {NUM_SPLITS} out of range"),
        (None, {"split": -1}, "split -1 out of range"),
        (_remove("index_test_0.txt"), {}, "missing file: .*index_test_0.txt"),
        (_remove("index_features.txt"), {}, "missing file: .*index_features.txt"),
        (_remove("n_splits.txt"), {}, "missing file: .*n_splits.txt"),
        (_remove("data.txt"), {}, "missing file: .*data.txt"),
        (_corrupt_cell("nan"), {}, "data.txt holds NaN or infinite values .*row 5, column 1"),
        (_corrupt_cell("inf"), {}, "data.txt holds NaN or infinite values"),
        (_corrupt_cell("abc"), {}, "malformed file .*data.txt"),
        # Finite, but its square (the variance) or its standardised float32 value is not.
        (_corrupt_cell("1e308", TARGET_COLUMN), {}, rf"data.txt: column {TARGET_COLUMN} overflows when standardised"),
        (_corrupt_cell("-1e300"), {}, r"data.txt: column 1 overflows when standardised .*magnitudes up to 1e\+300"),
        (_drop_cell, {}, "malformed file .*data.txt.*number of columns"),
        (lambda f: write_lines(f / "index_train_0.txt", [0, NUM_ROWS]), {}, "index_train_0.txt: row index 30 out of range"),
        (lambda f: write_lines(f / "index_target.txt", [5]), {}, "index_target.txt: column index 5 out of range"),
        (lambda f: write_lines(f / "index_test_0.txt", [1.5]), {}, "malformed file .*index_test_0.txt"),
        (lambda f: write_lines(f / "index_test_0.txt", []), {}, "index_test_0.txt: it is empty"),
        (lambda f: write_lines(f / "index_features.txt", [0, 2]), {}, "lists the target column 2"),
    ],
)
def test_uci_problems_raise_one_line_data_errors(fake_uci, break_folder, kwargs, expected):
    root, folder, _, _ = fake_uci
    if break_folder is not None:
        break_folder(folder)
    with pytest.raises(data.DataError, match=expected) as error:
        data.load(FAKE_NAME, root=root, **{"split": 0, **kwargs})
    assert "\n" not in str(error.value)


def test_uci_overlapping_train_and_test_rows_raise(fake_uci):
    root, folder, _, splits = fake_uci
    train_rows, _ = splits[0]
    write_lines(folder / "index_test_0.txt", train_rows[:2])
    with pytest.raises(data.DataError, match="rows are both train and test"):
        data.load(FAKE_NAME, root=root, split=0)


def test_load_names_the_problem_before_reading(tmp_path):
    with pytest.raises(data.DataError, match="bostonHousing is a UCI data set: pass root"):
        data.load("bostonHousing")
    with pytest.raises(data.DataError, match="UCI data set folder not found: .*concrete"):
        data.load("concrete", root=tmp_path)
    with pytest.raises(data.DataError, match="unknown data set 'imagenet'"):
        data.load("imagenet", root=tmp_path)
    with pytest.raises(data.DataError, match="split must be an integer"):
        data.load("toy1d", split=1.0)
    with pytest.raises(data.DataError, match="split -1 out of range"):
        data.load("digits", split=-1)


def test_dataset_names_are_the_uci_folders_and_the_others():
    uci = "bostonHousing concrete energy kin8nm naval-propulsion-plant power-plant"
    uci += " protein-tertiary-structure wine-quality-red yacht"
    images = ("mnist", "fashion_mnist", "cifar10", "cifar100", "svhn")
    assert data.DATASETS == (*uci.split(), "diabetes", "digits", "toy1d", *images)


@pytest.mark.parametrize(
    "name, task, input_shape, num_rows, num_classes",
    [("diabetes", "regression", (10,), 442, 0), ("digits", "classification", (8, 8, 1), 1797, 10)],
)
def test_sklearn_sets_have_seeded_90_10_splits(name, task, input_shape, num_rows, num_classes):
    ds = data.load(name, split=3)
    num_test = int(np.ceil(0.1 * num_rows))
    assert ds.task == task and ds.num_classes == num_classes and ds.input_shape == input_shape
    assert ds.x_train.shape == (num_rows - num_test, *input_shape) and ds.x_test.shape == (num_test, *input_shape)
    assert ds.x_train.dtype == np.float32
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-5)
    if task == "classification":
        assert ds.y_train.dtype == ds.y_test.dtype == np.int32
        assert (ds.y_mean, ds.y_std) == (0.0, 1.0)
        assert set(np.unique(ds.y_train)) == set(range(num_classes))
    else:
        assert ds.y_train.dtype == np.float32
        np.testing.assert_allclose([ds.y_train.mean(), ds.y_train.std()], [0.0, 1.0], atol=1e-5)

    same, other = data.load(name, split=3), data.load(name, split=4)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(same, field), getattr(ds, field))
    assert not np.array_equal(other.x_test, ds.x_test)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_toy1d_draw_has_a_gap_of_40_percent(seed):
    toy = draw_toy1d(seed)
    low, high = INPUT_RANGE
    gap_start, gap_end = toy.gap
    assert toy.x_train.shape == toy.y_train.shape == (NUM_TRAIN,) == (64,)
    assert toy.x_test.shape == toy.y_test.shape == (NUM_TEST,) == (200,)
    assert gap_end - gap_start == pytest.approx(GAP_FRACTION * (high - low)) == 8.0
    assert low <= gap_start and gap_end <= high
    assert not np.any((toy.x_train > gap_start) & (toy.x_train < gap_end))
    assert np.all((toy.x_train >= low) & (toy.x_train <= high))
    np.testing.assert_allclose(toy.x_test, np.linspace(-10, 10, 200))


def test_toy1d_dataset_is_the_standardised_draw():
    ds = data.load("toy1d", split=1)
    toy = draw_toy1d(1)
    assert ds.task == "regression" and ds.input_dim == 1
    assert ds.x_train.shape == (64, 1) and ds.x_test.shape == (200, 1)
    np.testing.assert_allclose(ds.y_test * ds.y_std + ds.y_mean, toy.y_test, rtol=1e-5, atol=1e-5)
    # Undo the input standardisation through the test grid, whose ends are -10 and 10,
    # and find the gap in the training inputs of the loaded data set too.
    grid = ds.x_test[:, 0].astype(np.float64)
    x_train = -10 + 20 * (ds.x_train[:, 0] - grid[0]) / (grid[-1] - grid[0])
    np.testing.assert_allclose(np.sort(x_train), np.sort(toy.x_train), atol=1e-4)
    widest = np.max(np.diff(np.sort(np.concatenate([[-10.0, 10.0], x_train]))))
    assert widest >= 8.0 - 1e-4
    assert not np.array_equal(data.load("toy1d", split=2).y_train, ds.y_train)


def test_real_boston_housing_split_0(uci_root):
    ds = data.load("bostonHousing", root=uci_root, split=0)
    assert ds.x_train.shape == (455, 13) and ds.x_test.shape == (51, 13)
    assert ds.y_train.shape == (455,) and ds.y_test.shape == (51,)
    # Median house values are in thousands of dollars, between 5 and 50.
    original = ds.y_test * ds.y_std + ds.y_mean
    assert 5.0 <= original.min() and original.max() <= 50.0 + 1e-4
