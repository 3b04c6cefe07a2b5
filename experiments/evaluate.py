"""From draws to test metrics: the predictive, its diagnostics, and what the plots need.

:func:`prediction_fold` folds a chain's kept draws one at a time on device, into a
:class:`Folded` state: the weighted test predictive (``posterior.predictive``), the OOD
predictive with ``eval.ood``, and the test predictions of at most
:data:`RECORDED_DRAWS` evenly spaced draws. ``posterior run`` hands the fold to
``samplers.sample``, so that no draw is kept and memory does not grow with the number of
draws; with ``sampling.save_samples`` the draws are kept (and written) and
:func:`fold_draws` runs the same fold over them, so that both give the same metrics.
:func:`evaluate` turns the chains' folds into the run's test metrics
(``posterior.metrics``), split R-hat and ESS of the recorded test predictions
(``posterior.diagnostics``), convergence warnings (:mod:`experiments.convergence`), the
comparison with a reference predictive (:mod:`experiments.reference`) and OOD detection,
and returns everything the report draws in one :class:`Evaluation`, so that no figure
recomputes what was evaluated.
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import samplers
from experiments import convergence
from experiments import reference as references
from experiments.config import Config
from posterior import diagnostics, likelihoods, metrics, models, predictive
from posterior.data import Dataset

__all__ = ["RECORDED_DRAWS", "Evaluation", "Folded", "counted_draws", "draws_of", "evaluate", "fold_draws",
           "predicted_draws", "prediction_fold"]

RECORDED_DRAWS = 256
"""The most kept draws per chain whose test predictions are recorded, evenly spaced
(every ``ceil(counted / RECORDED_DRAWS)``-th): what split R-hat, ESS and the regression
mixture of ``predictive.npz`` are computed from; the predictive itself counts every draw.

Enough for the diagnostics: thinning a chain lowers the estimated ESS only where the
whole chain's ESS per chain exceeds the draws recorded, and there ``ess_min`` is above
``RECORDED_DRAWS`` per chain already, far past :data:`experiments.convergence.ESS_FLOOR`;
split R-hat compares the halves' means and variances, which tens of draws per half
estimate. The recorded predictions of 4 chains of a 1,000-point test set take 4 MB.
"""


class Folded(NamedTuple):
    """One chain's fold over its kept draws (:func:`prediction_fold`); leaves stacked on
    a leading chain axis for several chains.

    Attributes:
        test: the weighted test predictive of every draw counted.
        ood: the predictive at the OOD inputs (None without ``eval.ood``).
        recorded: the recorded draws' ``prediction`` (the test predictive mean, or class
            probabilities), ``weight`` and, for a Gaussian likelihood, ``noise_std``, with
            axes ``(recorded draw, parameter tree, ...)``: a tree per draw, or a
            ``(theta, anchor)`` pair's two (:func:`draws_of`).
    """

    test: predictive.Predictive
    ood: predictive.Predictive | None
    recorded: dict[str, jax.Array]


class Evaluation(NamedTuple):
    """The test predictive of a run's chains and what is computed from it."""

    metrics: dict[str, Any]  # test metrics, diagnostics, warnings, reference and OOD scores
    summary: dict[str, np.ndarray]  # posterior.predictive.summarise of all chains kept
    test_predictions: np.ndarray  # (chain kept, recorded draw, test point[, class]) predictive moments per draw
    rhat: np.ndarray | None  # split R-hat of each of those (weighted by the draws' weights); None: an ensemble
    ess: np.ndarray | None  # and its effective sample size
    predictive: dict[str, np.ndarray]  # the test predictive for predictive.npz
    per_class_accuracy: np.ndarray | None = None  # (class,) for classification
    test_entropy: np.ndarray | None = None  # (test point,) predictive entropy, classification
    ood_probs: np.ndarray | None = None  # (OOD point, class) predictive probabilities, with eval.ood
    ood_entropy: np.ndarray | None = None  # (OOD point,) their predictive entropy


