"""Metrics against hand-computed values, including weighted draws through the predictive."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from posterior import likelihoods, metrics, predictive


def summarise_draws(likelihood, outputs, y, weights, lik_params=None):
    """The summary of an accumulator fed ``outputs[s]`` with ``weights[s]``."""
    lik_params = {} if lik_params is None else lik_params
    acc = predictive.init(likelihood, lik_params, outputs[0], y)
    for f, weight in zip(outputs, weights):
        acc = predictive.update(acc, likelihood=likelihood, lik_params=lik_params, outputs=f, y=y, weight=weight)
    return predictive.summarise(acc)


def test_weighted_gaussian_draws_give_the_mixture():
    """Two draws with weights 1 and 3: the predictive is 1/4 N(mu_1, s^2) + 3/4 N(mu_2, s^2)."""
    mu_1, mu_2, s = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.0]), 0.5
    y = np.array([0.5, 2.0, -1.0])
    outputs = jnp.stack([mu_1[:, None], mu_2[:, None]])
    summary = summarise_draws(likelihoods.Gaussian(noise_std=s), outputs, jnp.asarray(y), [1.0, 3.0])
    mixture = 0.25 * stats.norm.pdf(y, mu_1, s) + 0.75 * stats.norm.pdf(y, mu_2, s)
    np.testing.assert_allclose(summary["log_density"], np.log(mixture), rtol=1e-5)
    np.testing.assert_allclose(summary["mean"], 0.25 * mu_1 + 0.75 * mu_2, rtol=1e-6)
    # Mixture variance: s^2 plus the weighted spread of the means, p (1 - p) (mu_1 - mu_2)^2.
    np.testing.assert_allclose(summary["std"], np.sqrt(s**2 + 0.25 * 0.75 * (mu_1 - mu_2) ** 2), rtol=1e-5)
    # Point 1: both draws predict 1.0, so the predictive is N(1, 0.25) at y = 2: log density
    # -log(0.5) - log(2 pi)/2 - 2 = -1.2258...; the other points read off the mixture above.
    assert float(summary["log_density"][1]) == pytest.approx(-math.log(0.5) - 0.5 * math.log(2 * math.pi) - 2.0,
                                                             rel=1e-5)
    result = metrics.regression_metrics(summary, y, y_scale=1.0)
    assert result["test_ll"] == pytest.approx(np.mean(np.log(mixture)), rel=1e-5)
    # Errors of the mean (0.75, 1.75, 0.5): residuals -0.25, -1.0, -0.5 -> sqrt((0.0625 + 1 + 0.25) / 3).
    assert result["test_rmse"] == pytest.approx(math.sqrt(1.3125 / 3), rel=1e-6)


def test_rmse_and_log_likelihood_by_hand():
    assert metrics.rmse([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]) == pytest.approx(math.sqrt(5 / 3))
    assert metrics.rmse(jnp.array([1.0, 2.0, 3.0]), np.ones((3, 1)), scale=2.0) == pytest.approx(2 * math.sqrt(5 / 3))
    assert metrics.log_likelihood([-1.0, -2.0, -3.0]) == pytest.approx(-2.0)
    assert metrics.log_likelihood([-1.0, -2.0, -3.0], scale=math.e) == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="targets"):
        metrics.rmse([1.0, 2.0], [1.0, 2.0, 3.0])


def test_standardised_metrics_convert_to_original_units():
    """Metrics of a model on standardised targets equal those computed in the original units."""
    rng = np.random.default_rng(0)
    y_original = 30.0 + 8.0 * rng.normal(size=50)
    shift, scale = y_original.mean(), y_original.std()
    z = (y_original - shift) / scale
    mean_z, noise_z = z + 0.3 * rng.normal(size=50), 0.4  # a standardised Gaussian prediction
    summary = summarise_draws(likelihoods.Gaussian(noise_std=noise_z), jnp.asarray(mean_z)[None, :, None],
                              jnp.asarray(z), [1.0])
    result = metrics.regression_metrics(summary, z, y_scale=scale)
    mean_original, noise_original = shift + scale * mean_z, scale * noise_z
    assert result["test_rmse"] == pytest.approx(np.sqrt(np.mean((mean_original - y_original) ** 2)), rel=1e-5)
    expected_ll = np.mean(stats.norm.logpdf(y_original, mean_original, noise_original))
    assert result["test_ll"] == pytest.approx(expected_ll, rel=1e-5)


PROBS = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6], [0.4, 0.35, 0.25]])
LABELS = np.array([0, 2, 2, 1])


def test_accuracy_and_brier_by_hand():
    # Top-1 predictions 0, 1, 2, 0 against labels 0, 2, 2, 1: two right.
    assert metrics.accuracy(PROBS, LABELS) == pytest.approx(0.5)
    # Squared errors per point: 0.09+0.04+0.01, 0.04+0.25+0.49, 0.01+0.09+0.16, 0.16+0.4225+0.0625.
    assert metrics.brier(PROBS, LABELS) == pytest.approx((0.14 + 0.78 + 0.26 + 0.645) / 4)


def test_ece_by_hand():
    # 15 bins: confidences 0.9, 0.9 share (0.867, 0.933] with accuracy 1/2 (gap 0.4); 0.55, 0.55
    # share (0.533, 0.6] with accuracy 1 (gap 0.45). Each bin holds half the points.
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.45, 0.55], [0.55, 0.45]])
    assert metrics.ece(probs, np.array([0, 1, 1, 0])) == pytest.approx(0.5 * 0.4 + 0.5 * 0.45)
    # Confidence 0.6 (right) and 0.8 (wrong): apart in 15 bins, gaps 0.4 and 0.8; together in the
    # upper of 2 bins, accuracy 1/2 against mean confidence 0.7.
    probs = np.array([[0.6, 0.4], [0.8, 0.2]])
    assert metrics.ece(probs, np.array([0, 1])) == pytest.approx(0.6)
    assert metrics.ece(probs, np.array([0, 1]), num_bins=2) == pytest.approx(0.2)
    # Bins are closed on the right: confidence 0.5 (right) falls in (0, 0.5] of 2 bins, apart
    # from 0.75 (wrong) in (0.5, 1]: gaps 0.5 and 0.75.
    probs = np.array([[0.5, 0.5], [0.75, 0.25]])
    assert metrics.ece(probs, np.array([0, 1]), num_bins=2) == pytest.approx((0.5 + 0.75) / 2)
    # Perfectly confident and right: no calibration error.
    assert metrics.ece(np.eye(3), np.arange(3)) == pytest.approx(0.0)


def test_nll_is_that_of_the_averaged_probabilities():
    """Two categorical draws with weights 1 and 3; NLL = -mean log(weighted-average p(true label))."""
    logits = jnp.log(jnp.array([[[0.5, 0.5], [0.9, 0.1]], [[0.1, 0.9], [0.2, 0.8]]]))
    labels = jnp.array([0, 1])
    summary = summarise_draws(likelihoods.Categorical(), logits, labels, [1.0, 3.0])
    # Averaged p(true label): point 0: (0.5 + 3 * 0.1) / 4 = 0.2; point 1: (0.1 + 3 * 0.8) / 4 = 0.625.
    expected_nll = -(math.log(0.2) + math.log(0.625)) / 2
    assert metrics.nll(summary["log_density"]) == pytest.approx(expected_nll, rel=1e-5)
    result = metrics.classification_metrics(summary, labels)
    assert set(result) == {"test_accuracy", "test_nll", "test_ece", "test_brier"}
    assert result["test_nll"] == pytest.approx(expected_nll, rel=1e-5)
    # Averaged probabilities [0.2, 0.8] and [0.375, 0.625]: both predict class 1.
    assert result["test_accuracy"] == pytest.approx(0.5)
    assert result["test_brier"] == pytest.approx((2 * 0.8**2 + 2 * 0.375**2) / 2, rel=1e-5)
    # Confidences 0.8 (wrong) and 0.625 (right) in separate bins: (0.8 + 0.375) / 2.
    assert result["test_ece"] == pytest.approx((0.8 + 0.375) / 2, rel=1e-5)
