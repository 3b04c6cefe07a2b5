"""One experiment from a config: build, sample, evaluate.

:func:`run_experiment` reads the config one way: the data (``posterior.data.load``), then
the pieces it names (:mod:`experiments.build`: likelihood, network, a prior fixed or
fitted to a GP by :mod:`experiments.prior_fit`, ``posterior.density.log_posterior``, the
sampler), then ``samplers.sample``, which folds every kept draw into each chain's
predictive on device (:func:`experiments.evaluate.prediction_fold`) and keeps the draws
only for ``sampling.save_samples``, then :func:`experiments.evaluate.evaluate` of the
folds (test metrics, diagnostics, warnings, and with ``eval.reference`` or ``eval.ood``
the comparison with a reference predictive or OOD inputs). It writes nothing: the caller
owns the run directory (:mod:`experiments.runs`, :mod:`experiments.report`).
"""

import pathlib
import time
from typing import Any, Callable, NamedTuple

import jax
import numpy as np

import samplers
from experiments import provenance
from experiments import reference as references
from experiments.build import (build_likelihood, build_network, build_optimizer, build_sampler, gradient_evaluations,
                               ood_inputs)
from experiments.config import Config
from experiments.config.identity import checkpoint_identity
from experiments.evaluate import Evaluation, counted_draws, evaluate, fold_draws, predicted_draws, prediction_fold
from experiments.prior_fit import PriorChoice, choose_prior
from posterior import density
from posterior.data import Dataset, load, without_class

__all__ = ["INIT_CHECKPOINT", "Outcome", "optimised_starts", "run_experiment"]

INIT_CHECKPOINT = "init"  # the start's optimisation's checkpoint, inside the run's checkpoint folder


class Outcome(NamedTuple):
    """What a run produced: the metrics, and what its report is drawn from."""

    metrics: dict[str, Any]
    dataset: Dataset
    evaluation: Evaluation | None  # None: the run diverged, nothing was evaluated
    logdensity: np.ndarray | None  # (chain, draw) log posterior estimate at each kept draw
    prior: PriorChoice  # the prior sampled under, and its fit when it was fitted
    draws: dict[str, Any]  # every chain's kept draws: samples (None unless saved), weights and info, axes (chain, draw)

    @property
    def summary(self) -> dict[str, np.ndarray]:
        """The predictive summary of the chains kept (empty when nothing was evaluated)."""
        return {} if self.evaluation is None else self.evaluation.summary

    @property
    def test_predictions(self) -> np.ndarray:
        """``(chain kept, recorded draw, test point[, class])`` predictive moments per draw."""
        return np.zeros((0, 0)) if self.evaluation is None else self.evaluation.test_predictions

    @property
    def predictive(self) -> dict[str, np.ndarray] | None:
        """The test predictive for ``predictive.npz`` (None: diverged)."""
        return None if self.evaluation is None else self.evaluation.predictive

    @property
    def ood_probs(self) -> np.ndarray | None:
        """``(OOD point, class)`` predictive probabilities, with ``eval.ood``."""
        return None if self.evaluation is None else self.evaluation.ood_probs


def _divergences(diverged_at: np.ndarray, log: Callable[[str], None], *, step_name: str = "step") -> list[dict]:
    """``{"chain", "step"}`` of every chain that became non-finite
    (``samplers.SampleResult.diverged_at``), each also logged."""
    divergences = [{"chain": chain, "step": int(step)} for chain, step in enumerate(diverged_at) if step >= 0]
    for divergence in divergences:
        log(f"chain {divergence['chain']} became non-finite at {step_name} {divergence['step']}")
    return divergences


