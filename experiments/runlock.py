"""One live process per run directory: a lock file beside it holding the holder's PID.

``results/<experiment>/<dataset>/split-<k>/.seed-<s>.lock`` is created exclusively when a
run starts and removed when it ends, however it ends. A second process that finds it
refuses in one line while the holder lives; a lock whose holder is gone (killed, the
machine rebooted) is taken over. Creating it is also the first write into the results
location, so a location that cannot be written is refused before any data is read or
program compiled.
"""

import contextlib
import os
import pathlib
import socket
from typing import Iterator

__all__ = ["ResultsNotWritable", "RunLocked", "holding"]


class RunLocked(ValueError):
    """Another live process holds the run directory."""


class ResultsNotWritable(ValueError):
    """The results location cannot be written; the message names the path and the cause."""


def lock_path(directory: pathlib.Path) -> pathlib.Path:
    """The lock file of the run directory ``directory``."""
    return directory.with_name(f".{directory.name}.lock")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _holder(path: pathlib.Path) -> tuple[str, int] | None:
    """The host and PID a lock file names, or None when it is gone or names none."""
    try:
        host, _, pid = path.read_text().strip().rpartition(" ")
        return host, int(pid)
    except (OSError, ValueError):
        return None


def _create(path: pathlib.Path) -> bool:
    """Create the lock file naming this process; False when it exists already.

    The file is written under a private name and hard-linked into place, so that no
    process ever reads a lock without its holder (a link fails if the name exists)."""
    written = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        written.write_text(f"{socket.gethostname()} {os.getpid()}\n")
        os.link(written, path)
    except FileExistsError:
        return False
    finally:
        written.unlink(missing_ok=True)
    return True


def _missing_parents(directory: pathlib.Path) -> list[pathlib.Path]:
    """The folders above ``directory`` that do not exist yet, innermost first."""
    missing = []
    for parent in directory.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing


@contextlib.contextmanager
def holding(directory: pathlib.Path) -> Iterator[None]:
    """Hold the lock of the run directory ``directory`` for the ``with`` block.

    Folders this creates to hold the lock are removed again on the way out when they are
    still empty, so a run refused later for bad input leaves nothing behind.

    Raises:
        RunLocked: a live process (on this host) holds it; the message gives its PID.
        ResultsNotWritable: the lock cannot be written where the run directory goes.
    """
    path = lock_path(directory)
    created = _missing_parents(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        while not _create(path):
            holder = _holder(path)
            if holder is not None and (holder[0] != socket.gethostname() or _alive(holder[1])):
                host, pid = holder
                where = "" if host == socket.gethostname() else f" on {host}"
                raise RunLocked(f"{directory} is being run by another process (PID {pid}{where}, lock {path}); "
                                f"wait for it to end, or remove the lock if that process is gone")
            path.unlink(missing_ok=True)  # its holder is gone: take it over
    except OSError as error:
        _remove_empty(created)
        raise ResultsNotWritable(f"cannot write the results location {error.filename or path}: "
                                 f"{error.strerror or error}") from None
    except RunLocked:
        _remove_empty(created)
        raise
    try:
        yield
    finally:
        if _holder(path) == (socket.gethostname(), os.getpid()):
            path.unlink(missing_ok=True)
        _remove_empty(created)


def _remove_empty(folders: list[pathlib.Path]) -> None:
    for folder in folders:
        with contextlib.suppress(OSError):  # not empty: a run's files are in it
            folder.rmdir()
