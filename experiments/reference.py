"""A run's test predictive as a file, ``predictive.npz``, and a reference read back from one.

Every finished run writes its test predictive to ``predictive.npz`` in its run directory,
in a form from which agreement and total variation against it are computed exactly
(``posterior.metrics``): for classification the predictive probabilities ``probs``
``(n_test, classes)``; for regression the mixture of the recorded draws' Gaussians
(``experiments.evaluate.RECORDED_DRAWS`` per chain at most) at each test point, in
original target units: ``means`` ``(S, n_test)``, ``stds`` ``(S,)`` or ``(S,
n_test)`` and ``weights`` ``(S,)`` (normalised, every chain counting equally as in the
run's predictive, ``posterior.predictive.chain_balanced``). Beside them, what the
predictive is of: ``task``, ``dataset``, ``split``, ``num_test``, ``test_hash`` (of the
test inputs and targets) and ``format``. Nothing is pickled: strings are NumPy unicode
arrays, read with ``allow_pickle=False``.

A run whose config sets ``eval.reference`` (a run directory or its ``predictive.npz``)
loads it before it samples, refusing one of another data set, split, test set or task
in one line naming the file, and reports ``reference_agreement`` and ``reference_tv``.
"""

import os
import pathlib
from typing import Any

import numpy as np

from posterior import metrics, predictive
from posterior.data import Dataset
from samplers import checkpoint
from samplers.checkpoint import data_fingerprint

__all__ = ["FILE", "ReferenceFileError", "compare", "load", "locate", "of_run", "write"]

FILE = "predictive.npz"
FORMAT = 1
_IDENTITY = ("format", "task", "dataset", "split", "num_test", "test_hash")
_ARRAYS = {"classification": ("probs",), "regression": ("means", "stds", "weights")}


class ReferenceFileError(ValueError):
    """A reference predictive that cannot be compared with; the message names the file and why."""


def _identity(dataset: Dataset, split: int) -> dict[str, np.ndarray]:
    """What a predictive is of: the fields a reference must share with the run."""
    return {"format": np.array(FORMAT), "task": np.array(dataset.task), "dataset": np.array(dataset.name),
            "split": np.array(split), "num_test": np.array(len(dataset.y_test)),
            "test_hash": np.array(data_fingerprint((dataset.x_test, dataset.y_test)))}


def of_run(dataset: Dataset, *, split: int, summary: dict[str, Any], test_predictions: np.ndarray,
           noise_stds: np.ndarray | None, weights: np.ndarray) -> dict[str, np.ndarray]:
    """The run's test predictive in the form :func:`write` stores.

    Args:
        dataset: the run's data.
        split: its split.
        summary: ``posterior.predictive.summarise`` of the kept chains (classification
            reads ``probs``).
        test_predictions: ``(chain, draw, n_test)`` per-draw predictive means in
            standardised units (regression), of the draws recorded
            (``experiments.evaluate.RECORDED_DRAWS`` per chain at most, evenly spaced).
        noise_stds: ``(chain, draw)`` or ``(chain, draw, n_test)`` those draws' noise
            standard deviations in standardised units (regression).
        weights: ``(chain, draw)`` those draws' weights.
    """
    fields = _identity(dataset, split)
    if dataset.task == "classification":
        return {**fields, "probs": np.asarray(summary["probs"], np.float64)}
    num_draws = test_predictions.shape[0] * test_predictions.shape[1]
    noise_stds = np.asarray(noise_stds, np.float64)
    balanced = predictive.chain_balanced(np.asarray(weights, np.float64)).reshape(num_draws)
    return {**fields,
            "means": np.asarray(test_predictions, np.float64).reshape(num_draws, -1) * dataset.y_std + dataset.y_mean,
            "stds": noise_stds.reshape(num_draws, *noise_stds.shape[2:]) * dataset.y_std,
            "weights": balanced / balanced.sum()}


def write(path: pathlib.Path, values: dict[str, np.ndarray]) -> None:
    """Write a predictive (:func:`of_run`) to ``path`` atomically."""
    checkpoint.write_archive(path, values)


def locate(path: str | os.PathLike, *, split: int, seed: int) -> pathlib.Path:
    """The predictive file ``path`` names: ``path`` itself, or ``predictive.npz`` in it
    when it is a directory (a run directory). ``{split}`` and ``{seed}`` in ``path`` are
    replaced by the run's, so that one sweep over splits compares each split with its
    own reference."""
    path = pathlib.Path(str(path).replace("{split}", str(split)).replace("{seed}", str(seed)))
    return path / FILE if path.is_dir() else path


