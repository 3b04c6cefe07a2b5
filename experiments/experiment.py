"""One experiment from a config: data, model, prior, sampler, then test metrics.

:func:`run_experiment` composes the library pieces exactly as a notebook would (see
README): ``posterior.data.load``, a network of ``posterior.models``, a likelihood, a prior (fixed or
fitted to a GP, :mod:`experiments.prior_fit`), ``posterior.density.log_posterior``, a sampler, ``samplers.sample``;
then it feeds the kept draws through ``posterior.predictive`` chain by chain and reports
``posterior.metrics`` and ``posterior.diagnostics`` (and, with ``eval.reference``, agreement
and total variation against a reference predictive, :mod:`experiments.reference`; with
``eval.ood``, how well predictive entropy singles out OOD inputs). It writes nothing: the
caller owns the run directory.
"""

import dataclasses
import pathlib
import platform
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from experiments import convergence
from experiments import reference as references
from experiments.config import Config
from experiments.config.identity import checkpoint_identity
from experiments.prior_fit import PriorChoice, choose_prior
from posterior import density, diagnostics, likelihoods, metrics, models, predictive
from posterior.data import Dataset, load, without_class


class Outcome(NamedTuple):
    """What a run produced: the metrics, and the arrays its plots are drawn from."""

    metrics: dict[str, Any]
    dataset: Dataset
    summary: dict[str, np.ndarray]  # posterior.predictive.summarise of all chains kept
    test_predictions: np.ndarray  # (chain kept, draw, test point[, class]) predictive moments per draw
    rhat: np.ndarray  # split R-hat of each of those (weighted by the draws' weights)
    ess: np.ndarray  # and its effective sample size
    logdensity: np.ndarray | None  # (chain, draw) log posterior estimate at each kept draw
    prior: PriorChoice  # the prior sampled under, and its fit when it was fitted
    draws: dict[str, Any]  # every chain's kept draws: samples, weights and info, axes (chain, draw)
    predictive: dict[str, np.ndarray] | None = None  # the test predictive for predictive.npz (None: diverged)
    ood_probs: np.ndarray | None = None  # (OOD point, class) predictive probabilities, with eval.ood


def build_likelihood(config: Config, dataset: Dataset):
    """The likelihood the config names, checked against the data set's task."""
    name = config.likelihood.name
    if (name == "categorical") != (dataset.task == "classification"):
        raise ValueError(f"likelihood.name={name!r} does not fit {dataset.name}, a {dataset.task} data set")
    if name == "gaussian":
        return likelihoods.Gaussian(noise_std=config.likelihood.noise_std)
    if name == "gaussian_gamma":
        return likelihoods.GaussianGammaPrecision(shape=config.likelihood.precision_shape,
                                                  rate=config.likelihood.precision_rate)
    return likelihoods.Categorical()


def build_network(config: Config, dataset: Dataset) -> models.Network:
    """The network ``model.kind`` names, with one output per class (one for regression)."""
    settings = config.model
    if settings.kind == "mlp":
        output_dim = dataset.num_classes if dataset.task == "classification" else 1
        return models.mlp(width=settings.width, depth=settings.depth, output_dim=output_dim,
                          activation=settings.activation)
    build = models.lenet if settings.kind == "lenet" else models.resnet20_frn
    return build(num_classes=dataset.num_classes, activation=settings.activation)


def ood_inputs(config: Config, dataset: Dataset, held_out: np.ndarray | None, data_root: str | None) -> np.ndarray:
    """The inputs ``eval.ood`` names, in the standardised units of ``dataset``'s inputs.

    Raises:
        posterior.data.DataError: when the OOD data set cannot be loaded.
        ValueError: when its inputs are not of the run's input shape.
    """
    ood = config.eval.ood
    if ood.kind == "held_out_class":
        return held_out
    if ood.kind == "noise":
        rng = np.random.default_rng([config.seed, config.data.split])
        return rng.standard_normal((ood.num_points, *dataset.input_shape)).astype(np.float32)
    other = load(ood.name, root=ood.root or data_root, split=0)
    if other.input_shape != dataset.input_shape:
        raise ValueError(f"eval.ood.name={ood.name} has inputs of shape {other.input_shape}, "
                         f"not {dataset.name}'s {dataset.input_shape}")
    return other.x_test


