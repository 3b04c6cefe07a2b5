"""Checkpoints of the driver: its state and the draws kept so far, in ``.npz`` files.

A checkpoint directory holds ``state.npz`` (the carry of every chain, the online sums,
the step reached, and the identity of the run that wrote it) and one
``draws-<first>-<stop>.npz`` per checkpoint with the draws kept since the one before, so
a checkpoint costs the state plus the new draws, not every draw again. Every file carries
the identity of the run that wrote it, so a draws file of another run mixed into the
folder is refused, not resumed from. Every file is
written to a temporary name, flushed to disk and renamed into place, and the state is
written after the draws it lists: a process killed at any moment leaves the previous
checkpoint whole. Loading checks the file against the run asking for it (its sizes, key,
data, and every array's path, shape and dtype) and refuses another run's with one line.

Nothing is pickled: arrays are stored as NumPy arrays (typed PRNG keys as their key data
and implementation name) and everything else as JSON.
"""

import hashlib
import json
import lzma
import math
import os
import pathlib
import zipfile
import zlib
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from samplers.atomic import write_atomic

__all__ = ["CheckpointError", "Saved", "UnreadableArchive", "load", "read_archive", "save", "save_draws", "saved_step",
           "write_archive", "write_atomic", "write_tree"]

FORMAT = 1
STATE = "state.npz"
_METADATA = "metadata"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from; the message names the file and why."""


class Saved(NamedTuple):
    """A checkpoint read back: host arrays, in the structure of the templates given."""

    state: Any
    draws: Any  # leaves with a leading draw axis: every draw kept up to ``step``
    step: int
    num_kept: int
    draw_files: list[str]  # the files ``draws`` came from, in order
    sampling_seconds: float


def _is_key(leaf: Any) -> bool:
    return jnp.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key)


def _layout(tree: Any) -> list[dict]:
    """Path, shape and dtype of every leaf of ``tree`` (arrays or ``jax.ShapeDtypeStruct``)."""
    return [{"path": jax.tree_util.keystr(path), "shape": list(np.shape(leaf)), "dtype": str(leaf.dtype)}
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def write_tree(path: pathlib.Path, tree: Any, metadata: dict) -> None:
    """Write ``tree``'s leaves as arrays ``leaf_<i>`` of an ``.npz`` file, atomically, with
    ``metadata`` and every leaf's path, shape and dtype as the JSON text (UTF-8 bytes) of
    the array ``metadata``."""
    leaves = jax.tree.leaves(tree)
    key_impls = {str(index): str(jax.random.key_impl(leaf)) for index, leaf in enumerate(leaves) if _is_key(leaf)}
    leaves = [np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf) for leaf in leaves]
    text = json.dumps({**metadata, "layout": _layout(tree), "key_impls": key_impls})
    arrays = {f"leaf_{index}": leaf for index, leaf in enumerate(leaves)}
    arrays[_METADATA] = np.frombuffer(text.encode(), np.uint8)
    write_archive(path, arrays)


def write_archive(path: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as an uncompressed ``.npz`` file at ``path``, atomically (:func:`read_archive` reads it)."""
    def write(temporary):
        with open(temporary, "wb") as file:
            np.savez(file, **arrays)

    write_atomic(path, write)


class UnreadableArchive(Exception):
    """An ``.npz`` file that cannot be read; the message is the one-line reason."""


# What reading a damaged zip archive raises: a changed flag bit can claim encryption
# (RuntimeError) or an unsupported compression (NotImplementedError), a changed method
# sends the bytes through zlib or lzma.
_DAMAGED_ARCHIVE = (OSError, ValueError, KeyError, EOFError, RuntimeError, NotImplementedError,
                    zipfile.BadZipFile, zlib.error, lzma.LZMAError)


