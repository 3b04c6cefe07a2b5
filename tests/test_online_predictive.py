"""``posterior run`` folds every chain's predictive on device as it samples: the metrics of
the kept draws, in memory that does not grow with their number."""

import dataclasses

import jax
import numpy as np
import pytest

from conftest import TINY
from experiments import build, config as configs, experiment
from experiments.evaluate import RECORDED_DRAWS

# 600 draws per chain, more than are recorded: every third is (draws 0, 3, .., 597).
MANY_DRAWS = {"num_chains": 2, "num_steps": 700, "burn_in": 100, "thin": 1, "batch_size": 16}
STRIDE = 3
SETTINGS = {
    "gaussian": {"sampling": MANY_DRAWS},
    "categorical, with OOD inputs": {
        "data": {"name": "digits", "held_out_class": 9}, "likelihood": {"name": "categorical"},
        "eval": {"ood": {"kind": "held_out_class"}}, "sampler": {"name": "sgld", "step_size": 1e-4},
        "sampling": {**MANY_DRAWS, "batch_size": 64}},
    "entropy-mcmc pairs": {"sampler": {"name": "entropy_mcmc", "step_size": 1e-4, "predict_with": "both"},
                           "sampling": MANY_DRAWS},
}


def run(config: configs.Config, data_root: str, **sampling) -> experiment.Outcome:
    config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, **sampling))
    return experiment.run_experiment(config, data_root=data_root, log=lambda message: None, progress=False)


def predictions_of_kept_draws(config: configs.Config, outcome: experiment.Outcome) -> np.ndarray:
    """Each kept draw's test predictive mean (class probabilities), computed here from the
    saved draws: ``(chain, draw, tree, test point[, class])``."""
    network, likelihood = build.build_network(config, outcome.dataset), build.build_likelihood(config,
                                                                                                outcome.dataset)
    samples = outcome.draws["samples"]
    trees = samples if config.sampler.predict_with == "both" else (samples,)
    moment = "probs" if config.likelihood.name == "categorical" else "mean"

    def prediction(position):
        outputs = network.apply(position["network"], outcome.dataset.x_test)
        return likelihood.moments(position["likelihood"], outputs)[moment]

    per_draw = jax.jit(jax.vmap(jax.vmap(prediction)))
    return np.stack([np.asarray(per_draw(tree)) for tree in trees], axis=2)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_the_predictive_folded_while_sampling_is_the_one_of_the_kept_draws(setting, uci_env):
    config = configs.from_dict({**TINY, **SETTINGS[setting]})
    folded, kept = (run(config, uci_env["POSTERIOR_DATA"], save_samples=save) for save in (False, True))
    assert folded.draws["samples"] is None and kept.draws["samples"] is not None
    assert folded.metrics["status"] == kept.metrics["status"] == "ok"
    for name, value in kept.summary.items():
        np.testing.assert_allclose(folded.summary[name], value, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(folded.test_predictions, kept.test_predictions, rtol=1e-5, atol=1e-6)
    for name in ("test_rmse", "test_ll", "test_accuracy", "test_nll", "test_ood_auroc", "rhat_max", "ess_min"):
        if name in kept.metrics:
            assert folded.metrics[name] == pytest.approx(kept.metrics[name], rel=1e-4), name
    if "test_ood_auroc" in kept.metrics:
        np.testing.assert_allclose(folded.ood_probs, kept.ood_probs, rtol=1e-5, atol=1e-6)

    # Against the saved draws, averaged here: every draw counted, every third recorded.
    predictions = predictions_of_kept_draws(config, kept)
    pairs = predictions.shape[2]
    assert kept.metrics["draws_per_chain"] == 600 * pairs
    moment = "probs" if config.likelihood.name == "categorical" else "mean"
    np.testing.assert_allclose(folded.summary[moment], predictions.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    recorded = predictions[:, ::STRIDE]
    assert folded.test_predictions.shape == (2, 600 // STRIDE * pairs) + predictions.shape[3:]
    np.testing.assert_allclose(folded.test_predictions, recorded.reshape(folded.test_predictions.shape),
                               rtol=1e-5, atol=1e-6)


def test_what_is_recorded_stays_bounded_while_the_draws_grow_tenfold(uci_env):
    config = configs.from_dict(TINY)
    shapes = {}
    for num_draws in (10 * RECORDED_DRAWS, 100 * RECORDED_DRAWS):
        outcome = run(config, uci_env["POSTERIOR_DATA"], num_steps=100 + num_draws, burn_in=100, thin=1)
        assert outcome.metrics["status"] == "ok" and outcome.metrics["draws_per_chain"] == num_draws
        assert outcome.draws["samples"] is None, "no draw was kept"
        assert outcome.draws["weights"].shape == (2, num_draws)  # a number per draw is all that grows
        shapes[num_draws] = (outcome.test_predictions.shape, outcome.predictive["means"].shape)
    num_test = len(outcome.dataset.x_test)
    assert set(shapes.values()) == {((2, RECORDED_DRAWS, num_test), (2 * RECORDED_DRAWS, num_test))}