def _keeps_pairs(config: Config) -> bool:
    return config.sampler.name == "entropy_mcmc" and config.sampler.predict_with == "both"


def draws_of(config: Config, position: Any) -> tuple[Any, ...]:
    """The parameter trees a kept position predicts with, each one draw of the position's
    weight: Entropy-MCMC's ``predict_with: both`` keeps ``(theta, anchor)`` pairs, which
    are two draws (theta, then its anchor); any other position is one."""
    return tuple(position) if _keeps_pairs(config) else (position,)


def counted_draws(config: Config, num_draws: int) -> range:
    """The kept draws (of ``num_draws`` per chain) that predictions count: all, but for an
    ensemble (``sgd``) only the last iterate of each member (the draws before it trace
    the optimisation)."""
    return range(num_draws - 1 if config.sampler.name == "sgd" else 0, num_draws)


def predicted_draws(config: Config, num_draws: int) -> int:
    """How many draws per chain predictions average over when ``num_draws`` are kept: the
    counted ones (:func:`counted_draws`), each pair two (:func:`draws_of`)."""
    return len(counted_draws(config, num_draws)) * (2 if _keeps_pairs(config) else 1)


def _moment_name(likelihood) -> str:
    return "probs" if isinstance(likelihood, likelihoods.Categorical) else "mean"


def prediction_fold(config: Config, network: models.Network, likelihood, x_test, y_test, *, x_ood=None,
                    num_draws: int) -> samplers.Fold:
    """The fold of a chain's ``num_draws`` kept draws into a :class:`Folded`
    (``samplers.sample``'s ``on_sample``, or :func:`fold_draws`'s).

    Each counted draw (:func:`counted_draws`), each tree of it (:func:`draws_of`), is
    added to the test predictive and with ``x_ood`` to the OOD one; its predictions are
    recorded when it is the first of a stride of ``ceil(counted / RECORDED_DRAWS)``
    counted draws.
    """
    moment = _moment_name(likelihood)
    noise_std = getattr(likelihood, "std", None)
    counted = counted_draws(config, num_draws)
    stride = math.ceil(len(counted) / RECORDED_DRAWS)
    num_recorded = math.ceil(len(counted) / stride)
    y_ood = None if x_ood is None else np.zeros(len(x_ood), y_test.dtype)  # no labels: log densities unread

    def recorded_of(tree, outputs, weight) -> dict[str, jax.Array]:
        record = {"prediction": likelihood.moments(tree["likelihood"], outputs)[moment],
                  "weight": jnp.asarray(weight, jnp.float32)}
        if noise_std is not None:
            record["noise_std"] = noise_std(tree["likelihood"])
        return record

    def init(position) -> Folded:
        trees = draws_of(config, position)
        tree = trees[0]
        outputs = jax.eval_shape(network.apply, tree["network"], x_test)
        record = jax.eval_shape(recorded_of, tree, outputs, 0.0)
        ood = None if x_ood is None else predictive.init(
            likelihood, tree["likelihood"], jax.eval_shape(network.apply, tree["network"], x_ood), y_ood)
        return Folded(predictive.init(likelihood, tree["likelihood"], outputs, y_test), ood,
                      {name: jnp.zeros((num_recorded, len(trees)) + value.shape, value.dtype)
                       for name, value in record.items()})

    def add(folded: Folded, position, weight, index) -> Folded:
        test, ood, records = folded.test, folded.ood, []
        for tree in draws_of(config, position):
            outputs = network.apply(tree["network"], x_test)
            test = predictive.update(test, likelihood=likelihood, lik_params=tree["likelihood"], outputs=outputs,
                                     y=y_test, weight=weight)
            if ood is not None:
                ood = predictive.update(ood, likelihood=likelihood, lik_params=tree["likelihood"],
                                        outputs=network.apply(tree["network"], x_ood), y=y_ood, weight=weight)
            records.append(recorded_of(tree, outputs, weight))
        slot, offset = jnp.divmod(index, stride)
        recorded = jax.tree.map(
            lambda buffer, *values: buffer.at[slot].set(jnp.where(offset == 0, jnp.stack(values), buffer[slot])),
            folded.recorded, *records)
        return Folded(test, ood, recorded)

    def update(folded: Folded, position, weight, draw) -> Folded:
        index = draw - counted.start  # among the counted draws
        return jax.lax.cond(index >= 0, lambda: add(folded, position, weight, index), lambda: folded)

    return samplers.Fold(init, update)


