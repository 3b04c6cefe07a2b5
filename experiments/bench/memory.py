"""Peak memory of posterior run against the number of draws, which it does not keep.

``posterior run CONFIG`` (``configs/quickstart.yaml`` by default) runs in a subprocess
at each number of draws per chain (200, 2,000 and 20,000 by default), its steps after
burn-in thinned to give them: ``sampling.thin`` is the config's steps after burn-in over
the draws (at least 1) and ``sampling.num_steps`` the burn-in plus draws x thin, so that
for the quickstart's 20,000 steps every run takes the same steps. Every run has
``checkpoint.every=null`` and ``sampling.save_samples=false``, and writes its results to
a temporary folder. The peak is the subprocess's largest resident set
(``ru_maxrss``, from ``os.wait4``), the ratio is to the first run's, and each row shows
the run's test metrics, which should agree within Monte Carlo error: the draws differ,
the posterior does not.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from experiments import config as configs
from experiments.bench import log, write_json

METRICS = ("test_rmse", "test_ll", "test_accuracy", "test_nll", "rhat_max", "ess_min", "wall_seconds")


def _sampling(config_path: str, draws: int) -> dict[str, int]:
    """The ``sampling`` overrides that give ``draws`` per chain from the config's steps."""
    sampling = configs.load(config_path).sampling
    burn_in, num_steps = sampling.burn_in, sampling.num_steps
    thin = max(1, (num_steps - burn_in) // draws)
    return {"num_steps": burn_in + draws * thin, "burn_in": burn_in, "thin": thin}


def measure(config_path: str, draws: int) -> dict:
    """One ``posterior run`` at ``draws`` per chain: its peak resident memory (MB), its
    sampling settings and the test metrics of its ``metrics.json``."""
    sampling = _sampling(config_path, draws)
    with tempfile.TemporaryDirectory(prefix="posterior-bench-memory-") as results:
        command = [sys.executable, "-m", "experiments.cli", "run", config_path, "--results", results,
                   "checkpoint.every=null", "sampling.save_samples=false",
                   *(f"sampling.{name}={value}" for name, value in sampling.items())]
        with tempfile.TemporaryFile("w+") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
            _, status, usage = os.wait4(process.pid, 0)  # the usage of this child alone
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
            if process.returncode:
                stderr.seek(0)
                raise RuntimeError(f"`{' '.join(command)}` exited {process.returncode}: {stderr.read()[-2000:]}")
        metrics = json.loads(next(pathlib.Path(results).rglob("metrics.json")).read_text())
    peak_mb = usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20  # KB on Linux
    return {"draws_per_chain": draws, **sampling, "peak_mb": peak_mb,
            **{name: metrics[name] for name in METRICS if name in metrics}}


def table(rows: list[dict]) -> list[str]:
    """The markdown table: settings, peak memory and its ratio to the first row, metrics."""
    shown = [name for name in METRICS if name in rows[0]]
    lines = ["| draws per chain | num_steps | thin | peak RSS (MB) | ratio | " + " | ".join(shown) + " |",
             "|" + "---:|" * (5 + len(shown))]
    for row in rows:
        lines.append(f"| {row['draws_per_chain']:,} | {row['num_steps']:,} | {row['thin']} | {row['peak_mb']:,.0f} | "
                     f"{row['peak_mb'] / rows[0]['peak_mb']:.2f} | "
                     + " | ".join(f"{row[name]:.4g}" if name in row else "" for name in shown) + " |")
    return lines


def run(args: argparse.Namespace) -> int:
    """``posterior bench memory``: a run per number of draws, the table (stdout) and optional JSON."""
    rows = []
    for draws in args.draws:
        log(f"posterior run {args.config} at {draws:,} draws per chain")
        rows.append(measure(args.config, draws))
    lines = ["# posterior bench memory", "",
             f"`posterior run {args.config}` with checkpoint.every=null, sampling.save_samples=false; peak resident "
             f"memory of each run's process, ratio to the first.", "", *table(rows)]
    print("\n".join(lines), flush=True)
    if args.output:
        write_json(args.output, {"config": args.config, "rows": rows})
    return 0