def build_schedule(config: Config) -> float | samplers.schedules.Schedule:
    """The step size the config asks for: a float, or a schedule of the step count."""
    settings = config.sampler
    if settings.schedule.kind == "constant":
        return settings.step_size
    return samplers.schedules.cyclical_cosine(settings.step_size, num_steps=config.sampling.num_steps,
                                              num_cycles=settings.schedule.num_cycles)


def build_sampler(config: Config, logdensity_fn: Callable, prior: Any) -> samplers.SamplingAlgorithm:
    """SGLD, SGHMC, SA-SGLD, Entropy-MCMC or full-batch HMC with the config's hyperparameters.

    A hierarchical prior's parameters are also redrawn from their exact conditional
    every ``prior.gibbs_every`` steps (SGLD and SGHMC only: the config refuses the
    others with such a prior).
    """
    settings = config.sampler
    step_size = build_schedule(config)
    if settings.name == "sgld":
        alg = samplers.sgld(logdensity_fn, step_size, temperature=settings.temperature,
                            max_grad_norm=settings.max_grad_norm)
    elif settings.name == "sa_sgld":
        alg = samplers.sa_sgld(logdensity_fn, step_size, temperature=settings.temperature,
                               max_grad_norm=settings.max_grad_norm, **dataclasses.asdict(settings.clock))
    elif settings.name == "hmc":
        alg = samplers.hmc(logdensity_fn, settings.step_size, settings.num_integration_steps,
                           target_acceptance_rate=settings.target_acceptance_rate,
                           adaptation_steps=config.sampling.burn_in,
                           max_trajectory_length=settings.max_trajectory_length, temperature=settings.temperature)
    elif settings.name == "entropy_mcmc":
        alg = samplers.entropy_mcmc(logdensity_fn, step_size, settings.eta, temperature=settings.temperature,
                                    max_grad_norm=settings.max_grad_norm, predict_with=settings.predict_with)
    else:
        alg = samplers.sghmc(logdensity_fn, step_size, friction=settings.friction,
                             temperature=settings.temperature, max_grad_norm=settings.max_grad_norm,
                             scale_adaptation_steps=config.sampling.burn_in if settings.scale_adaptation else 0)
    if not density.is_hierarchical(prior):
        return alg

    def redraw_prior(key, position):
        return {**position, "prior": prior.gibbs(key, position["network"])}

    return samplers.with_gibbs(alg, redraw_prior, every=config.prior.gibbs_every)


def draws_of(config: Config, samples: Any, weights: np.ndarray) -> tuple[Any, np.ndarray]:
    """The draws predictions average over, one parameter tree with axes (chain, draw):
    Entropy-MCMC's ``predict_with: both`` keeps ``(theta, anchor)`` pairs, which become
    two draws each (theta, then its anchor, with the pair's weight)."""
    if config.sampler.name != "entropy_mcmc" or config.sampler.predict_with != "both":
        return samples, weights
    theta, anchor = samples

    def interleave(a, b):
        paired = jnp.stack([a, b], axis=2)
        return paired.reshape(a.shape[0], 2 * a.shape[1], *a.shape[2:])

    return jax.tree.map(interleave, theta, anchor), np.repeat(np.asarray(weights), 2, axis=1)


def _moment_name(likelihood) -> str:
    return "probs" if isinstance(likelihood, likelihoods.Categorical) else "mean"