def fold_draws(fold: samplers.Fold, samples, weights: np.ndarray) -> Folded:
    """``fold`` over kept draws, axes (chain, draw), on device, as ``samplers.sample``
    folds them while sampling: every chain's :class:`Folded`, stacked."""
    def one_chain(positions, chain_weights, draws):
        start = fold.init(jax.tree.map(lambda leaf: leaf[0], positions))

        def add_draw(folded, draw):
            return fold.update(folded, *draw), None

        return jax.lax.scan(add_draw, start, (positions, chain_weights, draws))[0]

    draws = jnp.arange(np.shape(weights)[1], dtype=jnp.int32)  # every chain's, as the driver shares them
    return jax.tree.map(np.asarray, jax.jit(jax.vmap(one_chain, (0, 0, None)))(samples, jnp.asarray(weights), draws))


def _per_recorded_draw(values: np.ndarray) -> np.ndarray:
    """``(chain, recorded draw, tree, ...)`` as ``(chain, draw, ...)``, a pair's theta
    before its anchor."""
    return values.reshape(values.shape[0], values.shape[1] * values.shape[2], *values.shape[3:])


def _summary(per_chain: predictive.Predictive) -> dict[str, np.ndarray]:
    """:func:`posterior.predictive.summarise` of the chains' predictives together."""
    return jax.tree.map(np.asarray, predictive.summarise(predictive.combine_chains(per_chain)))


def evaluate(config: Config, dataset: Dataset, folded: Folded, *, weights: np.ndarray,
             run_metrics: dict[str, Any], reference: dict[str, np.ndarray] | None = None) -> Evaluation:
    """The test metrics of the chains that are used, from their folds.

    Args:
        config: the run's config.
        dataset: its data (standardised; metrics are reported in original units).
        folded: the used chains' :class:`Folded` states, stacked (:func:`prediction_fold`).
        weights: ``(chain, draw)`` the weights of every draw those chains counted, for
            the warning on time weights.
        run_metrics: what the run reported so far (``num_chains``, ``draws_per_chain``,
            ``acceptance_rate``, ...), read by the convergence warnings.
        reference: a reference predictive (``experiments.reference.load``) to compare with.

    Returns:
        The :class:`Evaluation`; its ``metrics`` hold what this adds to the run's.
    """
    summary = _summary(folded.test)
    recorded = {name: _per_recorded_draw(np.asarray(values)) for name, values in folded.recorded.items()}
    test_predictions, recorded_weights = recorded["prediction"], recorded["weight"]
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
        rhat, ess = diagnostics.per_prediction(test_predictions, recorded_weights)
        found.update(diagnostics.worst(rhat, ess))
    found["warnings"] = convergence.warnings_of(
        {**run_metrics, **found}, weights=np.asarray(weights) if config.sampler.name == "sa_sgld" else None)
    run_predictive = references.of_run(dataset, split=config.data.split, summary=summary,
                                       test_predictions=test_predictions, noise_stds=recorded.get("noise_std"),
                                       weights=recorded_weights)
    if reference is not None:
        found.update(references.compare(run_predictive, reference))
    if folded.ood is not None:
        ood_probs = _summary(folded.ood)["probs"]
        ood_entropy = metrics.predictive_entropy(ood_probs)
        found.update(metrics.ood_metrics(summary["probs"], ood_probs))
    return Evaluation(found, summary, test_predictions, rhat, ess, run_predictive, per_class, test_entropy,
                      ood_probs, ood_entropy)
