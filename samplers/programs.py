"""Compiled programs kept for the life of the process, found again by what determines them.

A program of the driver is determined by the sampler's structure (its functions and
:class:`~samplers.base.Static` settings), by the shapes, dtypes and layouts of what it is
called on, and by the driver's own settings. :func:`split` separates a pytree (a
sampler, a start) into the numbers that can travel as run-time arguments and a hashable
description of the rest; :class:`Programs` compiles a program the first time its key is
seen and hands back the same executable afterwards, so a second call that changes only
numbers (a step size, a temperature, a schedule's constants) compiles nothing.

The cache holds the :data:`CAPACITY` programs (and traced shapes) used last. It keeps
the functions in the keys alive, which is also what makes keying on their identity safe:
a function object is never reused for another function while the cache holds it.
"""

import collections
import concurrent.futures
import functools
import numbers
import os
import pathlib
import time
from typing import Any, Callable, Hashable, NamedTuple

import jax
import numpy as np
from jax.sharding import Mesh

from samplers.mesh import on_cpus

__all__ = ["CAPACITY", "Split", "split", "Programs", "clear", "default_cache_path", "enable_compilation_cache"]

CAPACITY = 64
_QUICK_TO_COMPILE = {"xla_backend_optimization_level": 0}  # see Programs.run

_compiled: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()


class Split(NamedTuple):
    """A pytree as run-time numbers and the rest.

    Attributes:
        numbers: the leaves that are numbers or arrays, in order (passed at run time).
        key: a hashable description of everything else (None when some part cannot be
            hashed, and the program cannot be found again).
        rebuild: ``rebuild(numbers) -> tree``, the tree with these numbers in place.
    """

    numbers: list
    key: Hashable | None
    rebuild: Callable[[list], Any]


def _is_number(leaf: Any) -> bool:
    # Python bools stay static: code branches on them in Python.
    return isinstance(leaf, (jax.Array, np.ndarray, np.generic, numbers.Number)) and not isinstance(leaf, bool)


def split(tree: Any) -> Split:
    """Separate the numbers of ``tree`` from the static rest (see :class:`Split`)."""
    leaves, treedef = jax.tree.flatten(tree)
    is_number = [_is_number(leaf) for leaf in leaves]
    values = [jax.numpy.asarray(leaf) for leaf, number in zip(leaves, is_number) if number]
    static = tuple(leaf for leaf, number in zip(leaves, is_number) if not number)
    key = (treedef, tuple(is_number), static, tuple((v.shape, v.dtype, v.weak_type) for v in values))
    try:
        hash(key)
    except TypeError:
        key = None

    def rebuild(new_values: list) -> Any:
        remaining, fixed = iter(new_values), iter(static)
        return jax.tree.unflatten(treedef, [next(remaining) if number else next(fixed) for number in is_number])

    return Split(values, key, rebuild)


def _layout(args: Any) -> Hashable:
    """The structure, shapes, dtypes and shardings of the arrays ``args``."""
    leaves, treedef = jax.tree.flatten(args)
    return treedef, tuple((leaf.shape, leaf.dtype, getattr(leaf, "weak_type", False), getattr(leaf, "sharding", None))
                          for leaf in leaves)


def default_cache_path() -> pathlib.Path:
    """``$XDG_CACHE_HOME/posterior/jax`` (``~/.cache/posterior/jax`` without the variable)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(cache_home) / "posterior" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> pathlib.Path:
    """Keep compiled programs on disk, so that a new process (a restarted notebook kernel,
    the next ``posterior run``) loads them instead of compiling.

    This turns on JAX's persistent compilation cache, which this library never does by
    itself on import: a notebook calls it once, before sampling; ``posterior`` calls it
    for every command. Programs that took JAX less than its threshold
    (``jax_persistent_cache_min_compile_time_secs``, 1 s by default) to compile are not
    stored. A cache directory already chosen (``JAX_COMPILATION_CACHE_DIR``, or an
    earlier call) is kept unless ``path`` is given.

    Args:
        path: the cache directory (default: the one already chosen, else
            :func:`default_cache_path`).

    Returns:
        The directory in use.
    """
    if path is not None or not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", str(path or default_cache_path()))
    return pathlib.Path(jax.config.jax_compilation_cache_dir)


class _Program(NamedTuple):
    """A compiled program (or the compilation under way), the shapes of its results and
    its key in the cache."""

    executable: Any  # jax.stages.Compiled, or a concurrent.futures.Future of one
    results: Any
    key: Hashable | None


@functools.cache
def _compiler() -> concurrent.futures.ThreadPoolExecutor:
    """Where compilations run: XLA compiles without holding Python's lock."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="compile")


