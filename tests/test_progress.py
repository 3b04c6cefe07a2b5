"""Progress reports: lines every tenth in a log, rates and time left without compilation."""

import io
import time

import jax
import jax.numpy as jnp
import pytest

import samplers
from samplers.progress import Progress


def test_a_log_gets_a_line_each_time_another_tenth_is_done():
    log = io.StringIO()
    progress = Progress(100, stream=log, label="sampling")
    for done in (14, 28, 42, 56, 70, 84, 98, 100):
        progress.update(done)
    lines = log.getvalue().splitlines()
    assert [line.split(" ")[1] for line in lines] == ["14/100", "28/100", "42/100", "56/100", "70/100", "84/100",
                                                      "98/100", "100/100"]
    assert all("steps/s" in line and "left" in line for line in lines)


def test_rates_leave_out_the_seconds_spent_compiling():
    log = io.StringIO()
    progress = Progress(1000, stream=log)
    time.sleep(0.2)
    progress.update(500, excluded_seconds=0.19)  # all but about 0.01 s of it was compiling
    rate, left = progress.rate_and_left(0.19)
    with pytest.raises(ValueError, match="excluded"):
        progress.rate_and_left(1.0)  # compilation from before the progress started
    assert rate > 500 / 0.1  # counted over the running time only, not the 0.2 s
    assert left < 0.1


def test_silent_when_told_and_after_a_resume_counts_only_new_work():
    log = io.StringIO()
    quiet = Progress(100, stream=log, show=False)
    quiet.update(100)
    assert log.getvalue() == ""
    resumed = Progress(100, initial=50, stream=log)
    resumed.update(55)
    resumed.update(61)
    assert log.getvalue().splitlines()[0].startswith("sampling: 61/100")


def test_the_driver_reports_to_a_log(capsys):
    samplers.sample(samplers.sgld(lambda x, batch: -0.5 * jnp.sum(x**2), 0.1), jax.random.key(0), jnp.zeros(2),
                    num_steps=1000, chunk_size=100)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[-1].startswith("sampling: 1,000/1,000 steps (100%)")
    # The start's compilation (before the bar) is not taken off the bar's clock.
    rates = [float(line.split(", ")[1].split()[0].replace(",", "")) for line in lines]
    assert max(rates) < 1e8, lines
