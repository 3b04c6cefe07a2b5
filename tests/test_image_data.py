"""Tests of posterior.data.images: the MNIST and CIFAR readers, their errors, and augment.

Every file is generated here, small, in the exact format the real sets are distributed
in (IDX, raw and gzipped; CIFAR's binary records), so the tests need no downloaded data.
"""

import gzip
import struct

import jax
import numpy as np
import pytest

from posterior import data
from posterior.data.augment import augment
from posterior.data.images import load_images

NUM_TRAIN, NUM_TEST = 20, 10
CIFAR_SIDE = 32
CIFAR_PLANE = CIFAR_SIDE * CIFAR_SIDE
CIFAR10_TRAIN_FILES = [f"data_batch_{batch}.bin" for batch in range(1, 6)]
CIFAR10_RECORDS_PER_FILE = 2
CIFAR100_TRAIN_RECORDS, CIFAR100_TEST_RECORDS = 4, 3


def idx_bytes(values: np.ndarray, *, dtype_code: int = 0x08) -> bytes:
    """``values`` as an IDX file: two zero bytes, the type code, the rank, big-endian sizes, the bytes."""
    header = bytes([0, 0, dtype_code, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape)
    return header + values.astype(np.uint8).tobytes()


def write_file(path, content: bytes, *, gzipped: bool = False):
    """Write ``content`` at ``path``, or gzipped at ``path`` + ``.gz``; returns the path written."""
    if gzipped:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)
    return path


@pytest.fixture
def mnist(tmp_path):
    """A folder with the four MNIST files (two of them gzipped); returns (folder, raw arrays)."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (NUM_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(NUM_TRAIN, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (NUM_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, NUM_TEST, dtype=np.uint8),
    }
    for filename, values in arrays.items():
        write_file(tmp_path / filename, idx_bytes(values), gzipped=filename.startswith(("train-images", "t10k-labels")))
    return tmp_path, arrays


def standardise(train_pixels: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """NHWC bytes scaled to [0, 1] and standardised per channel with ``train_pixels``' statistics, in float64."""
    train = train_pixels / 255.0
    return (pixels / 255.0 - train.mean(axis=(0, 1, 2))) / train.std(axis=(0, 1, 2))


def unstandardise(train_pixels: np.ndarray, images: np.ndarray) -> np.ndarray:
    """The pixel bytes that standardised ``images`` came from, rounded back to integers."""
    train = train_pixels / 255.0
    return np.rint((images * train.std(axis=(0, 1, 2)) + train.mean(axis=(0, 1, 2))) * 255.0)