def evaluate(network: models.Network, likelihood, samples, weights: np.ndarray, x_test, y_test=None):
    """The predictive of every chain, accumulated draw by draw, and the per-draw moments.

    ``y_test`` None (inputs without labels, e.g. OOD ones) leaves the summary's
    ``log_density`` meaningless.

    Returns:
        ``(summary, test_predictions, noise_stds)``: :func:`posterior.predictive.summarise`
        of all chains together, ``(chain, draw, test point[, class])`` predicted means (or
        class probabilities) for the diagnostics, and for a Gaussian likelihood each
        draw's noise standard deviation ``(chain, draw)`` (None for a categorical one).
    """
    moment = _moment_name(likelihood)
    noise_std = getattr(likelihood, "std", None)
    if y_test is None:
        y_test = np.zeros(len(x_test), np.int32 if moment == "probs" else np.float32)

    def outputs_of(position):
        return network.apply(position["network"], x_test)

    def one_chain(positions, chain_weights):
        first = jax.tree.map(lambda leaf: leaf[0], positions)
        start = predictive.init(likelihood, first["likelihood"], outputs_of(first), y_test)

        def add_draw(accumulated, draw):
            position, draw_weight = draw
            outputs = outputs_of(position)
            accumulated = predictive.update(accumulated, likelihood=likelihood, lik_params=position["likelihood"],
                                            outputs=outputs, y=y_test, weight=draw_weight)
            per_draw = {"prediction": likelihood.moments(position["likelihood"], outputs)[moment]}
            if noise_std is not None:
                per_draw["noise_std"] = noise_std(position["likelihood"])
            return accumulated, per_draw

        return jax.lax.scan(add_draw, start, (positions, chain_weights))

    per_chain, per_draw = jax.jit(jax.vmap(one_chain))(samples, jnp.asarray(weights))
    summary = predictive.summarise(predictive.combine_chains(per_chain))
    noise_stds = per_draw.get("noise_std")
    return (jax.tree.map(np.asarray, summary), np.asarray(per_draw["prediction"]),
            None if noise_stds is None else np.asarray(noise_stds))