def optimised_starts(config: Config, logdensity_fn: Callable, prior_draw: Callable, data, *, mesh,
                     checkpoint_dir: pathlib.Path | None, progress: bool | None, log: Callable[[str], None]
                     ) -> tuple[samplers.Starts, dict]:
    """``init.from: map``: every chain optimises its own prior draw for ``init.steps``
    steps, on the run's minibatches; returns where the chains ended and a report.

    The optimisation has its own key (the run's, folded with 1), its own checkpoint
    (``INIT_CHECKPOINT`` inside the run's checkpoint folder) and the run's divergence
    rule; a chain that became non-finite starts the sampling non-finite, so that the
    sampling reports it as it reports any diverged chain.
    """
    init, run = config.init, config.sampling
    optimizer = build_optimizer(init.optimizer, init.learning_rate)
    alg = samplers.sgd(logdensity_fn, optimizer, scale=1.0 / len(data[0]))
    log(f"optimising every chain's start: {init.optimizer} at {init.learning_rate:g} for {init.steps} steps")
    result = samplers.sample(
        alg, jax.random.fold_in(jax.random.key(config.seed), 1), prior_draw, data, num_chains=run.num_chains,
        num_steps=init.steps, burn_in=init.steps - 1, batch_size=run.batch_size, mesh=mesh, keep_samples=False,
        progress=progress, checkpoint_dir=None if checkpoint_dir is None else checkpoint_dir / INIT_CHECKPOINT,
        checkpoint_every=config.checkpoint.every, checkpoint_identity={"config": checkpoint_identity(config)},
        stop_on_divergence=run.on_divergence == "stop")
    divergences = _divergences(result.diverged_at, log, step_name="optimisation step")
    report = {"steps": result.num_steps_taken, "divergences": divergences,
              "gradient_evaluations": run.num_chains * result.num_steps_taken,
              "seconds": result.timings["sampling_seconds"] + result.timings["compile_seconds"]}
    if result.weights.shape[1]:  # the last step's minibatch estimate of the log posterior, per chain
        report["final_logdensity"] = [float(value) for value in result.info["logdensity"][:, -1]]
    log(f"starts optimised in {report['seconds']:.1f} s")
    # Where the chains are after the steps taken (all of them, or up to a divergence).
    return samplers.Starts(samplers.mesh.fetch(result.state.position)), report