def _physical_memory() -> int:
    """Bytes of memory this machine has (what no archive may claim to need more of)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _check_claimed_sizes(path: pathlib.Path) -> None:
    """Refuse an archive whose arrays' headers claim more bytes than their members hold or
    than the machine has, before numpy allocates what a header claims.

    Raises:
        UnreadableArchive: naming the member, its claimed shape and the bytes it holds.
    """
    claimed_total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            with archive.open(info) as member:
                version = np.lib.format.read_magic(member)
                read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                               else np.lib.format.read_array_header_2_0)
                shape, _, dtype = read_header(member)
                held = info.file_size - member.tell()
            claimed = math.prod(shape) * dtype.itemsize
            if claimed > held:
                raise UnreadableArchive(f"{info.filename} claims shape {shape} of {dtype} ({claimed:,} bytes) but "
                                        f"holds {held:,} bytes")
            claimed_total += claimed
    if claimed_total > _physical_memory():
        raise UnreadableArchive(f"its arrays claim {claimed_total:,} bytes, more than this machine's "
                                f"{_physical_memory():,} bytes of memory")


def read_archive(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, nothing unpickled.

    The array headers are checked against the bytes the archive holds before anything is
    allocated, so that a header claiming a huge shape is refused rather than exhausting
    memory.

    Raises:
        FileNotFoundError: there is no ``path``.
        UnreadableArchive: it is not a zip archive, a damaged one, or one whose headers claim
            more than it holds; the message says why in one line.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    if not zipfile.is_zipfile(path):
        raise UnreadableArchive("not an .npz archive")
    try:
        _check_claimed_sizes(path)
        with np.load(path, allow_pickle=False) as stored:
            return {name: stored[name] for name in stored.files}
    except _DAMAGED_ARCHIVE as error:
        raise UnreadableArchive(str(error).splitlines()[0] if str(error) else type(error).__name__) from None


def _read_npz(path: pathlib.Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata and arrays of a file :func:`write_tree` wrote."""
    try:
        arrays = read_archive(path)
        metadata = json.loads(arrays.pop(_METADATA).tobytes().decode())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file {path} is missing") from None
    except (UnreadableArchive, KeyError, ValueError) as error:  # ValueError: JSON and UTF-8 decoding
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CheckpointError(f"checkpoint file {path} is unreadable ({reason})") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("layout"), list):
        raise CheckpointError(f"checkpoint file {path} has no layout of its arrays")
    return metadata, arrays


def _restore(path: pathlib.Path, metadata: dict, arrays: dict, template: Any, *, leading: tuple[int, ...] = ()):
    """The tree of ``template``'s structure from ``arrays``, after checking every leaf's
    path, dtype and shape (``leading`` + the template's) against the template."""
    expected = _layout(template)
    if len(metadata["layout"]) != len(expected):
        raise CheckpointError(f"checkpoint file {path} holds {len(metadata['layout'])} arrays where this run has "
                              f"{len(expected)}: it was written by another sampler or model")
    key_impls = metadata.get("key_impls") if isinstance(metadata.get("key_impls"), dict) else {}
    leaves = []
    for index, (saved, wanted, template_leaf) in enumerate(zip(metadata["layout"], expected, jax.tree.leaves(template))):
        if not isinstance(saved, dict) or saved.get("path") != wanted["path"]:
            where = saved.get("path") if isinstance(saved, dict) else saved
            raise CheckpointError(f"checkpoint file {path} holds {where!r} where this run has {wanted['path']!r}: "
                                  f"it was written by another sampler or model")
        found = arrays.get(f"leaf_{index}")
        if found is not None and _is_key(template_leaf):
            try:
                found = jax.random.wrap_key_data(found, impl=key_impls.get(str(index)))
            except (TypeError, ValueError):
                found = None
        shape = list(leading) + wanted["shape"]
        stored = "nothing" if found is None else f"{found.dtype} {list(found.shape)}"
        if found is None or list(found.shape) != shape or str(found.dtype) != wanted["dtype"]:
            raise CheckpointError(f"checkpoint file {path} holds {wanted['path']} as {stored}, this run needs "
                                  f"{wanted['dtype']} {shape}: it was written for another model")
        leaves.append(found)
    return jax.tree.unflatten(jax.tree.structure(template), leaves)


