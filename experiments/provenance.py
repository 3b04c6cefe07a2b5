"""Where a run's numbers came from: the package versions, the command line and the code revision.

:func:`provenance` is what ``metrics.json`` records. Nothing here may stop a run: a
package that is not installed is left out, and a checkout whose ``git`` cannot be asked
(no ``git``, a timeout, a broken repository) is reported by this project's version, as
an installed wheel is.
"""

import importlib.metadata
import pathlib
import platform
import subprocess
import sys

__all__ = ["PACKAGES", "checkout_root", "code_revision", "provenance", "versions"]

PROJECT = "posterior"  # this project's distribution name (pyproject.toml)
# The distributions whose versions can change a run's numbers: the libraries it computes
# with, the data loaders (scikit-learn's data sets), the diagnostics (numpyro) and the plots.
PACKAGES = ("jax", "jaxlib", "flax", "optax", "blackjax", "numpyro", "chex", "numpy", "scipy", "scikit-learn",
            "matplotlib", PROJECT)
# JAX's accelerator plugins (jax-cuda12-plugin, jax-rocm7-pjrt, libtpu, ...) choose the
# kernels; they are named by the accelerator's version, so they are found by prefix.
_PLUGIN_PREFIXES = ("jax-cuda", "jax-rocm", "libtpu")
_GIT_SECONDS = 5.0


def _version(distribution: str) -> str | None:
    """The installed version of ``distribution``, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str]:
    """Python's version and that of every installed package of :data:`PACKAGES` and JAX plugin."""
    plugins = sorted({dist.metadata["Name"] for dist in importlib.metadata.distributions()
                      if (dist.metadata["Name"] or "").lower().startswith(_PLUGIN_PREFIXES)})
    found = {name: _version(name) for name in (*PACKAGES, *plugins)}
    return {"python": platform.python_version(), **{name: version for name, version in found.items() if version}}


def checkout_root() -> pathlib.Path | None:
    """The git checkout this code was imported from, or None (an installed wheel).

    Found from this module's own file, not the working directory: the folder above the
    ``experiments`` package, when it holds ``.git`` (a folder, or a file in a worktree).
    Only that folder is looked at, so that a wheel installed in a virtual environment
    inside some other repository does not report that repository's commit.
    """
    root = pathlib.Path(__file__).resolve().parents[1]
    return root if (root / ".git").exists() else None


def _git(root: pathlib.Path, *args: str) -> str:
    """The output of ``git -C root ARGS``, stripped; raises OSError or SubprocessError."""
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True,
                          timeout=_GIT_SECONDS).stdout.strip()


def code_revision() -> dict:
    """The code that ran: ``{"commit", "uncommitted_changes"}`` from a checkout (changes to
    tracked files; untracked ones are not counted), else ``{"version"}``, this project's
    installed version (None if it is not installed either)."""
    root = checkout_root()
    if root is not None:
        try:
            commit = _git(root, "rev-parse", "HEAD")
            changes = _git(root, "status", "--porcelain", "--untracked-files=no")
            return {"commit": commit, "uncommitted_changes": bool(changes)}
        except (OSError, subprocess.SubprocessError):
            pass  # git missing or unable to answer: report what an installed copy would
    return {"version": _version(PROJECT)}


def provenance() -> dict:
    """``{"versions", "command", "revision"}`` for ``metrics.json``: :func:`versions`, the
    command line as ``sys.argv`` (a list) and :func:`code_revision`."""
    return {"versions": versions(), "command": list(getattr(sys, "argv", [])), "revision": code_revision()}
