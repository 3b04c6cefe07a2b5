"""Function-space R-hat and ESS: mixed chains, separated chains, too few draws."""

import math

import numpy as np
import pytest

from posterior.diagnostics import function_space_diagnostics, per_prediction

NUM_CHAINS, NUM_DRAWS = 4, 500


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
