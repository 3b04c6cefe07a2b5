"""Shared test settings.

Tests run on the single default CPU device; anything that needs several devices starts a
subprocess with its own device count (JAX fixes the device count at its first use).
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import yaml

# On a GPU, JAX takes most of its memory up front by default, so the subprocesses some
# tests start would run out of it; inherited by them because it is set before JAX starts.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from experiments import plots

REPO = pathlib.Path(__file__).resolve().parents[1]

# Compiling dominates the suite's time (a fresh checkout has no compiled programs), and
# many tests compile the same programs, in this process and in the `posterior`
# subprocesses: all of them share one persistent cache in pytest's folder, never the
# user's (the CLI keeps a directory set before it starts).
jax.config.update("jax_compilation_cache_dir", str(REPO / ".pytest_cache" / "jax"))


@pytest.fixture(scope="session")
def uci_root() -> pathlib.Path:
    """The UCI data folder beside the checkout, or POSTERIOR_UCI_ROOT; skips if absent."""
    root = pathlib.Path(os.environ.get("POSTERIOR_UCI_ROOT", REPO.parent / "shared" / "data" / "uci"))
    if not root.is_dir():
        pytest.skip(f"UCI data not found at {root}")
    return root


def write_lines(path: pathlib.Path, values) -> None:
    """One value per line, as the UCI index files hold them."""
    path.write_text("".join(f"{value}\n" for value in values))


def write_uci_folder(root: pathlib.Path, name: str, table: np.ndarray, *, features: list[int], target: int,
                     splits: list[tuple[np.ndarray, np.ndarray]]) -> pathlib.Path:
    """Write ``table`` as the UCI data set ``name`` in the standard layout; returns its folder.

    ``splits`` holds ``(train_rows, test_rows)`` per split.
    """
    folder = root / name
    folder.mkdir(parents=True)
    np.savetxt(folder / "data.txt", table)
    write_lines(folder / "index_features.txt", features)
    write_lines(folder / "index_target.txt", [target])
    write_lines(folder / "n_splits.txt", [len(splits)])
    for k, (train_rows, test_rows) in enumerate(splits):
        write_lines(folder / f"index_train_{k}.txt", train_rows)
        write_lines(folder / f"index_test_{k}.txt", test_rows)
    return folder


def posterior_command() -> list[str]:
    """The installed ``posterior`` console script, or the module when it is not installed."""
    script = pathlib.Path(sys.executable).parent / "posterior"
    return [str(script)] if script.exists() else [sys.executable, "-m", "experiments.cli"]


def run_posterior(*args: str, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``posterior ARGS`` on the CPU (as CI does) from the repository root, capturing its output.

    ``env`` adds to (or overrides) this process's environment variables.
    """
    # Compiled programs go to pytest's cache folder, not the user's cache.
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": str(REPO / ".pytest_cache" / "jax"), **(env or {})}
    return subprocess.run([*posterior_command(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env)


# A 2-chain SGHMC run of a tiny network on the generated yacht of ``uci_env``.
TINY = {
    "name": "tiny",
    "data": {"name": "yacht", "root": "/nonexistent/uci", "split": 0},  # POSTERIOR_DATA points at the fake
    "model": {"width": 8, "depth": 1},
    "sampler": {"name": "sghmc", "step_size": 0.01, "friction": 0.1},
    "sampling": {"num_chains": 2, "num_steps": 300, "burn_in": 100, "thin": 20, "batch_size": 16},
}


@pytest.fixture
def uci_env(tmp_path) -> dict:
    """A generated 'yacht' with 60 rows and 2 splits; the environment pointing at it."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(60, 3))
    table = np.column_stack([inputs, 10.0 + 3.0 * inputs[:, 0] - inputs[:, 1] + 0.3 * rng.normal(size=60)])
    splits = [(order[6:], order[:6]) for order in (rng.permutation(60) for _ in range(2))]
    write_uci_folder(tmp_path / "uci", "yacht", table, features=[0, 1, 2], target=3, splits=splits)
    return {"POSTERIOR_DATA": str(tmp_path / "uci")}


@pytest.fixture
def tiny_config(tmp_path) -> pathlib.Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


@pytest.fixture
def saved_figures(monkeypatch) -> list:
    """The figures :mod:`experiments.plots` saves during a test, in order, for a test to read
    their artists (each is still written to its path, and drawn on an Agg canvas again so
    that its artists' sizes can be asked for)."""
    figures = []
    save = plots._save

    def keep(figure, path):
        save(figure, path)  # closing it detached its canvas
        FigureCanvasAgg(figure).draw()
        figures.append(figure)

    monkeypatch.setattr(plots, "_save", keep)
    return figures


PROGRESS_LABELS = ("sampling: ", "prior fit: ")


def without_progress(stderr: str) -> str:
    """``stderr`` less the progress lines a run writes where stderr is not a terminal."""
    return "".join(line for line in stderr.splitlines(keepends=True) if not line.startswith(PROGRESS_LABELS))