def versions() -> dict[str, str]:
    """Versions of what produced the numbers."""
    import blackjax
    import flax
    import optax

    return {"python": platform.python_version(), "jax": jax.__version__, "flax": flax.__version__,
            "optax": optax.__version__, "blackjax": blackjax.__version__, "numpy": np.__version__}


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
        progress: the sampler's progress bar (default: on a terminal).

    Returns:
        An :class:`Outcome`. ``metrics["divergences"]`` lists ``{"chain", "step"}`` for
        every chain whose position or log density became non-finite (the first such step,
        ``samplers.SampleResult.diverged_at``). With ``sampling.on_divergence: drop_chain``
        those chains are left out of the predictive and the diagnostics and named in
        ``metrics["dropped_chains"]``; ``metrics["status"]`` is ``"ok"``, or
        ``"diverged"`` when a chain diverged under ``stop`` (which also ends sampling
        there: ``metrics["num_steps_taken"]``) or every chain did (the test metrics, and
        whatever else is computed from the draws, are then left out).
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
    logdensity_fn = density.log_posterior(network.apply, choice.prior, likelihood, data_size=len(dataset.x_train),
                                          batch_sum=batch_sum, terms=config.sampler.name == "hmc")
    alg = build_sampler(config, logdensity_fn, choice.prior)
    run = config.sampling
    mesh = None
    if config.mesh.chain is not None or config.mesh.data > 1:
        mesh = samplers.make_mesh(config.mesh.chain, config.mesh.data)
    log(f"{config.sampler.name}: {run.num_chains} chains x {run.num_steps} steps "
        f"(burn-in {run.burn_in}, thin {run.thin}, batch {run.batch_size})")
    resumed_from = None if checkpoint_dir is None else samplers.checkpoint.saved_step(checkpoint_dir)
    if resumed_from is not None:
        log(f"resuming from the checkpoint at step {resumed_from} in {checkpoint_dir}")
    result = samplers.sample(
        alg, jax.random.key(config.seed),
        lambda key: density.initial_position(key, network=network, likelihood=likelihood,
                                             input_shape=dataset.input_shape, prior=choice.prior),
        (dataset.x_train, dataset.y_train), num_chains=run.num_chains, num_steps=run.num_steps,
        burn_in=run.burn_in, thin=run.thin, batch_size=run.batch_size, mesh=mesh, keep_samples=True,
        progress=progress, checkpoint_dir=checkpoint_dir, checkpoint_every=config.checkpoint.every,
        checkpoint_identity={"config": checkpoint_identity(config)}, stop_on_divergence=run.on_divergence == "stop")
    log(f"sampled in {result.timings['sampling_seconds']:.1f} s (compiling {result.timings['compile_seconds']:.1f} s)")

    divergences = [{"chain": chain, "step": int(step)} for chain, step in enumerate(result.diverged_at) if step >= 0]
    for divergence in divergences:
        log(f"chain {divergence['chain']} became non-finite at step {divergence['step']}")
    healthy = result.diverged_at < 0
    usable = bool(healthy.all()) or (run.on_divergence == "drop_chain" and bool(healthy.any()))
    dropped = [divergence["chain"] for divergence in divergences] if usable else []
    if dropped:
        log(f"on_divergence=drop_chain: predicting with the other {int(healthy.sum())} of {run.num_chains} chains")
    draws, weights = draws_of(config, result.samples, result.weights)
    report: dict[str, Any] = {
        "status": "ok" if usable else "diverged",
        "divergences": divergences,
        "dropped_chains": dropped,
        "num_chains": run.num_chains,
        "num_steps_taken": result.num_steps_taken,
        "draws_per_chain": int(weights.shape[1]),
        "num_train": len(dataset.x_train),
        "num_test": len(dataset.x_test),
        "compile_seconds": result.timings["compile_seconds"],
        "sampling_seconds": result.timings["sampling_seconds"],
        "devices": [str(device) for device in jax.devices()],
        "versions": versions(),
        "warnings": [],
    }
    if resumed_from is not None:
        report["resumed_from_step"] = resumed_from
    if choice.fit is not None:
        report["prior_fit"] = {**choice.fit["report"], "hash": choice.fit["hash"], "reused": choice.cached}
    summary, test_predictions, rhat, ess = {}, np.zeros((run.num_chains, 0)), np.zeros(0), np.zeros(0)
    run_predictive = ood_probs = None
    if usable:
        draws, weights = jax.tree.map(lambda leaf: leaf[healthy], (draws, weights))
        if "acceptance_rate" in result.info:  # Metropolis kernels: how often kept draws' steps were accepted
            report["acceptance_rate"] = float(np.mean(result.info["acceptance_rate"][healthy]))
            report["final_step_size"] = float(np.mean(result.info["step_size"][healthy][:, -1]))
        if config.sampler.name == "sa_sgld" and "step_size" in result.info:
            # The clock's step psi * dtau, to compare with the fixed step of SGLD.
            report["mean_physical_step"] = float(np.mean(result.info["step_size"][healthy]))
        summary, test_predictions, noise_stds = evaluate(network, likelihood, draws, weights, dataset.x_test,
                                                         dataset.y_test)
        if dataset.task == "classification":
            report.update(metrics.classification_metrics(summary, dataset.y_test))
        else:
            report.update(metrics.regression_metrics(summary, dataset.y_test, y_scale=dataset.y_std))
            if dataset.test_in_gap is not None and dataset.test_in_gap.any():
                # Where there are no training inputs, the prior shows: the toy's point.
                report["test_nll_gap"] = -metrics.log_likelihood(summary["log_density"][dataset.test_in_gap],
                                                                 scale=dataset.y_std)
            report["test_ll_kind"] = "log density of the weighted predictive mixture"
        rhat, ess = diagnostics.per_prediction(test_predictions, weights)
        report.update(diagnostics.worst(rhat, ess))
        report["warnings"] = convergence.warnings_of(
            report, weights=np.asarray(weights) if config.sampler.name == "sa_sgld" else None)
        run_predictive = references.of_run(dataset, split=config.data.split, summary=summary,
                                           test_predictions=test_predictions, noise_stds=noise_stds,
                                           weights=np.asarray(weights))
        if reference is not None:
            report.update(references.compare(run_predictive, reference))
            report["reference"] = str(reference_file)
        if x_ood is not None:
            ood_probs = evaluate(network, likelihood, draws, weights, x_ood)[0]["probs"]
            report.update(metrics.ood_metrics(summary["probs"], ood_probs))
    report["wall_seconds"] = time.perf_counter() - began
    logdensity = result.info.get("logdensity")
    return Outcome(report, dataset, summary, test_predictions, rhat, ess,
                   None if logdensity is None else np.asarray(logdensity), choice,
                   {"samples": result.samples, "weights": result.weights, "info": result.info}, run_predictive,
                   ood_probs)
