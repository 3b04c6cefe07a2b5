"""Function-space R-hat and ESS: mixed chains, separated chains, too few draws, weighted draws."""

import math

import numpy as np
import pytest

from posterior.diagnostics import per_prediction, worst

NUM_CHAINS, NUM_DRAWS = 4, 500


def function_space_diagnostics(predictions, weights=None):
    return worst(*per_prediction(predictions, weights))


def test_iid_chains_have_rhat_near_one_and_ess_near_the_draw_count():
    predictions = np.random.default_rng(0).normal(size=(NUM_CHAINS, NUM_DRAWS, 3))
    result = function_space_diagnostics(predictions)
    assert 0.99 < result["rhat_max"] < 1.02
    assert 0.75 * NUM_CHAINS * NUM_DRAWS < result["ess_min"] < 1.25 * NUM_CHAINS * NUM_DRAWS


def test_chains_with_different_means_have_large_rhat():
    predictions = np.random.default_rng(1).normal(size=(NUM_CHAINS, NUM_DRAWS, 3))
    predictions[:, :, 2] += np.arange(NUM_CHAINS)[:, None]  # one test point where chains disagree
    assert function_space_diagnostics(predictions)["rhat_max"] > 1.5
    rhat, ess = per_prediction(predictions)
    assert rhat.shape == ess.shape == (3,)
    assert np.all(rhat[:2] < 1.02) and rhat[2] > 1.5


def test_autocorrelated_chains_have_small_ess():
    rng = np.random.default_rng(2)
    noise = rng.normal(size=(NUM_CHAINS, NUM_DRAWS, 2))
    chains = np.zeros_like(noise)
    for t in range(1, NUM_DRAWS):  # AR(1) with coefficient 0.9: ESS about N (1 - 0.9) / (1 + 0.9)
        chains[:, t] = 0.9 * chains[:, t - 1] + noise[:, t]
    ess = function_space_diagnostics(chains)["ess_min"]
    assert ess < 0.15 * NUM_CHAINS * NUM_DRAWS


def test_too_few_draws_give_nan():
    result = function_space_diagnostics(np.zeros((4, 3, 5)))
    assert math.isnan(result["rhat_max"]) and math.isnan(result["ess_min"])
    rhat, ess = per_prediction(np.zeros((4, 3, 5)))
    assert rhat.shape == ess.shape == (5,) and np.all(np.isnan(rhat)) and np.all(np.isnan(ess))
    with pytest.raises(ValueError, match="chain, draw"):
        function_space_diagnostics(np.zeros(10))


def test_equal_weights_change_nothing():
    rng = np.random.default_rng(3)
    predictions = rng.normal(size=(NUM_CHAINS, NUM_DRAWS, 3)) + np.arange(NUM_CHAINS)[:, None, None]
    unweighted = per_prediction(predictions)
    weighted = per_prediction(predictions, np.full((NUM_CHAINS, NUM_DRAWS), 2.5))
    for a, b in zip(unweighted, weighted):
        np.testing.assert_allclose(b, a, rtol=1e-10)


def test_weighted_ess_of_independent_draws_is_kish():
    # Independent draws with weights independent of them: the weighted mean has variance
    # sigma^2 sum w^2 / (sum w)^2, i.e. Kish's (sum w)^2 / sum w^2 independent draws. Over
    # 50 quantities the ESS estimates scatter by about 5% each; their mean is within 5%.
    rng = np.random.default_rng(4)
    predictions = rng.normal(size=(NUM_CHAINS, 2000, 50))
    weights = rng.lognormal(sigma=1.0, size=(NUM_CHAINS, 2000))
    kish = weights.sum() ** 2 / np.sum(weights**2)
    assert kish < 0.5 * weights.size  # the weights matter
    rhat, ess = per_prediction(predictions, weights)
    assert np.mean(ess) == pytest.approx(kish, rel=0.05) and np.all(rhat < 1.05)


def test_weights_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="weights must have shape"):
        per_prediction(np.zeros((4, 10, 3)), np.ones((4, 9)))
