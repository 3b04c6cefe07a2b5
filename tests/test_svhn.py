"""Tests of the SVHN reader in posterior.data.images: its round trip, its refusals, its use as an OOD set.

Every file is generated here, small, with ``scipy.io.savemat`` in the format SVHN's cropped
digits are distributed in (MATLAB v5 files holding X, ``(32, 32, 3, n)`` bytes, and y,
``(n, 1)`` labels 1..10), so the tests need no downloaded data.
"""

import numpy as np
import pytest
import scipy.io

from experiments import build
from experiments import config as configs
from posterior import data
from test_image_data import CIFAR10_TRAIN_FILES, check_round_trip, cifar_records, unstandardise

TRAIN_FILE, TEST_FILE = "train_32x32.mat", "test_32x32.mat"
# SVHN labels the digit 0 as 10; the loader's classes are the digits.
TRAIN_LABELS, TRAIN_DIGITS = [10, 1, 2, 3, 10, 5, 9], [0, 1, 2, 3, 0, 5, 9]
TEST_LABELS, TEST_DIGITS = [4, 10, 6, 7, 8], [4, 0, 6, 7, 8]


def svhn_variables(rng, labels) -> dict:
    """SVHN's variables for random images with ``labels``: X ``(32, 32, 3, n)`` uint8 and y ``(n, 1)`` uint8."""
    images = rng.integers(0, 256, (32, 32, 3, len(labels)), dtype=np.uint8)
    return {"X": images, "y": np.array(labels, dtype=np.uint8)[:, np.newaxis]}


@pytest.fixture
def svhn(tmp_path):
    """A folder with the two SVHN files (the train one compressed); returns (folder, {file: variables})."""
    rng = np.random.default_rng(6)
    files = {TRAIN_FILE: svhn_variables(rng, TRAIN_LABELS), TEST_FILE: svhn_variables(rng, TEST_LABELS)}
    for filename, variables in files.items():
        scipy.io.savemat(tmp_path / filename, variables, do_compression=filename == TRAIN_FILE)
    return tmp_path, files


def test_svhn_files_round_trip(svhn):
    root, files = svhn
    ds = data.load("svhn", root=root, split=0)
    assert ds.name == "svhn" and ds.input_shape == (32, 32, 3)
    train_pixels, test_pixels = (files[filename]["X"].transpose(3, 0, 1, 2) for filename in (TRAIN_FILE, TEST_FILE))
    check_round_trip(ds, train_pixels, test_pixels, TRAIN_DIGITS, TEST_DIGITS, num_classes=10)

    # The layout, from X itself: X[row, column, channel, image] is that pixel of that image.
    images = files[TRAIN_FILE]["X"]
    restored = unstandardise(train_pixels, ds.x_train)
    for image, row, column, channel in [(0, 2, 5, 1), (6, 31, 0, 2), (3, 0, 31, 0), (4, 17, 9, 2)]:
        assert restored[image, row, column, channel] == images[row, column, channel, image]


def test_svhn_labels_may_be_matlab_doubles(svhn):
    root, files = svhn
    scipy.io.savemat(root / TEST_FILE, {**files[TEST_FILE], "y": files[TEST_FILE]["y"].astype(np.float64)})
    np.testing.assert_array_equal(data.load("svhn", root=root).y_test, TEST_DIGITS)


def _truncate(filename, size):
    """A folder-breaking function: ``filename`` keeps its first ``size(number of bytes)`` bytes."""

    def corrupt(folder, files):
        content = (folder / filename).read_bytes()
        (folder / filename).write_bytes(content[:size(len(content))])

    return corrupt


def _write(filename, content):
    """A folder-breaking function: ``filename`` holds the bytes ``content``."""
    return lambda folder, files: (folder / filename).write_bytes(content)


def _save(filename, **changes):
    """A folder-breaking function: ``filename`` holds its variables with ``changes`` (None removes one)."""

    def corrupt(folder, files):
        variables = {name: value for name, value in {**files[filename], **changes}.items() if value is not None}
        scipy.io.savemat(folder / filename, variables)

    return corrupt


def _remove(filename):
    """A folder-breaking function that deletes ``filename``."""
    return lambda folder, files: (folder / filename).unlink()


NOT_READ = "truncated, corrupt or not a MATLAB file (scipy.io.loadmat: "
NUM_TRAIN, NUM_TEST = len(TRAIN_LABELS), len(TEST_LABELS)


