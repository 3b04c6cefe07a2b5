"""Shared test settings.

Tests run on the single default CPU device; anything that needs several devices starts a
subprocess with its own device count (JAX fixes the device count at its first use).
"""

import os
import pathlib

# On a GPU, JAX takes most of its memory up front by default, so the subprocesses some
# tests start would run out of it; inherited by them because it is set before JAX starts.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def uci_root() -> pathlib.Path:
    """The UCI data folder beside the checkout, or POSTERIOR_UCI_ROOT; skips if absent."""
    root = pathlib.Path(os.environ.get("POSTERIOR_UCI_ROOT", REPO.parent / "shared" / "data" / "uci"))
    if not root.is_dir():
        pytest.skip(f"UCI data not found at {root}")
    return root