def _remember(key: Hashable, value: Any) -> None:
    _compiled[key] = value
    while len(_compiled) > CAPACITY:
        _compiled.popitem(last=False)


def clear() -> None:
    """Forget every compiled program (the next call of each compiles it again)."""
    _compiled.clear()


class Programs:
    """The driver's programs for one call: compiled under ``shard_map`` or taken from the
    process's cache, with the compilations and the time they took counted. The shapes a
    call traces its functions for (:meth:`shapes`) are kept the same way: tracing a step
    costs a repeat call more than running a thousand of them on a small model."""

    def __init__(self, mesh: Mesh, key: Hashable | None):
        """``key``: what, besides the arguments' layout, determines every program of this
        call (None: nothing is cached)."""
        self.mesh = mesh
        self.key = key
        self.compile_seconds = 0.0
        self.compilations = 0
        self._here: dict[str, Any] = {}

    def shapes(self, name: str, function: Callable, args: tuple) -> Any:
        """``function(*args)``, a function that only traces (``jax.eval_shape``), or the
        result a call with the same key and argument layout got; the tracing time counts
        as compile time."""
        key = None if self.key is None else (name, self.key, _layout(args))
        if key is not None and key in _compiled:
            _compiled.move_to_end(key)
            return _compiled[key]
        began = time.perf_counter()
        shapes = function(*args)
        self.compile_seconds += time.perf_counter() - began
        if key is not None:
            _remember(key, shapes)
        return shapes

    def prepare(self, name: str, function: Callable, args: tuple, in_specs, out_specs, *,
                donate_first: bool = True, run_once: bool = False) -> Any:
        """Have the program ``name`` ready for arguments laid out like ``args`` (arrays, or
        ``jax.ShapeDtypeStruct`` with shardings), and return the shapes of its results.

        A program not in the cache is traced and lowered here and compiled in a thread,
        so that the caller can trace the next program, or run the last, meanwhile: a call
        that compiles its start and its chunk of steps waits about as long as the longer
        of the two compilations, not their sum. :meth:`run` waits for the compilation.

        ``run_once``: the program runs once per call (the start of the chains). On CPUs
        it is then compiled without LLVM's optimisations, which compiles it 2-3x faster
        and makes it run a millisecond slower.
        """
        if name in self._here:
            return self._here[name].results
        key = None if self.key is None else (name, self.key, self.mesh, donate_first, run_once, _layout(args))
        program = _compiled.get(key) if key is not None else None
        if program is not None:
            _compiled.move_to_end(key)
        else:
            began = time.perf_counter()
            # Chains never communicate, so per-axis variance tracking (check_vma) buys nothing here.
            mapped = jax.shard_map(function, mesh=self.mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
            lowered = jax.jit(mapped, donate_argnums=(0,) if donate_first else ()).lower(*args)
            options = _QUICK_TO_COMPILE if run_once and on_cpus(self.mesh) else None
            program = _Program(_compiler().submit(lowered.compile, options), lowered.out_info, key)
            self.compile_seconds += time.perf_counter() - began
            self.compilations += 1
        self._here[name] = program
        return program.results

    def run(self, name: str, function: Callable, args: tuple, in_specs, out_specs, *, donate_first: bool = True,
            run_once: bool = False):
        """Call the program ``name`` on ``args``, compiling ``function`` unless a program
        with the same key and argument layout exists or is being compiled (see
        :meth:`prepare`, whose arguments these are)."""
        self.prepare(name, function, args, in_specs, out_specs, donate_first=donate_first, run_once=run_once)
        program = self._here[name]
        if isinstance(program.executable, concurrent.futures.Future):
            began = time.perf_counter()
            program = program._replace(executable=program.executable.result())
            self.compile_seconds += time.perf_counter() - began
            self._here[name] = program
            if program.key is not None:
                _remember(program.key, program)
        return program.executable(*args)