@pytest.mark.parametrize(
    "corrupt, filename, cause",
    [
        (_truncate(TRAIN_FILE, lambda size: size // 2), TRAIN_FILE, NOT_READ),
        (_truncate(TEST_FILE, lambda size: size // 2), TEST_FILE, NOT_READ),
        (_truncate(TEST_FILE, lambda size: size - 16), TEST_FILE, NOT_READ),
        (_truncate(TEST_FILE, lambda size: 127), TEST_FILE, NOT_READ),
        (_truncate(TEST_FILE, lambda size: 100), TEST_FILE, NOT_READ),
        (_truncate(TEST_FILE, lambda size: 0), TEST_FILE, NOT_READ),
        (_write(TRAIN_FILE, b"label,pixels\n" * 40), TRAIN_FILE, NOT_READ),
        (_write(TEST_FILE, b"\x89PNG\r\n\x1a\n" + bytes(range(256))), TEST_FILE, NOT_READ),
        (_save(TRAIN_FILE, X=None), TRAIN_FILE, "it holds no variable X"),
        (_save(TEST_FILE, y=None), TEST_FILE, "it holds no variable y"),
        (_save(TEST_FILE, X=np.zeros((32, 32, 3, NUM_TEST))), TEST_FILE,
         f"X is float64 of shape (32, 32, 3, {NUM_TEST}), expected uint8"),
        (_save(TEST_FILE, X=np.zeros((3, 32, 32, NUM_TEST), np.uint8)), TEST_FILE, f"shape (3, 32, 32, {NUM_TEST})"),
        (_save(TEST_FILE, X=np.zeros((32, 32, NUM_TEST), np.uint8)), TEST_FILE, f"shape (32, 32, {NUM_TEST})"),
        (_save(TRAIN_FILE, X=np.zeros((32, 32, 3, 0), np.uint8), y=np.zeros((0, 1), np.uint8)), TRAIN_FILE,
         "it holds no images"),
        (_save(TRAIN_FILE, y="digits"), TRAIN_FILE, "y is ndarray of dtype <U6, not a numeric array"),
        (_save(TRAIN_FILE, y=np.ones((NUM_TRAIN - 1, 1), np.uint8)), TRAIN_FILE,
         f"y of shape ({NUM_TRAIN - 1}, 1) for {NUM_TRAIN} images"),
        (_save(TEST_FILE, y=np.ones((1, NUM_TEST), np.uint8)), TEST_FILE, f"y of shape (1, {NUM_TEST})"),
        (_save(TRAIN_FILE, y=np.array([[1], [2], [0], [3], [4], [5], [6]], np.uint8)), TRAIN_FILE,
         "the label of example 2 is 0, not one of 1..10"),
        (_save(TEST_FILE, y=np.array([[1], [2], [3], [4], [11]], np.uint8)), TEST_FILE,
         "the label of example 4 is 11, not one of 1..10"),
        (_save(TEST_FILE, y=np.array([[1], [2.5], [3], [4], [5]])), TEST_FILE, "example 1 is 2.5, not one"),
        (_remove(TRAIN_FILE), TRAIN_FILE, f"missing file: {TRAIN_FILE} in"),
        (_remove(TEST_FILE), TEST_FILE, f"missing file: {TEST_FILE} in"),
    ],
)
def test_corrupt_svhn_is_refused_in_one_line_naming_the_file(svhn, corrupt, filename, cause):
    root, files = svhn
    corrupt(root, files)
    with pytest.raises(data.DataError) as error:
        data.load("svhn", root=root)
    message = str(error.value)
    assert "\n" not in message and cause in message
    assert str(root / filename) in message or f"{filename} in {root}" in message


def test_running_out_of_memory_is_not_blamed_on_the_file(svhn, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(scipy.io, "loadmat", out_of_memory)
    with pytest.raises(MemoryError):
        data.load("svhn", root=svhn[0])


def test_svhn_is_an_ood_set_for_cifar(svhn, tmp_path):
    svhn_root, _ = svhn
    cifar_root = tmp_path / "cifar"
    cifar_root.mkdir()
    rng = np.random.default_rng(7)
    for filename in (*CIFAR10_TRAIN_FILES, "test_batch.bin"):
        (cifar_root / filename).write_bytes(cifar_records(rng, 2, (10,))[0].tobytes())
    config = configs.from_dict({
        "name": "cifar-with-svhn",
        "data": {"name": "cifar10", "root": str(cifar_root)},
        "model": {"kind": "mlp", "width": 8, "depth": 1},
        "likelihood": {"name": "categorical"},
        "sampler": {"name": "sgld", "step_size": 1e-4},
        "sampling": {"num_chains": 1, "num_steps": 10, "burn_in": 0, "thin": 1, "batch_size": 4},
        "eval": {"ood": {"kind": "data", "name": "svhn", "root": str(svhn_root)}},
    })
    inputs = build.ood_inputs(config, data.load("cifar10", root=cifar_root), None, data_root=str(cifar_root))
    assert inputs.shape == (NUM_TEST, 32, 32, 3)
    np.testing.assert_array_equal(inputs, data.load("svhn", root=svhn_root).x_test)