def run_experiment(config: Config, *, data_root: str | None, prior_cache: pathlib.Path | None = None,
                   checkpoint_dir: pathlib.Path | None = None, log: Callable[[str], None] = print,
                   progress: bool | None = None) -> Outcome:
    """Run ``config`` and compute its test metrics.

    Args:
        config: a validated config.
        data_root: the data folder (the config's ``data.root`` or its override).
        prior_cache: where fitted priors are saved and looked up (None: fit afresh).
        checkpoint_dir: where the sampler saves its state every ``checkpoint.every``
            steps and resumes from (None: no checkpoints); a checkpoint written under
            another config (:func:`checkpoint_identity`) is refused.
        log: where progress lines go.
        progress: the sampler's progress report (:class:`samplers.progress.Progress`; False: none).

    Returns:
        An :class:`Outcome`. ``metrics["divergences"]`` lists ``{"chain", "step"}`` for
        every chain whose position or log density became non-finite (the first such step,
        ``samplers.SampleResult.diverged_at``). With ``sampling.on_divergence: drop_chain``
        those chains are left out of the predictive and the diagnostics and named in
        ``metrics["dropped_chains"]``; ``metrics["status"]`` is ``"ok"``, or
        ``"diverged"`` when a chain diverged under ``stop`` (which also ends sampling
        there: ``metrics["num_steps_taken"]``) or every chain did (the test metrics, and
        whatever else is computed from the draws, are then left out).
        ``metrics["gradient_evaluations"]`` is what the chains cost: chains x steps taken
        x gradients per step, or what the state counted
        (:func:`experiments.build.gradient_evaluations`: NUTS's and MCLMC's tuning
        included); a prior fit not counted, the starts' optimisation of ``init.from: map``
        counted.
        ``metrics["init"]`` reports that optimisation (:func:`optimised_starts`).
        ``metrics["versions"]``, ``metrics["command"]`` and ``metrics["revision"]`` say
        what produced the numbers (:func:`experiments.provenance.provenance`).
        ``metrics["warnings"]`` lists :func:`experiments.convergence.warnings_of`'s
        sentences (chains not mixed, few effective draws, ...): they inform, the status
        stays ``"ok"``. ``metrics["resumed_from_step"]`` is the step of the checkpoint the run resumed
        from (absent when it started afresh). With ``eval.reference``, the reference
        predictive is read and checked before anything is fitted or sampled (a bad one
        raises :class:`experiments.reference.ReferenceFileError`), and a run whose status
        is ok reports ``reference_agreement`` and ``reference_tv`` against it. With
        ``eval.ood``, the OOD inputs are read before sampling too, and an ok run
        reports ``test_ood_auroc`` and ``test_ood_aupr`` and returns their predictive in
        ``Outcome.ood_probs``.
    """
    began = time.perf_counter()
    dataset = load(config.data.name, root=data_root, split=config.data.split)
    held_out = None
    if config.data.held_out_class is not None:
        dataset, held_out = without_class(dataset, config.data.held_out_class)
        log(f"class {config.data.held_out_class} held out: {len(held_out)} of its test rows")
    log(f"data {dataset.name} split {config.data.split}: {len(dataset.x_train)} train, "
        f"{len(dataset.x_test)} test, inputs of shape {dataset.input_shape} ({dataset.task})")
    reference = reference_file = None
    if config.eval.reference is not None:
        reference_file = references.locate(config.eval.reference, split=config.data.split, seed=config.seed)
        reference = references.load(reference_file, dataset, split=config.data.split)
        log(f"reference predictive {reference_file}")
    x_ood = None
    if config.eval.ood is not None:
        x_ood = ood_inputs(config, dataset, held_out, data_root)
        log(f"OOD inputs ({config.eval.ood.kind}): {len(x_ood)}")
    likelihood = build_likelihood(config, dataset)
    network = build_network(config, dataset)
    choice = choose_prior(config, dataset, network, cache=prior_cache, log=log)
    # Devices along the mesh's 'data' axis each hold a slice of every batch.
    batch_sum = samplers.mesh.sum_over_data if config.mesh.data > 1 else None

    def log_posterior(*, terms: bool):
        return density.log_posterior(network.apply, choice.prior, likelihood, data_size=len(dataset.x_train),
                                     batch_sum=batch_sum, terms=terms)

    logdensity_fn = log_posterior(terms=config.sampler.name == "hmc")
    alg = build_sampler(config, logdensity_fn, choice.prior, num_train=len(dataset.x_train))
    run = config.sampling
    mesh = None
    if config.mesh.chain is not None or config.mesh.data > 1:
        mesh = samplers.make_mesh(config.mesh.chain, config.mesh.data)
    log(f"{config.sampler.name}: {run.num_chains} chains x {run.num_steps} steps "
        f"(burn-in {run.burn_in}, thin {run.thin}, batch {run.batch_size})")
    tuning = {"nuts": f"window adaptation, {config.sampler.adaptation_steps} steps",
              "mclmc": f"three phases, about {run.num_steps // 3} steps",
              "adjusted_mclmc": f"two dual-averaging passes, {3 * (run.num_steps // 10)} trajectories",
              }.get(config.sampler.name)
    if tuning is not None:
        log(f"each chain is tuned first ({tuning}); no progress is shown while it runs")
    # A full-batch step can take seconds: chunks of a tenth of the run keep progress coming.
    chunk_size = min(1000, max(1, run.num_steps // 10)) if alg.full_batch else 1000
    data = (dataset.x_train, dataset.y_train)

    def prior_draw(key):
        return density.initial_position(key, network=network, likelihood=likelihood, input_shape=dataset.input_shape,
                                        prior=choice.prior)

    start, init_report = prior_draw, None
    if config.init.source == "map":
        # An optimiser climbs one number: the log posterior summed, even where HMC takes its terms.
        summed = logdensity_fn if config.sampler.name != "hmc" else log_posterior(terms=False)
        start, init_report = optimised_starts(config, summed, prior_draw, data, mesh=mesh,
                                              checkpoint_dir=checkpoint_dir, progress=progress, log=log)
    resumed_from = None if checkpoint_dir is None else samplers.checkpoint.saved_step(checkpoint_dir)
    if resumed_from is not None:
        log(f"resuming from the checkpoint at step {resumed_from} in {checkpoint_dir}")
    fold = prediction_fold(config, network, likelihood, dataset.x_test, dataset.y_test, x_ood=x_ood,
                           num_draws=(run.num_steps - run.burn_in) // run.thin)
    # Draws saved are kept, and folded after; otherwise they are folded as they come and
    # dropped, so that memory does not grow with their number.
    result = samplers.sample(
        alg, jax.random.key(config.seed), start, data, num_chains=run.num_chains, num_steps=run.num_steps,
        burn_in=run.burn_in, thin=run.thin, batch_size=run.batch_size, mesh=mesh,
        on_sample=None if run.save_samples else fold, keep_samples=run.save_samples,
        chunk_size=chunk_size, progress=progress, checkpoint_dir=checkpoint_dir,
        checkpoint_every=config.checkpoint.every,
        checkpoint_identity={"config": checkpoint_identity(config)}, stop_on_divergence=run.on_divergence == "stop")
    log(f"sampled in {result.timings['sampling_seconds']:.1f} s (compiling {result.timings['compile_seconds']:.1f} s)")

    divergences = _divergences(result.diverged_at, log)
    healthy = result.diverged_at < 0
    usable = bool(healthy.all()) or (run.on_divergence == "drop_chain" and bool(healthy.any()))
    dropped = [divergence["chain"] for divergence in divergences] if usable else []
    if dropped:
        log(f"on_divergence=drop_chain: predicting with the other {int(healthy.sum())} of {run.num_chains} chains")
    counted = counted_draws(config, result.weights.shape[1])
    report: dict[str, Any] = {
        "status": "ok" if usable else "diverged",
        "divergences": divergences,
        "dropped_chains": dropped,
        "num_chains": run.num_chains,
        "num_steps_taken": result.num_steps_taken,
        "gradient_evaluations": gradient_evaluations(config, result),
        "draws_per_chain": predicted_draws(config, result.weights.shape[1]),
        "num_train": len(dataset.x_train),
        "num_test": len(dataset.x_test),
        "compile_seconds": result.timings["compile_seconds"],
        "sampling_seconds": result.timings["sampling_seconds"],
        "devices": [str(device) for device in jax.devices()],
        **provenance.provenance(),
        "warnings": [],
    }
    if resumed_from is not None:
        report["resumed_from_step"] = resumed_from
    if init_report is not None:
        report["init"] = init_report
        report["gradient_evaluations"] += init_report["gradient_evaluations"]
    if choice.fit is not None:
        report["prior_fit"] = {**choice.fit["report"], "hash": choice.fit["hash"], "reused": choice.cached}
    evaluation = None
    if usable:
        folded = result.online if result.samples is None else fold_draws(fold, result.samples, result.weights)
        folded = jax.tree.map(lambda leaf: leaf[healthy], folded)
        if "acceptance_rate" in result.info:  # Metropolis kernels: how often kept draws' steps were accepted
            report["acceptance_rate"] = float(np.mean(result.info["acceptance_rate"][healthy]))
        if "acceptance_rate" in result.info or config.sampler.name == "mclmc":  # a step size tuned, then kept
            report["final_step_size"] = float(np.mean(result.info["step_size"][healthy][:, -1]))
        if config.sampler.name == "sa_sgld" and "step_size" in result.info:
            # The clock's step psi * dtau, to compare with the fixed step of SGLD.
            report["mean_physical_step"] = float(np.mean(result.info["step_size"][healthy]))
        evaluation = evaluate(config, dataset, folded, weights=result.weights[healthy][:, counted.start:],
                              run_metrics=report, reference=reference)
        report.update(evaluation.metrics)
        if reference is not None:
            report["reference"] = str(reference_file)
    report["wall_seconds"] = time.perf_counter() - began
    logdensity = result.info.get("logdensity")
    return Outcome(report, dataset, evaluation, None if logdensity is None else np.asarray(logdensity), choice,
                   {"samples": result.samples, "weights": result.weights, "info": result.info})
