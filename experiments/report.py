"""A finished run's files: plots, the summary line, and the run directory's contents.

:func:`write_run` fills a (staging) directory from an :class:`~experiments.experiment.Outcome`
and draws nothing it has to recompute: every figure reads the outcome's
:class:`~experiments.evaluate.Evaluation`. Which files a run directory holds is stated in
:mod:`experiments.rundir` and docs/design.md#run-directories.
"""

import pathlib
import shutil
from typing import Callable

import numpy as np
import yaml

import samplers
from experiments import config as configs
from experiments import plots, reference, rundir
from experiments.config.identity import identity_hash, run_identity
from experiments.experiment import Outcome
from posterior.draws import DRAWS

__all__ = ["CHECKPOINT", "PRIOR", "SAMPLES", "SUMMARY_KEYS", "format_summary", "write_plots", "write_run"]

PRIOR = "prior.json"
CHECKPOINT = "checkpoint"
SAMPLES = DRAWS  # where sampling.save_samples puts the draws (posterior.load_draws reads them)
SUMMARY_KEYS = ("status", "test_rmse", "test_ll", "test_accuracy", "test_nll", "test_ece", "test_brier",
                "test_ood_auroc", "test_ood_aupr", "reference_agreement", "reference_tv", "rhat_max", "ess_min",
                "wall_seconds")


def write_plots(directory: pathlib.Path, outcome: Outcome, title: str, *, config: configs.Config) -> None:
    """The run's figures, each written atomically (``config``: the run's, which says how its
    draws were kept and its prior fitted)."""
    folder = directory / rundir.PLOTS
    dataset, evaluation = outcome.dataset, outcome.evaluation
    run = config.sampling
    if outcome.logdensity is not None:
        rundir.write_atomic(folder / "trace.png", lambda path: plots.logdensity_trace(
            path, outcome.logdensity, burn_in=run.burn_in, thin=run.thin, title=title,
            full_batch=run.batch_size is None))
    fit = outcome.prior.fit
    if fit is not None:
        rundir.write_atomic(folder / "prior_fit_trace.png", lambda path: plots.wasserstein_trace(
            path, np.asarray(fit["trace"]), judged=fit["report"], warm_critic=config.prior.fit.warm_critic,
            title=title))
    if outcome.prior.function_draws is not None:
        rundir.write_atomic(folder / "prior_functions.png",
                            lambda path: plots.prior_functions(path, **outcome.prior.function_draws, title=title))
    if evaluation is None:
        return
    if evaluation.rhat is not None:
        num_draws = evaluation.test_predictions.shape[0] * evaluation.test_predictions.shape[1]
        rundir.write_atomic(folder / "diagnostics.png", lambda path: plots.rhat_ess_summary(
            path, evaluation.rhat, evaluation.ess, num_draws=num_draws, title=title))
    summary = evaluation.summary
    if dataset.task == "regression" and dataset.input_dim == 1:
        def original(y):
            return y * dataset.y_std + dataset.y_mean
        rundir.write_atomic(folder / "predictive.png", lambda path: plots.predictive_bands(
            path, x_train=dataset.x_train, y_train=original(dataset.y_train), x_test=dataset.x_test,
            y_test=original(dataset.y_test), mean=original(summary["mean"]), std=summary["std"] * dataset.y_std,
            title=title))
    if dataset.task == "classification":
        rundir.write_atomic(folder / "reliability.png", lambda path: plots.reliability_diagram(
            path, probs=summary["probs"], y=dataset.y_test, title=title))
        rundir.write_atomic(folder / "per_class_accuracy.png", lambda path: plots.per_class_accuracy_bars(
            path, accuracy=evaluation.per_class_accuracy, title=title))
    if evaluation.ood_probs is not None:
        rundir.write_atomic(folder / "ood_entropy.png", lambda path: plots.ood_entropy_histogram(
            path, entropy_in=evaluation.test_entropy, entropy_out=evaluation.ood_entropy,
            auroc=outcome.metrics["test_ood_auroc"], title=title))


def format_summary(metrics: dict) -> str:
    """The headline metrics on one line."""
    parts = []
    for key in SUMMARY_KEYS:
        if key in metrics:
            value = metrics[key]
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def write_run(staged: pathlib.Path, config: configs.Config, outcome: Outcome, log: Callable[[str], None], *,
              log_text: Callable[[], str], checkpoint_dir: pathlib.Path | None) -> None:
    """Every file of a finished run into ``staged``: plots, the summary and warnings (to
    ``log`` and ``log.txt``), ``config.yaml``, ``prior.json``, saved draws, ``predictive.npz``,
    a diverged run's last checkpoint, and last ``metrics.json`` (which marks it finished)."""
    title = f"{config.name}: {config.data.name} split {config.data.split}, seed {config.seed}"
    write_plots(staged, outcome, title, config=config)
    log(format_summary(outcome.metrics))
    for warning in outcome.metrics["warnings"]:
        log(f"warning: {warning}")
    rundir.write_text(staged / rundir.LOG, log_text())
    rundir.write_text(staged / rundir.CONFIG, yaml.safe_dump(configs.to_dict(config), sort_keys=False))
    if outcome.prior.fit is not None:
        rundir.write_json(staged / PRIOR, outcome.prior.fit)
    if config.sampling.save_samples:
        samplers.checkpoint.write_tree(staged / SAMPLES, outcome.draws, {"config": configs.to_dict(config)})
    if outcome.predictive is not None:
        reference.write(staged / reference.FILE, outcome.predictive)
    if outcome.metrics["status"] != "ok" and checkpoint_dir is not None and checkpoint_dir.exists():
        shutil.copytree(checkpoint_dir, staged / CHECKPOINT)
    rundir.write_json(staged / rundir.METRICS, {**outcome.metrics, "config_hash": identity_hash(run_identity(config))})
