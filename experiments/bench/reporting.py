"""The parts of a benchmark report that ``posterior bench sgmcmc`` and ``posterior bench hmc`` share.

:func:`environment` and :func:`environment_lines` say when and where the benchmark ran,
:func:`measurement_rows` writes one :class:`~experiments.bench.timing.Measurement` per
markdown row, and :func:`publish` prints the report and writes its numbers as JSON.
"""

import datetime
import platform
from typing import Callable

import jax

from experiments.arguments import available_cores
from experiments.bench import write_json
from experiments.bench.timing import Measurement


def environment() -> dict:
    """Versions, devices and date, for the report's header."""
    import blackjax
    import jaxlib

    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "blackjax": blackjax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "machine": f"{platform.machine()}, {available_cores()} cores available",
    }


def environment_lines(env: dict) -> list[str]:
    """The report's lines on when and where it ran, from :func:`environment`."""
    return [f"- date: {env['date']}",
            f"- jax {env['jax']} (jaxlib {env['jaxlib']}), blackjax {env['blackjax']}, python {env['python']}",
            f"- backend {env['backend']}, devices: {', '.join(env['devices'])} ({env['machine']})"]


def measurement_rows(measurements: list[Measurement], cells: Callable[[Measurement], list[str]]) -> list[str]:
    """Markdown rows ``| contender [note] | chains | devices | cells... | finite |``, then the numbered notes.

    Args:
        measurements: one row each, in order.
        cells: the columns between ``devices`` and ``finite`` of a measurement's row.
    """
    rows, notes = [], []
    for m in measurements:
        marker = ""
        if m.note:
            notes.append(m.note)
            marker = f" [{len(notes)}]"
        rows.append(f"| {m.contender}{marker} | {m.num_chains} | {m.num_devices} | " + " | ".join(cells(m))
                    + f" | {'yes' if m.finite else 'NO: DIVERGED'} |")
    return rows + [f"[{i}] {note}" for i, note in enumerate(notes, 1)]


def publish(sections: list[str], diverged: list[str], output: str | None, numbers: dict) -> None:
    """Print the report: its sections and whether anything diverged (stdout); write the numbers as JSON.

    Args:
        sections: markdown sections, printed in order, separated by blank lines.
        diverged: what ended with a non-finite position (empty: nothing).
        output: where to write ``numbers`` and ``diverged`` as JSON (None: nowhere).
        numbers: every number of the report.
    """
    verdict = ("All final positions finite." if not diverged
               else "DIVERGED (non-finite final positions): " + "; ".join(diverged))
    print("\n\n".join([*sections, verdict]), flush=True)
    if output:
        write_json(output, dict(numbers, diverged=diverged))