def _read(path: pathlib.Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``path``, refusing what cannot be read."""
    if not path.exists():
        if path.name == FILE and path.parent.is_dir():
            raise ReferenceFileError(f"eval.reference: {path.parent} holds no {FILE} "
                                     f"(not the directory of a finished run)")
        raise ReferenceFileError(f"eval.reference: {path} does not exist")
    try:
        return checkpoint.read_archive(path)
    except checkpoint.UnreadableArchive as error:
        raise ReferenceFileError(f"eval.reference: {path} is unreadable ({error})") from None


def _scalar(arrays: dict[str, np.ndarray], name: str, path: pathlib.Path) -> Any:
    """The 0-d array ``name`` as a Python value."""
    value = arrays.get(name)
    if value is None or value.shape != () or value.dtype.kind not in "iuU":
        raise ReferenceFileError(f"eval.reference: {path} is not a run's {FILE} (no scalar '{name}')")
    return value.item()


def _check_arrays(arrays: dict[str, np.ndarray], task: str, num_test: int, num_classes: int,
                  path: pathlib.Path) -> None:
    """Refuse predictive arrays of the wrong shapes or values for this run's test set."""
    def bad(what: str):
        return ReferenceFileError(f"eval.reference: {path} holds a malformed predictive ({what})")

    for name in _ARRAYS[task]:
        value = arrays.get(name)
        if value is None or value.dtype.kind != "f" or not np.all(np.isfinite(value)):
            raise bad(f"'{name}' is missing or not finite numbers")
    if task == "classification":
        probs = arrays["probs"]
        if probs.shape != (num_test, num_classes) or np.any(probs < 0):
            raise bad(f"probs of shape {probs.shape}, this run needs ({num_test}, {num_classes}) of numbers >= 0")
        return
    means, stds, weights = arrays["means"], arrays["stds"], arrays["weights"]
    if means.ndim != 2 or means.shape[1] != num_test or means.shape[0] < 1:
        raise bad(f"means of shape {means.shape}, this run needs (draws, {num_test})")
    if stds.shape not in (means.shape[:1], means.shape) or np.any(stds <= 0):
        raise bad(f"stds of shape {stds.shape}, needs {means.shape[:1]} or {means.shape} of numbers > 0")
    if weights.shape != means.shape[:1] or np.any(weights < 0) or not weights.sum() > 0:
        raise bad(f"weights of shape {weights.shape}, needs {means.shape[:1]} of numbers >= 0, not all 0")


def load(path: pathlib.Path, dataset: Dataset, *, split: int) -> dict[str, np.ndarray]:
    """The reference predictive in the file ``path`` (:func:`locate` finds it from
    ``eval.reference``), checked against this run's data and ``split``.

    Raises:
        ReferenceFileError: a missing file, one that is not an ``.npz`` archive or not a
            predictive, or a predictive of another data set, split, test set or task;
            one line naming the file and the cause.
    """
    arrays = _read(path)
    saved = {name: _scalar(arrays, name, path) for name in _IDENTITY}
    ours = {name: value.item() for name, value in _identity(dataset, split).items()}
    if saved["format"] != FORMAT:
        raise ReferenceFileError(f"eval.reference: {path} is of format {saved['format']}, this version reads "
                                 f"format {FORMAT}")
    for name, what in (("dataset", "data set"), ("split", "split"), ("task", "task")):
        if saved[name] != ours[name]:
            raise ReferenceFileError(f"eval.reference: {path} is the predictive of {what} {saved[name]!r}, "
                                     f"this run's {what} is {ours[name]!r}")
    if saved["num_test"] != ours["num_test"] or saved["test_hash"] != ours["test_hash"]:
        raise ReferenceFileError(f"eval.reference: {path} is the predictive of another test set "
                                 f"({saved['num_test']} points, hash {saved['test_hash']}; this run's: "
                                 f"{ours['num_test']} points, hash {ours['test_hash']})")
    _check_arrays(arrays, saved["task"], saved["num_test"], dataset.num_classes, path)
    return arrays


def _mixture(values: dict[str, np.ndarray]) -> metrics.GaussianMixture:
    return metrics.GaussianMixture(values["means"], values["stds"], values["weights"])


def compare(values: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict[str, float]:
    """``reference_agreement`` and ``reference_tv`` of a run's predictive (:func:`of_run`)
    against a reference (:func:`load`), by ``posterior.metrics``: top-1 agreement and total
    variation of the class probabilities, or for regression the fraction of test points
    whose predictive mean lies between the reference's quartiles (our definition) and the
    total variation between the two Gaussian mixtures."""
    if values["task"].item() == "classification":
        return metrics.classification_reference_metrics(values["probs"], reference["probs"])
    return metrics.regression_reference_metrics(_mixture(values), _mixture(reference))