def _difference(name: str, saved: Any, current: Any) -> str:
    """How ``saved`` and ``current`` differ, in a few words; mappings name the first keys
    that differ (``name.key``)."""
    if not (isinstance(saved, dict) and isinstance(current, dict)):
        return f"its {name} is {saved!r}, this run's is {current!r}"
    absent = "(absent)"
    keys = [key for key in sorted(saved.keys() | current.keys(), key=str)
            if saved.get(key, absent) != current.get(key, absent)]
    shown = ", ".join(_difference(f"{name}.{key}", saved.get(key, absent), current.get(key, absent))
                      for key in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def data_fingerprint(data: Any) -> str:
    """A hash of every array of ``data`` (its shapes, dtypes and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for leaf in jax.tree.leaves(data):
        leaf = np.ascontiguousarray(leaf)
        digest.update(f"{leaf.shape}{leaf.dtype}".encode())
        digest.update(leaf.tobytes())
    return digest.hexdigest()


def draws_name(first: int, stop: int) -> str:
    """The file :func:`save_draws` writes draws ``first .. stop`` to."""
    return f"draws-{first:09d}-{stop:09d}.npz"


def save_draws(directory: pathlib.Path, draws: Any, *, first: int, identity: dict) -> str:
    """Write the draws ``first ..`` (leaves with a leading draw axis) of the run ``identity``
    (as given to :func:`save`); returns the file name."""
    stop = first + int(jax.tree.leaves(draws)[0].shape[0])
    name = draws_name(first, stop)
    write_tree(pathlib.Path(directory) / name, draws,
               {"format": FORMAT, "identity": identity, "first": first, "stop": stop})
    return name


def save(directory: pathlib.Path, state: Any, *, identity: dict, step: int, draw_files: list[str],
         num_kept: int, sampling_seconds: float) -> None:
    """Write ``state`` as the directory's checkpoint at ``step``, replacing the one before.

    Args:
        directory: the checkpoint directory.
        state: the driver's state, a pytree of arrays (host or device).
        identity: what a run resuming from it must share with this one (JSON data).
        step: the steps every chain has taken.
        draw_files: the :func:`save_draws` files holding draws ``0 .. num_kept``, in order.
        num_kept: the draws kept so far.
        sampling_seconds: time spent sampling up to ``step``, over every process.
    """
    metadata = {"format": FORMAT, "identity": identity, "step": step, "draw_files": draw_files,
                "num_kept": num_kept, "sampling_seconds": sampling_seconds}
    directory = pathlib.Path(directory)
    for stale in directory.glob(".*.tmp"):  # left by a process killed while writing
        stale.unlink(missing_ok=True)
    write_tree(directory / STATE, state, metadata)


def saved_step(directory: pathlib.Path) -> int | None:
    """The step of the checkpoint in ``directory`` (None when there is none)."""
    path = pathlib.Path(directory) / STATE
    if not path.exists():
        return None
    step = _read_npz(path)[0].get("step")
    if not isinstance(step, int):
        raise CheckpointError(f"checkpoint file {path} has no step count")
    return step


def load(directory: pathlib.Path, *, identity: dict, state_template: Any, draw_template: Any) -> Saved | None:
    """The checkpoint in ``directory``, checked against the run asking for it.

    Args:
        directory: the checkpoint directory.
        identity: the asking run's identity (as given to :func:`save`); every entry must match.
        state_template: a pytree of arrays or ``jax.ShapeDtypeStruct`` with the state's
            structure, shapes and dtypes.
        draw_template: the same for one draw (every leaf gains a leading draw axis).

    Returns:
        A :class:`Saved`, or None when ``directory`` holds no checkpoint.

    Raises:
        CheckpointError: one line naming the file, when a file is unreadable or missing,
            or was written by another run (other sizes, key or data) or for another model.
    """
    directory = pathlib.Path(directory)
    path = directory / STATE
    if not path.exists():
        return None
    metadata, arrays = _read_npz(path)
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint file {path} has format {metadata.get('format')!r}, not {FORMAT}")
    saved_identity = metadata.get("identity")
    if not isinstance(saved_identity, dict):
        raise CheckpointError(f"checkpoint file {path} does not say which run wrote it")
    for name, value in identity.items():
        if saved_identity.get(name) != value:
            raise CheckpointError(f"checkpoint file {path} was written by another run: "
                                  f"{_difference(name, saved_identity.get(name), value)}")
    step, num_kept, files = metadata.get("step"), metadata.get("num_kept"), metadata.get("draw_files")
    seconds = metadata.get("sampling_seconds")
    if not (isinstance(step, int) and isinstance(num_kept, int) and isinstance(files, list)
            and isinstance(seconds, (int, float))):
        raise CheckpointError(f"checkpoint file {path} lacks its step, draw count or draw files")
    state = _restore(path, metadata, arrays, state_template)
    draws, first = [], 0
    for name in files:
        if not isinstance(name, str) or not name.startswith("draws-") or name != pathlib.Path(name).name:
            raise CheckpointError(f"checkpoint file {path} lists {name!r}, which is not a draws file")
        draws_path = directory / name
        draws_metadata, draws_arrays = _read_npz(draws_path)
        if draws_metadata.get("identity") != saved_identity:
            raise CheckpointError(f"checkpoint file {draws_path} was written by another run than {path}: "
                                  f"{_difference('identity', draws_metadata.get('identity'), saved_identity)}")
        stop = draws_metadata.get("stop")
        if draws_metadata.get("first") != first or not isinstance(stop, int) or stop <= first:
            raise CheckpointError(f"checkpoint file {draws_path} does not hold the draws from {first} on")
        draws.append(_restore(draws_path, draws_metadata, draws_arrays, draw_template, leading=(stop - first,)))
        first = stop
    if first != num_kept:
        raise CheckpointError(f"checkpoint file {path} lists {first} draws, not the {num_kept} it says were kept")
    if draws:
        joined = jax.tree.map(lambda *parts: np.concatenate(parts), *draws)
    else:
        joined = jax.tree.map(lambda leaf: np.zeros((0,) + tuple(leaf.shape), leaf.dtype), draw_template)
    return Saved(state, joined, step, num_kept, files, float(seconds))