def check_round_trip(ds, train_pixels, test_pixels, train_labels, test_labels, num_classes):
    """``ds`` holds the given NHWC bytes and labels, standardised with training statistics."""
    assert ds.task == "classification" and ds.num_classes == num_classes
    assert ds.x_train.dtype == ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == ds.y_test.dtype == np.int32
    assert ds.x_train.shape == train_pixels.shape and ds.x_test.shape == test_pixels.shape
    assert ds.input_shape == train_pixels.shape[1:] and ds.input_dim == np.prod(train_pixels.shape[1:])
    np.testing.assert_array_equal(ds.y_train, train_labels)
    np.testing.assert_array_equal(ds.y_test, test_labels)
    np.testing.assert_allclose(ds.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=(0, 1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(ds.x_test, standardise(train_pixels, test_pixels), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(unstandardise(train_pixels, ds.x_train), train_pixels)
    np.testing.assert_array_equal(unstandardise(train_pixels, ds.x_test), test_pixels)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_files_round_trip(mnist, name):
    folder, arrays = mnist
    ds = data.load(name, root=folder)
    assert ds.name == name and ds.input_shape == (28, 28, 1) and ds.input_dim == 784
    train_pixels = arrays["train-images-idx3-ubyte"][..., np.newaxis]
    test_pixels = arrays["t10k-images-idx3-ubyte"][..., np.newaxis]
    check_round_trip(ds, train_pixels, test_pixels, arrays["train-labels-idx1-ubyte"],
                     arrays["t10k-labels-idx1-ubyte"], num_classes=10)
    # The IDX bytes are row-major: byte 28 * 5 + 7 of image 3 is row 5, column 7.
    raw_byte = arrays["train-images-idx3-ubyte"].reshape(NUM_TRAIN, -1)[3, 28 * 5 + 7]
    assert unstandardise(train_pixels, ds.x_train)[3, 5, 7, 0] == raw_byte


def test_mnist_reads_the_raw_file_where_both_forms_are_there(mnist):
    folder, arrays = mnist
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    np.testing.assert_array_equal(data.load("mnist", root=folder).y_train, arrays["train-labels-idx1-ubyte"])


def _rewrite(filename, change):
    """A folder-breaking function: the raw IDX file ``filename`` (gzipped or not) becomes ``change(content)``."""

    def corrupt(folder, arrays):
        _remove(filename)(folder, arrays)
        write_file(folder / filename, change(idx_bytes(arrays[filename])))

    return corrupt


def _replace(filename, values, **kwargs):
    """A folder-breaking function: ``filename`` becomes a well-formed IDX file of ``values``."""
    return _rewrite(filename, lambda _: idx_bytes(values, **kwargs))


def _write_gzip(filename, content):
    """A folder-breaking function: ``filename`` is replaced by ``filename.gz`` holding ``content``."""

    def corrupt(folder, arrays):
        (folder / filename).unlink(missing_ok=True)
        (folder / f"{filename}.gz").write_bytes(content(idx_bytes(arrays[filename])))

    return corrupt


def _remove(filename):
    """A folder-breaking function that deletes ``filename``, raw and gzipped."""

    def corrupt(folder, arrays):
        for path in (folder / filename, folder / f"{filename}.gz"):
            path.unlink(missing_ok=True)

    return corrupt


TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"
LABELS_OUT_OF_RANGE = np.array([0, 1, 2, 3, 10] + [0] * (NUM_TRAIN - 5), dtype=np.uint8)


@pytest.mark.parametrize(
    "corrupt, filename, cause",
    [
        (_rewrite(TRAIN_IMAGES, lambda content: content[:-5]), TRAIN_IMAGES, "truncated"),
        (_rewrite(TEST_LABELS, lambda content: content[:6]), TEST_LABELS, "truncated IDX header"),
        (_rewrite(TEST_LABELS, lambda content: content[:2]), TEST_LABELS, "truncated IDX header"),
        (_rewrite(TRAIN_IMAGES, lambda content: content + b"\x00\x00\x00"), TRAIN_IMAGES, "3 trailing bytes"),
        (_rewrite(TRAIN_LABELS, lambda content: b"\x00\x01" + content[2:]), TRAIN_LABELS, "not an IDX file"),
        (_replace(TEST_IMAGES, np.zeros((NUM_TEST, 28, 28)), dtype_code=0x0D), TEST_IMAGES, "type code 0x0d"),
        (_replace(TRAIN_LABELS, np.zeros((NUM_TRAIN, 1))), TRAIN_LABELS, "2 dimensions, expected 1"),
        (_replace(TEST_IMAGES, np.zeros((NUM_TEST, 28 * 28))), TEST_IMAGES, "2 dimensions, expected 3"),
        (_replace(TEST_IMAGES, np.zeros((NUM_TEST, 28, 27))), TEST_IMAGES, "(28, 27) pixels"),
        (_replace(TRAIN_IMAGES, np.zeros((0, 28, 28))), TRAIN_IMAGES, "no data"),
        (_replace(TRAIN_LABELS, LABELS_OUT_OF_RANGE), TRAIN_LABELS, "the label of example 4 is 10, not"),
        (_replace(TEST_LABELS, np.zeros(NUM_TEST - 1)), TEST_LABELS, f"{NUM_TEST - 1} labels for the {NUM_TEST}"),
        (_write_gzip(TRAIN_LABELS, lambda content: b"not gzip at all"), TRAIN_LABELS + ".gz", "gzip"),
        (_write_gzip(TEST_IMAGES, lambda content: gzip.compress(content)[:-12]), TEST_IMAGES + ".gz", "gzip"),
        (_write_gzip(TEST_IMAGES, lambda content: gzip.compress(content)[:20]), TEST_IMAGES + ".gz", "gzip"),
        (_remove(TEST_IMAGES), TEST_IMAGES, "missing file"),
    ],
)
def test_corrupt_mnist_is_refused_in_one_line_naming_the_file(mnist, corrupt, filename, cause):
    folder, arrays = mnist
    corrupt(folder, arrays)
    with pytest.raises(data.DataError) as error:
        data.load("mnist", root=folder)
    message = str(error.value)
    assert "\n" not in message
    assert filename in message and cause in message
    assert str(folder) in message


def cifar_records(rng, num_records, label_classes):
    """Random CIFAR binary records; returns (records, labels per label byte, NHWC pixels)."""
    labels = [rng.integers(0, classes, num_records, dtype=np.uint8) for classes in label_classes]
    pixels = rng.integers(0, 256, (num_records, CIFAR_SIDE, CIFAR_SIDE, 3), dtype=np.uint8)
    channel_major = pixels.transpose(0, 3, 1, 2).reshape(num_records, -1)
    return np.column_stack([*labels, channel_major]), labels, pixels


@pytest.fixture
def cifar10(tmp_path):
    """The CIFAR-10 binary files, in the archive's sub-folder; returns (root, folder, {file: cifar_records(...)})."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(1)
    files = {}
    for filename in (*CIFAR10_TRAIN_FILES, "test_batch.bin"):
        files[filename] = cifar_records(rng, CIFAR10_RECORDS_PER_FILE + (filename == "test_batch.bin"), (10,))
        (folder / filename).write_bytes(files[filename][0].tobytes())
    return tmp_path, folder, files


def test_cifar10_binary_files_round_trip(cifar10):
    root, _, files = cifar10
    ds = data.load("cifar10", root=root, split=0)
    assert ds.name == "cifar10" and ds.input_shape == (32, 32, 3) and ds.input_dim == 3072
    train_pixels = np.concatenate([files[filename][2] for filename in CIFAR10_TRAIN_FILES])
    train_labels = np.concatenate([files[filename][1][0] for filename in CIFAR10_TRAIN_FILES])
    _, (test_labels,), test_pixels = files["test_batch.bin"]
    check_round_trip(ds, train_pixels, test_pixels, train_labels, test_labels, num_classes=10)

    # The layout, from the bytes themselves: a record is the label, then the red, green and
    # blue planes, each row by row; so (row, column, channel) is byte 1 + channel * 1024 +
    # row * 32 + column of the record.
    records = files["data_batch_2.bin"][0]
    restored = unstandardise(train_pixels, ds.x_train)
    for record, row, column, channel in [(0, 2, 5, 1), (1, 31, 0, 2), (1, 0, 31, 0), (0, 17, 9, 2)]:
        image = CIFAR10_RECORDS_PER_FILE + record  # data_batch_2 follows data_batch_1's images
        assert restored[image, row, column, channel] == records[record, 1 + channel * CIFAR_PLANE + row * 32 + column]


def test_cifar_files_may_sit_directly_in_the_root(cifar10):
    _, folder, files = cifar10
    np.testing.assert_array_equal(load_images("cifar10", folder).y_test, files["test_batch.bin"][1][0])


def test_cifar100_uses_the_fine_labels(tmp_path):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    rng = np.random.default_rng(2)
    parts = {}
    for filename, num_records in (("train.bin", CIFAR100_TRAIN_RECORDS), ("test.bin", CIFAR100_TEST_RECORDS)):
        parts[filename] = cifar_records(rng, num_records, (20, 100))
        (folder / filename).write_bytes(parts[filename][0].tobytes())
    ds = data.load("cifar100", root=tmp_path)
    (_, (_, train_fine), train_pixels), (_, (_, test_fine), test_pixels) = parts["train.bin"], parts["test.bin"]
    check_round_trip(ds, train_pixels, test_pixels, train_fine, test_fine, num_classes=100)


def _set_byte(filename, record, offset, value):
    """A CIFAR-10 folder-breaking function: byte ``offset`` of record ``record`` of ``filename`` becomes ``value``."""

    def corrupt(folder):
        records = np.fromfile(folder / filename, dtype=np.uint8).reshape(-1, 3073)
        records[record, offset] = value
        (folder / filename).write_bytes(records.tobytes())

    return corrupt


def _append(filename, extra):
    """A CIFAR-10 folder-breaking function that appends ``extra`` bytes to ``filename``."""
    return lambda folder: (folder / filename).write_bytes((folder / filename).read_bytes() + extra)


@pytest.mark.parametrize(
    "corrupt, filename, cause",
    [
        (_append("data_batch_2.bin", b"\x00"), "data_batch_2.bin", "6147 bytes are not"),
        (lambda folder: (folder / "test_batch.bin").write_bytes(b""), "test_batch.bin", "3073-byte records"),
        (_set_byte("data_batch_4.bin", 1, 0, 10), "data_batch_4.bin", "label byte 0 of example 1 is 10"),
        (lambda folder: (folder / "data_batch_3.bin").unlink(), "data_batch_3.bin", "missing file"),
        (lambda folder: (folder / "test_batch.bin").rename(folder / "test_batch"), "test_batch.bin", "missing"),
    ],
)
def test_corrupt_cifar10_is_refused_in_one_line_naming_the_file(cifar10, corrupt, filename, cause):
    root, folder, _ = cifar10
    corrupt(folder)
    with pytest.raises(data.DataError) as error:
        data.load("cifar10", root=root)
    message = str(error.value)
    assert "\n" not in message and cause in message and str(folder / filename) in message


@pytest.mark.parametrize("label_byte, value", [(0, 20), (1, 100)])
def test_cifar100_label_out_of_range_is_refused(tmp_path, label_byte, value):
    records, _, _ = cifar_records(np.random.default_rng(3), 2, (20, 100))
    records[1, label_byte] = value
    for filename in ("train.bin", "test.bin"):
        (tmp_path / filename).write_bytes(records.tobytes())
    expected = f"train.bin: label byte {label_byte} of example 1 is {value}, not a class"
    with pytest.raises(data.DataError, match=expected):
        data.load("cifar100", root=tmp_path)


@pytest.mark.parametrize(
    "name, pickled",
    [
        ("cifar10", ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"]),
        ("cifar10", ["data_batch_1", "test_batch"]),
        ("cifar10", ["cifar10.pkl"]),
        ("cifar100", ["cifar-100-python/train", "cifar-100-python/test"]),
        ("cifar100", ["cifar-100-binary/train.pkl"]),
    ],
)
def test_pickled_cifar_is_refused_asking_for_the_binary_version(tmp_path, name, pickled):
    for relative in pickled:
        (tmp_path / relative).parent.mkdir(exist_ok=True)
        (tmp_path / relative).write_bytes(b"\x80\x04pickle")
    with pytest.raises(data.DataError) as error:
        data.load(name, root=tmp_path)
    message = str(error.value)
    assert "\n" not in message and "pickled" in message and "binary version" in message
    assert str(tmp_path / pickled[0].split("/")[0]) in message


def test_empty_cifar_folder_names_the_missing_file(tmp_path):
    with pytest.raises(data.DataError, match="missing file: test.bin in .* or in .*cifar-100-binary"):
        data.load("cifar100", root=tmp_path)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda root: data.load("mnist"), "mnist is an image data set: pass root"),
        (lambda root: data.load("cifar10", root=root / "absent"), "cifar10: data folder not found: .*absent"),
        (lambda root: data.load("mnist", root=root, split=1), r"mnist: split 1 out of range \(must be in 0..0\)"),
        (lambda root: data.load("mnist", root=root, split=True), "split must be an integer"),
        (lambda root: load_images("imagenet", root), "unknown image data set 'imagenet'"),
    ],
)
def test_bad_arguments_are_refused_in_one_line(tmp_path, call, message):
    with pytest.raises(data.DataError, match=message) as error:
        call(tmp_path)
    assert "\n" not in str(error.value)


@pytest.fixture(scope="module")
def batch():
    """Eight small NHWC images of distinct values, so that any window or mirror is recognisable."""
    return np.random.default_rng(4).normal(size=(8, 6, 5, 2)).astype(np.float32)


def test_augment_is_deterministic_for_a_key_and_keeps_the_shape(batch):
    key = jax.random.key(0)
    once = augment(key, batch)
    assert once.shape == batch.shape and once.dtype == batch.dtype
    np.testing.assert_array_equal(once, augment(key, batch))
    jitted = jax.jit(augment, static_argnames=("flip", "crop_padding", "padding"))
    np.testing.assert_array_equal(once, jitted(key, batch, crop_padding=4))
    assert not np.array_equal(once, augment(jax.random.key(1), batch))


def test_augment_flip_gives_each_image_or_its_mirror(batch):
    flipped = np.asarray(augment(jax.random.key(2), batch, crop_padding=0))
    mirrored = [np.array_equal(out, image[:, ::-1]) for out, image in zip(flipped, batch)]
    kept = [np.array_equal(out, image) for out, image in zip(flipped, batch)]
    assert all(a != b for a, b in zip(mirrored, kept))
    assert any(mirrored) and any(kept)


@pytest.mark.parametrize("padding, numpy_mode", [("zeros", "constant"), ("reflect", "reflect")])
def test_augment_crop_gives_a_window_of_the_padded_image(batch, padding, numpy_mode):
    crop_padding = 2
    cropped = np.asarray(augment(jax.random.key(3), batch, flip=False, crop_padding=crop_padding, padding=padding))
    padded = np.pad(batch, ((0, 0), (crop_padding,) * 2, (crop_padding,) * 2, (0, 0)), mode=numpy_mode)
    _, height, width, _ = batch.shape
    offsets = set()
    for out, image in zip(cropped, padded):
        windows = [
            (row, column)
            for row in range(2 * crop_padding + 1)
            for column in range(2 * crop_padding + 1)
            if np.array_equal(out, image[row:row + height, column:column + width])
        ]
        assert len(windows) == 1
        offsets.add(windows[0])
    assert len(offsets) > 1  # the offsets are drawn per image


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"images": np.zeros((6, 5, 2))}, "got shape"),
        ({"crop_padding": -1}, "non-negative"),
        ({"padding": "edge"}, "'zeros' or 'reflect'"),
    ],
)
def test_augment_refuses_bad_arguments(batch, kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment(jax.random.key(0), **{"images": batch, **kwargs})
