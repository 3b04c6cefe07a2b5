"""Ctrl-C and ``kill``: a run stops in one line that says what is kept and how to go on.

SIGINT arrives as Python's ``KeyboardInterrupt``; :func:`raise_on_termination` makes SIGTERM
arrive as :class:`Terminated`, so both unwind through the ``finally`` blocks that remove
staging directories and locks. :class:`RunInterrupted` carries the one line and the exit
status the shell convention gives a process ended by a signal (128 + its number).
"""

import shlex
import signal
import sys

__all__ = ["RunInterrupted", "Terminated", "exit_status", "raise_on_termination", "resume_command", "signal_of",
           "silence_teardown"]


class Terminated(BaseException):
    """SIGTERM arrived (a ``BaseException``, like ``KeyboardInterrupt``: nothing catches it by accident)."""


class RunInterrupted(Exception):
    """A run stopped by a signal: ``str()`` is the one line to print, ``exit_status`` 130 or 143."""

    def __init__(self, message: str, exit_status: int):
        super().__init__(message)
        self.exit_status = exit_status


def _terminate(signal_number, frame):
    raise Terminated()


def raise_on_termination() -> None:
    """From now on, SIGTERM raises :class:`Terminated` in the main thread."""
    signal.signal(signal.SIGTERM, _terminate)


def silence_teardown() -> None:
    """From now on, leave errors in destructors unreported. A signal can catch an object
    half-built (a zip archive being opened for a checkpoint), whose destructor then fails
    as the interrupted frames are freed; its traceback would bury the one line that says
    what is kept. Called once a run has been interrupted, just before the process ends."""
    sys.unraisablehook = lambda unraisable: None


def signal_of(interruption: BaseException) -> signal.Signals:
    """The signal a ``KeyboardInterrupt`` or :class:`Terminated` stands for."""
    return signal.SIGTERM if isinstance(interruption, Terminated) else signal.SIGINT


def exit_status(interruption: BaseException) -> int:
    """128 + the signal's number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal_of(interruption)


def resume_command(argv: list[str] | None = None) -> str:
    """The command line that goes on from the checkpoint: this one, less ``--restart``
    (which would discard the checkpoint)."""
    arguments = [argument for argument in (sys.argv[1:] if argv is None else argv) if argument != "--restart"]
    return shlex.join(["posterior", *arguments])
