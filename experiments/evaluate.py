"""From kept draws to test metrics: the predictive, its diagnostics, and what the plots need.

:func:`predict` feeds every chain's draws through ``posterior.predictive`` on device;
:func:`evaluate` turns that into the run's test metrics (``posterior.metrics``), split
R-hat and ESS of the test predictions (``posterior.diagnostics``), convergence warnings
(:mod:`experiments.convergence`), the comparison with a reference predictive
(:mod:`experiments.reference`) and OOD detection, and returns everything the report
draws in one :class:`Evaluation`, so that no figure recomputes what was evaluated.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from experiments import convergence
from experiments import reference as references
from experiments.config import Config
from posterior import diagnostics, likelihoods, metrics, models, predictive
from posterior.data import Dataset

__all__ = ["Evaluation", "draws_of", "evaluate", "predict"]


class Evaluation(NamedTuple):
    """The test predictive of a run's kept draws and what is computed from it."""

    metrics: dict[str, Any]  # test metrics, diagnostics, warnings, reference and OOD scores
    summary: dict[str, np.ndarray]  # posterior.predictive.summarise of all chains kept
    test_predictions: np.ndarray  # (chain kept, draw, test point[, class]) predictive moments per draw
    rhat: np.ndarray | None  # split R-hat of each of those (weighted by the draws' weights); None: an ensemble
    ess: np.ndarray | None  # and its effective sample size
    predictive: dict[str, np.ndarray]  # the test predictive for predictive.npz
    per_class_accuracy: np.ndarray | None = None  # (class,) for classification
    test_entropy: np.ndarray | None = None  # (test point,) predictive entropy, classification
    ood_probs: np.ndarray | None = None  # (OOD point, class) predictive probabilities, with eval.ood
    ood_entropy: np.ndarray | None = None  # (OOD point,) their predictive entropy


def draws_of(config: Config, samples: Any, weights: np.ndarray) -> tuple[Any, np.ndarray]:
    """The draws predictions average over, one parameter tree with axes (chain, draw):
    Entropy-MCMC's ``predict_with: both`` keeps ``(theta, anchor)`` pairs, which become
    two draws each (theta, then its anchor, with the pair's weight); an ensemble
    (``sgd``) predicts with the last iterate of each member."""
    if config.sampler.name == "sgd":
        return jax.tree.map(lambda leaf: leaf[:, -1:], samples), np.asarray(weights)[:, -1:]
    if config.sampler.name != "entropy_mcmc" or config.sampler.predict_with != "both":
        return samples, weights
    theta, anchor = samples

    def interleave(a, b):
        paired = jnp.stack([a, b], axis=2)
        return paired.reshape(a.shape[0], 2 * a.shape[1], *a.shape[2:])

    return jax.tree.map(interleave, theta, anchor), np.repeat(np.asarray(weights), 2, axis=1)


def _moment_name(likelihood) -> str:
    return "probs" if isinstance(likelihood, likelihoods.Categorical) else "mean"


def predict(network: models.Network, likelihood, samples, weights: np.ndarray, x_test, y_test=None):
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


def evaluate(config: Config, dataset: Dataset, network: models.Network, likelihood, draws, weights: np.ndarray, *,
             run_metrics: dict[str, Any], reference: dict[str, np.ndarray] | None = None,
             x_ood: np.ndarray | None = None) -> Evaluation:
    """The test metrics of the kept draws of the chains that are used.

    Args:
        config: the run's config.
        dataset: its data (standardised; metrics are reported in original units).
        network, likelihood: what the draws parameterise.
        draws, weights: the kept draws and their weights, axes (chain, draw).
        run_metrics: what the run reported so far (``num_chains``, ``draws_per_chain``,
            ``acceptance_rate``, ...), read by the convergence warnings.
        reference: a reference predictive (``experiments.reference.load``) to compare with.
        x_ood: OOD inputs, in the units of the test inputs, to score predictive entropy on.

    Returns:
        The :class:`Evaluation`; its ``metrics`` hold what this adds to the run's.
    """
    summary, test_predictions, noise_stds = predict(network, likelihood, draws, weights, dataset.x_test,
                                                    dataset.y_test)
    found: dict[str, Any] = {}
    per_class = test_entropy = ood_probs = ood_entropy = None
    if dataset.task == "classification":
        found.update(metrics.classification_metrics(summary, dataset.y_test))
        per_class = metrics.per_class_accuracy(summary["probs"], dataset.y_test, dataset.num_classes)
        test_entropy = metrics.predictive_entropy(summary["probs"])
    else:
        found.update(metrics.regression_metrics(summary, dataset.y_test, y_scale=dataset.y_std))
        if dataset.test_in_gap is not None and dataset.test_in_gap.any():
            # Where there are no training inputs, the prior shows: the toy's point.
            found["test_nll_gap"] = -metrics.log_likelihood(summary["log_density"][dataset.test_in_gap],
                                                            scale=dataset.y_std)
        found["test_ll_kind"] = "log density of the weighted predictive mixture"
    if config.sampler.name == "sgd":
        rhat = ess = None
        found["diagnostics"] = "not applicable: an ensemble member is one optimum, not a chain of draws"
    else:
        rhat, ess = diagnostics.per_prediction(test_predictions, weights)
        found.update(diagnostics.worst(rhat, ess))
    found["warnings"] = convergence.warnings_of(
        {**run_metrics, **found}, weights=np.asarray(weights) if config.sampler.name == "sa_sgld" else None)
    run_predictive = references.of_run(dataset, split=config.data.split, summary=summary,
                                       test_predictions=test_predictions, noise_stds=noise_stds,
                                       weights=np.asarray(weights))
    if reference is not None:
        found.update(references.compare(run_predictive, reference))
    if x_ood is not None:
        ood_probs = predict(network, likelihood, draws, weights, x_ood)[0]["probs"]
        ood_entropy = metrics.predictive_entropy(ood_probs)
        found.update(metrics.ood_metrics(summary["probs"], ood_probs))
    return Evaluation(found, summary, test_predictions, rhat, ess, run_predictive, per_class, test_entropy,
                      ood_probs, ood_entropy)
