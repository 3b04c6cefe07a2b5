"""Files written whole or not at all, importable without JAX (``posterior table`` and the
run directory's small files need no more)."""

import os
import pathlib
from typing import Any, Callable

__all__ = ["write_atomic"]


def write_atomic(path: pathlib.Path, write: Callable[[pathlib.Path], Any]) -> None:
    """Call ``write(temporary_path)``, flush the file to disk, then rename it to ``path``.

    The rename is atomic, so ``path`` is always either the old file or the whole new one,
    whenever the process is killed; the flush makes that hold across a power cut too.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    if hasattr(os, "O_DIRECTORY"):  # the rename itself, where directories can be synced
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
