"""Run directories: where a run's files go, whether it finished, and atomic writes.

``results/<experiment>/<dataset>/split-<k>/seed-<s>/`` holds ``config.yaml``,
``metrics.json``, ``predictive.npz``, ``plots/*.png`` and ``log.txt``
(docs/design.md#run-directories). Files are written to a temporary name and renamed
into place, and a run's directory is filled in a staging directory that takes its place
when complete, so an interrupted run never leaves a half-written file and a forced re-run replaces the old results only once the new ones exist.
"""

import contextlib
import json
import os
import pathlib
import shutil
import time
from typing import Iterator

from samplers.atomic import write_atomic

__all__ = ["Log", "finished_metrics", "read_json", "run_directory", "staging", "write_atomic", "write_json",
           "write_text"]

METRICS = "metrics.json"
CONFIG = "config.yaml"
LOG = "log.txt"
PLOTS = "plots"


def run_directory(results: str | os.PathLike, *, experiment: str, dataset: str, split: int, seed: int) -> pathlib.Path:
    """The directory of one run under ``results``."""
    return pathlib.Path(results) / experiment / dataset / f"split-{split}" / f"seed-{seed}"


def read_json(path: pathlib.Path) -> dict | None:
    """The JSON object in ``path``, or None if it is missing or unreadable."""
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return values if isinstance(values, dict) else None


def finished_metrics(directory: pathlib.Path) -> dict | None:
    """The metrics of a run that finished in ``directory``, or None."""
    return read_json(directory / METRICS)


def write_text(path: pathlib.Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    write_atomic(path, lambda temporary: temporary.write_text(text))


def write_json(path: pathlib.Path, values: dict) -> None:
    """Write ``values`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(values, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def staging(directory: pathlib.Path) -> Iterator[pathlib.Path]:
    """A fresh directory to fill; on success it replaces ``directory``, on error it is removed."""
    # What a killed run left (the process that wrote it is gone) goes first.
    for stale in directory.parent.glob(f".{directory.name}.staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staged = directory.with_name(f".{directory.name}.staging-{os.getpid()}")
    staged.mkdir(parents=True)
    try:
        yield staged
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    previous = directory.with_name(f".{directory.name}.previous-{os.getpid()}")
    if directory.exists():
        os.replace(directory, previous)
    os.replace(staged, directory)
    shutil.rmtree(previous, ignore_errors=True)


class Log:
    """Lines with elapsed seconds, printed and kept for ``log.txt``."""

    def __init__(self, echo: bool = True):
        self.began = time.perf_counter()
        self.lines: list[str] = []
        self.echo = echo

    def __call__(self, message: str) -> None:
        line = f"[{time.perf_counter() - self.began:7.1f} s] {message}"
        self.lines.append(line)
        if self.echo:
            print(line, flush=True)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"
