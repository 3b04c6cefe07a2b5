"""A run's saved draws read back without its config's network: :func:`load_draws`.

``posterior run CONFIG sampling.save_samples=true`` writes every chain's kept draws to
``<run_dir>/samples/draws.npz`` (``samplers.checkpoint.write_tree``): arrays ``leaf_<i>``
and ``metadata``, the JSON of the run's config and every leaf's key path, shape and dtype.
The key paths are enough to rebuild the tree as nested dicts, so reading the draws needs
neither the config's network nor the code that built it.
"""

import ast
import json
import os
import pathlib
import re
from typing import Any, NamedTuple

import numpy as np

from samplers import checkpoint

__all__ = ["DRAWS", "Draws", "load_draws"]

DRAWS = pathlib.Path("samples") / "draws.npz"  # in a run directory
_METRICS = "metrics.json"
_NAME = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")  # an attribute key, ``.name``


class Draws(NamedTuple):
    """A run's kept draws, host arrays with axes ``(chain, draw, ...)``."""

    samples: dict[Any, Any]  # the parameter pytree, nested dicts keyed by the stored key paths
    weights: np.ndarray  # (chain, draw) the weight of each draw in expectations
    info: dict[str, np.ndarray]  # the sampler's per-draw statistics, each (chain, draw)
    metadata: dict[str, Any]  # "config": the run's config; "metrics": its metrics.json, when present

    @property
    def num_chains(self) -> int:
        return int(self.weights.shape[0])

    @property
    def num_draws(self) -> int:
        """Draws per chain."""
        return int(self.weights.shape[1])


def _path_keys(path: str) -> list[str | int]:
    """The keys of a ``jax.tree_util.keystr`` path: ``['a'][0].b`` -> ``['a', 0, 'b']``.

    Raises:
        ValueError: ``path`` is not one.
    """
    keys, rest = [], path
    while rest:
        attribute = _NAME.match(rest)
        if attribute:
            keys.append(attribute.group(1))
            rest = rest[attribute.end():]
            continue
        if not rest.startswith("["):
            raise ValueError(f"key path {path!r} is not a jax key path")
        # A key is a Python literal in brackets; the first ']' that closes a whole literal ends it.
        for end in (index for index, character in enumerate(rest) if character == "]"):
            try:
                key = ast.literal_eval(rest[1:end])
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            break
        else:
            raise ValueError(f"key path {path!r} is not a jax key path")
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise ValueError(f"key path {path!r} has a key {key!r} that is neither a string nor an index")
        keys.append(key)
        rest = rest[end + 1:]
    if not keys:
        raise ValueError("an empty key path")
    return keys


def _tree(path: pathlib.Path, layout: list, arrays: dict[str, np.ndarray]) -> dict:
    """The nested dicts of ``layout``'s key paths holding ``arrays``' leaves, each checked
    against its stored shape and dtype."""
    tree: dict = {}
    for index, entry in enumerate(layout):
        if not (isinstance(entry, dict) and isinstance(entry.get("path"), str)):
            raise ValueError(f"draws file {path} has a malformed layout entry {index}")
        keys = _path_keys(entry["path"])
        leaf = arrays.get(f"leaf_{index}")
        stored = "nothing" if leaf is None else f"{leaf.dtype} {list(leaf.shape)}"
        if leaf is None or list(leaf.shape) != entry.get("shape") or str(leaf.dtype) != entry.get("dtype"):
            raise ValueError(f"draws file {path} holds {stored} for {entry['path']}, "
                             f"its layout says {entry.get('dtype')} {entry.get('shape')}")
        node = tree
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"draws file {path} has {entry['path']} below another leaf")
        if keys[-1] in node:
            raise ValueError(f"draws file {path} has {entry['path']} twice or above another leaf")
        node[keys[-1]] = leaf
    return tree


def _leaves(tree: Any) -> list[np.ndarray]:
    return [leaf for value in tree.values() for leaf in _leaves(value)] if isinstance(tree, dict) else [tree]


def load_draws(run_dir: str | os.PathLike) -> Draws:
    """The draws a run saved, read back without its config's network.

    ``posterior run CONFIG sampling.save_samples=true`` keeps every chain's draws in
    ``<run_dir>/samples/draws.npz``. The file records each array's key path in the
    parameter tree, so the tree is rebuilt from it as nested dicts (sequence indices
    become ``int`` keys, e.g. Entropy-MCMC's ``(theta, anchor)`` pair is
    ``samples[0]``, ``samples[1]``); nothing is unpickled. Typed PRNG keys, should a
    tree hold any, come back as their key data.

    Args:
        run_dir: a run directory (``results/<experiment>/<dataset>/split-<k>/seed-<s>``).

    Returns:
        A :class:`Draws`: ``samples`` (the parameter pytree, NumPy arrays with axes
        ``(chain, draw, ...)``), ``weights`` ``(chain, draw)``, ``info`` (the sampler's
        statistics, each ``(chain, draw)``) and ``metadata`` (``config``: the run's
        config as a dict; ``metrics``: its ``metrics.json``, when the directory has one).

    Raises:
        FileNotFoundError: there is no draws file; the message names the path and that
            ``sampling.save_samples=true`` writes it.
        ValueError: the draws file (or ``metrics.json``) is unreadable or malformed; one
            line naming the file.
    """
    directory = pathlib.Path(run_dir)
    path = directory / DRAWS
    try:
        arrays = checkpoint.read_archive(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"no saved draws at {path}: a run writes them with "
                                f"sampling.save_samples=true") from None
    except checkpoint.UnreadableArchive as error:
        raise ValueError(f"draws file {path} is unreadable ({' '.join(str(error).splitlines())})") from None
    try:
        metadata = json.loads(arrays.pop("metadata").tobytes().decode())
    except (KeyError, ValueError):  # ValueError: JSON and UTF-8 decoding
        raise ValueError(f"draws file {path} has no readable metadata") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("layout"), list):
        raise ValueError(f"draws file {path} has no layout of its arrays")
    try:
        tree = _tree(path, metadata.pop("layout"), arrays)
    except ValueError as error:
        message = " ".join(str(error).splitlines())
        raise ValueError(message if str(path) in message else f"draws file {path}: {message}") from None
    metadata.pop("key_impls", None)
    samples, weights, info = tree.get("samples"), tree.get("weights"), tree.get("info", {})
    if not isinstance(samples, dict) or not isinstance(weights, np.ndarray) or weights.ndim != 2 \
            or not isinstance(info, dict):
        raise ValueError(f"draws file {path} does not hold the samples, weights and info of a run")
    for leaf in [*_leaves(samples), *_leaves(info)]:
        if leaf.shape[:2] != weights.shape:
            raise ValueError(f"draws file {path} holds an array of shape {leaf.shape}, not (chain, draw, ...) "
                             f"= {weights.shape} like its weights")
    metrics_path = directory / _METRICS
    if metrics_path.is_file():
        try:
            metrics = json.loads(metrics_path.read_text())
        except (OSError, ValueError) as error:
            raise ValueError(f"{metrics_path} is unreadable ({' '.join(str(error).splitlines())})") from None
        if not isinstance(metrics, dict):
            raise ValueError(f"{metrics_path} does not hold a JSON object")
        metadata["metrics"] = metrics
    return Draws(samples, weights, info, metadata)
