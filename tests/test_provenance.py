"""What metrics.json records of where its numbers came from: versions, command line, code revision."""

import importlib.metadata
import subprocess

from conftest import REPO
from experiments import provenance


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_a_checkout_is_found_from_the_code_and_named_by_its_commit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    assert provenance.checkout_root() == REPO
    revision = provenance.code_revision()
    assert revision == {"commit": git("rev-parse", "HEAD"),
                        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no"))}


def test_installed_code_is_named_by_its_version(monkeypatch):
    monkeypatch.setattr(provenance, "checkout_root", lambda: None)
    assert provenance.code_revision() == {"version": importlib.metadata.version("posterior")}


def test_a_checkout_without_git_is_named_by_its_version(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no git to ask
    assert provenance.code_revision() == {"version": importlib.metadata.version("posterior")}


def test_versions_name_what_computed_and_plotted(monkeypatch):
    monkeypatch.setattr("sys.argv", ["posterior", "run", "configs/toy1d_fg.yaml", "seed=2"])
    recorded = provenance.provenance()
    assert recorded["command"] == ["posterior", "run", "configs/toy1d_fg.yaml", "seed=2"]
    versions = recorded["versions"]
    for name in ("python", "jax", "jaxlib", "flax", "optax", "blackjax", "numpyro", "chex", "numpy", "scipy",
                 "matplotlib", "posterior"):
        assert versions[name], name
    assert versions["numpyro"] == importlib.metadata.version("numpyro")
