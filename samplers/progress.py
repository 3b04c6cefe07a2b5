"""Progress of a loop that runs in compiled chunks: a bar on a terminal, lines in a log.

The rate and the time left count only the time spent running: the seconds a chunk spent
compiling are left out, so the first chunk of a fresh process does not make the estimate
of the rest wrong by the whole compile time. Where stderr is not a terminal (a log file,
a Slurm job, a notebook's captured output) a bar would write a line per update; there a
line is written each time another tenth of the work is done instead.
"""

import sys
import time
from typing import TextIO

from tqdm.auto import tqdm

__all__ = ["Progress"]

_LINES = 10  # a line each time another tenth is done


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Reports ``done`` of ``total`` units as chunks finish (see the module docstring)."""

    def __init__(self, total: int, *, initial: int = 0, label: str = "sampling", unit: str = "step",
                 show: bool | None = None, stream: TextIO | None = None):
        """``show``: None or True report (a bar on a terminal, lines elsewhere); False is silent."""
        self.total, self.initial, self.done = total, initial, initial
        self.label, self.unit = label, unit
        self.stream = sys.stderr if stream is None else stream
        self.started = time.perf_counter()
        self.parts_reported = initial * _LINES // total if total else _LINES
        self.show = show is not False and total > initial
        interactive = self.show and getattr(self.stream, "isatty", lambda: False)()
        self.lines = self.show and not interactive
        self.bar = tqdm(total=total, initial=initial, unit=unit, desc=label, leave=False, file=self.stream,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} {postfix}") if interactive else None

    def rate_and_left(self, excluded_seconds: float) -> tuple[float, float]:
        """Units per second of running time, and the seconds the rest will take at that rate.

        Raises:
            ValueError: ``excluded_seconds`` is more than has passed since the progress
                started (the caller counted compilation from before it), which would make
                the rate nonsense.
        """
        elapsed = time.perf_counter() - self.started
        if excluded_seconds > elapsed + 1e-3:
            raise ValueError(f"{excluded_seconds:.3f} s excluded from the {elapsed:.3f} s since the progress "
                             f"started: count only compilation after it started")
        running = max(elapsed - excluded_seconds, 1e-9)
        rate = (self.done - self.initial) / running
        return rate, (self.total - self.done) / rate if rate > 0 else float("inf")

    def update(self, done: int, *, excluded_seconds: float = 0.0, note: str = "") -> None:
        """``done`` units are finished; ``excluded_seconds`` of the time so far was compiling."""
        if not self.show:
            return
        step, self.done = done - self.done, done
        rate, left = self.rate_and_left(excluded_seconds)
        summary = f"{rate:,.0f} {self.unit}s/s, {_duration(left)} left" + (f", {note}" if note else "")
        if self.bar is not None:
            self.bar.set_postfix_str(summary, refresh=False)
            self.bar.update(step)
        elif self.lines and done * _LINES // self.total > self.parts_reported:
            self.parts_reported = done * _LINES // self.total
            print(f"{self.label}: {done:,}/{self.total:,} {self.unit}s ({done / self.total:.0%}), {summary}",
                  file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
