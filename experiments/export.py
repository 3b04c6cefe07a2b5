"""Export a run's saved draws for other tools: ``posterior export RUN_DIR --arviz OUT.nc``.

Reads ``RUN_DIR/samples/draws.npz`` (written by ``posterior run ... sampling.save_samples=true``,
:func:`posterior.load_draws`) and writes an ArviZ ``InferenceData`` netCDF file:

- ``posterior``: every parameter leaf flattened to ``(chain, draw, <name>_dim)`` (C
  order; the leaf's own shape is the variable's ``shape`` attribute), named by its key
  path in the parameter tree joined with ``.`` (``network.hidden_0.kernel``); a leaf with
  one value per draw stays ``(chain, draw)``. Regression runs add ``test_prediction``
  ``(chain, draw, test_point)``: each draw's predictive mean at each test point in
  original target units, the ``means`` of the run's ``predictive.npz``
  (:mod:`experiments.reference`); chains the run dropped after they diverged are NaN
  there. Classification runs keep only the averaged probabilities there, so they have none.
- ``sample_stats``: ``weights`` (each draw's weight in expectations) and every entry of
  the sampler's info (``logdensity``, ``step_size``, ...), ``(chain, draw)``.

Both groups' attributes hold the run's config and metrics as JSON text. The file is
written under a temporary name and renamed into place. ArviZ is an optional extra
(``pip install 'posterior[arviz]'``); without it the command says so and exits 2.
"""

import argparse
import json
import pathlib
import sys
import warnings
from typing import Any

import numpy as np

from experiments import reference, rundir
from experiments.evaluate import RECORDED_DRAWS
from posterior.draws import Draws, load_draws
from samplers import checkpoint

__all__ = ["INSTALL_HINT", "inference_data", "run", "test_predictions"]

INSTALL_HINT = "pip install 'posterior[arviz]'"
PREDICTION = "test_prediction"


def _import_arviz():
    """The ``arviz`` module, or None when it (or h5netcdf, which writes its files) is not installed."""
    try:
        with warnings.catch_warnings():  # 0.23 announces its coming refactor on import
            warnings.simplefilter("ignore", FutureWarning)
            import arviz
        import h5netcdf  # noqa: F401
    except ImportError:
        return None
    return arviz


def _named_leaves(tree: Any, keys: tuple = ()) -> list[tuple[str, np.ndarray]]:
    """``(key path joined with '.', leaf)`` of every leaf of nested dicts, in key order."""
    if not isinstance(tree, dict):
        return [(".".join(str(key) for key in keys), tree)]
    return [named for key in sorted(tree, key=str) for named in _named_leaves(tree[key], (*keys, key))]


def _per_draw(variables: dict, dims: dict, name: str, leaf: np.ndarray) -> None:
    """Add ``leaf`` (chain, draw, ...) as ``name``, flattened to (chain, draw[, name_dim])."""
    leaf = np.asarray(leaf)
    if leaf.ndim == 2:
        variables[name] = leaf
        return
    variables[name] = leaf.reshape(*leaf.shape[:2], -1)
    dims[name] = [f"{name}_dim"]


def test_predictions(run_dir: pathlib.Path, draws: Draws) -> tuple[np.ndarray | None, str | None]:
    """The run's per-draw test predictions ``(chain, draw, test_point)`` from its
    ``predictive.npz``, or None and why they are left out (None: no predictive file)."""
    path = run_dir / reference.FILE
    if not path.is_file():
        return None, None
    try:
        arrays = checkpoint.read_archive(path)
    except checkpoint.UnreadableArchive as error:
        raise ValueError(f"{path} is unreadable ({' '.join(str(error).splitlines())})") from None
    means = arrays.get("means")
    if means is None:
        return None, f"{path} holds no per-draw predictions (a classification run's holds only their average)"
    dropped = draws.metadata.get("metrics", {}).get("dropped_chains", [])
    kept = [chain for chain in range(draws.num_chains) if chain not in dropped]
    if means.ndim != 2 or means.shape[0] != len(kept) * draws.num_draws:
        return None, (f"{path} holds {means.shape[0] if means.ndim else 0} per-draw predictions, not one per draw "
                      f"of the {len(kept)} chains x {draws.num_draws} draws predicted with (a run records those of "
                      f"{RECORDED_DRAWS} draws per chain at most)")
    predictions = np.full((draws.num_chains, draws.num_draws, means.shape[1]), np.nan, means.dtype)
    predictions[kept] = means.reshape(len(kept), draws.num_draws, -1)  # chain-major (reference.of_run)
    return predictions, None


def inference_data(arviz, draws: Draws, predictions: np.ndarray | None = None, *, source: str = ""):
    """``draws`` (and ``predictions`` ``(chain, draw, test_point)``) as an ArviZ ``InferenceData``."""
    posterior, sample_stats, dims, shapes = {}, {}, {}, {}
    for name, leaf in _named_leaves(draws.samples):
        _per_draw(posterior, dims, name, leaf)
        shapes[name] = list(leaf.shape[2:])
    if predictions is not None:
        posterior[PREDICTION] = predictions
        dims[PREDICTION] = ["test_point"]
    _per_draw(sample_stats, dims, "weights", draws.weights)
    for name, leaf in _named_leaves(draws.info):
        _per_draw(sample_stats, dims, name, leaf)
    attrs = {"inference_library": "posterior", "source": source,
             **{name: json.dumps(draws.metadata[name], sort_keys=True)
                for name in ("config", "metrics") if name in draws.metadata}}
    data = arviz.from_dict(posterior=posterior, sample_stats=sample_stats, dims=dims,
                           posterior_attrs=attrs, sample_stats_attrs=dict(attrs))
    for name, shape in shapes.items():
        if shape:
            data.posterior[name].attrs["shape"] = shape
    if predictions is not None:
        data.posterior[PREDICTION].attrs["description"] = (
            "each draw's predictive mean at each test point, in original target units (predictive.npz means)")
    return data


def run(args: argparse.Namespace) -> int:
    """``posterior export``: exit status 0, or 2 (arviz missing, no or unreadable draws)."""
    arviz = _import_arviz()
    if arviz is None:
        print(f"posterior: error: posterior export --arviz needs ArviZ and h5netcdf: {INSTALL_HINT}", file=sys.stderr)
        return 2
    out = pathlib.Path(args.arviz)
    if out.is_dir():
        raise ValueError(f"--arviz {out} is a directory, not a file name")
    try:
        draws = load_draws(args.run_dir)
    except FileNotFoundError as error:  # the CLI reports ValueErrors in one line, exit status 2
        raise ValueError(str(error)) from None
    predictions, note = test_predictions(pathlib.Path(args.run_dir), draws)
    if note:
        print(f"{PREDICTION} left out: {note}")
    data = inference_data(arviz, draws, predictions, source=str(args.run_dir))
    rundir.write_atomic(out, lambda temporary: data.to_netcdf(str(temporary)))
    print(f"wrote {out}: {len(data.posterior.data_vars)} posterior variables, "
          f"{draws.num_chains} chains x {draws.num_draws} draws")
    return 0
