"""Metrics against hand-computed values, including weighted draws through the predictive."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, optimize, stats

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


# --- against a reference predictive --------------------------------------------------------

def test_classification_agreement_and_total_variation_by_hand():
    assert metrics.agreement(PROBS, PROBS) == 1.0 and metrics.total_variation(PROBS, PROBS) == 0.0
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    disjoint = np.eye(3)[[1, 2, 0, 2]]
    assert metrics.agreement(one_hot, disjoint) == 0.0 and metrics.total_variation(one_hot, disjoint) == 1.0
    # Against [0.5, 0.4, 0.1] and [0.1, 0.2, 0.7]: top-1 0 = 0, 1 != 2; TV 1/2 (0.2 + 0.2) and 1/2 (0.1 + 0.3 + 0.4).
    reference = np.array([[0.5, 0.4, 0.1], [0.1, 0.2, 0.7]])
    result = metrics.classification_reference_metrics(PROBS[:2], reference)
    assert result == pytest.approx({"reference_agreement": 0.5, "reference_tv": (0.2 + 0.4) / 2})
    with pytest.raises(ValueError, match="one shape"):
        metrics.total_variation(PROBS, reference)


def gaussians(means, stds, weights=None) -> metrics.GaussianMixture:
    """A mixture of ``len(means)`` components at each of ``means.shape[1]`` test points."""
    means = np.asarray(means, np.float64)
    return metrics.GaussianMixture(means, np.asarray(stds, np.float64),
                                   np.ones(len(means)) if weights is None else np.asarray(weights, np.float64))


@pytest.mark.parametrize("sigma", [1e-3, 1.0, 40.0])
def test_mixture_total_variation_of_two_gaussians_matches_the_closed_form(sigma):
    """N(0, s^2) against N(d, s^2): TV = 2 Phi(|d| / (2 s)) - 1, here within 1e-4 (required: 1e-3)."""
    for gap in [0.0, 0.01, 0.3, 1.0, 2.5, 6.0, 20.0]:
        tv = metrics.mixture_total_variation(gaussians([[0.0]], [sigma]), gaussians([[gap * sigma]], [sigma]))
        assert tv == pytest.approx(2 * stats.norm.cdf(gap / 2) - 1, abs=1e-4), gap


def test_mixture_total_variation_matches_adaptive_quadrature():
    """Mixtures of unequal weights and widths (the densities cross several times) against scipy's quad."""
    first = gaussians([[-1.0, 0.0], [0.5, 3.0], [2.0, 0.2]], [[0.3, 1.0], [0.8, 0.5], [0.5, 2.0]], [1.0, 2.0, 1.0])
    second = gaussians([[0.0, 0.5], [1.0, 1.0]], [0.6, 0.4], [3.0, 1.0])

    def density(mixture, point, y):
        stds = np.broadcast_to(mixture.stds.reshape(len(mixture.stds), -1), mixture.means.shape)
        weights = mixture.weights / mixture.weights.sum()
        return np.sum(weights * stats.norm.pdf(y, mixture.means[:, point], stds[:, point]))

    expected = [0.5 * integrate.quad(lambda y: abs(density(first, point, y) - density(second, point, y)),
                                     -20, 20, limit=500, epsabs=1e-10)[0] for point in range(2)]
    assert metrics.mixture_total_variation(first, second) == pytest.approx(np.mean(expected), abs=1e-4)
    assert 0.1 < np.mean(expected) < 0.9  # the premise: neither identical nor disjoint


def test_identical_mixtures_agree_and_far_ones_do_not():
    rng = np.random.default_rng(0)
    mixture = gaussians(rng.normal(size=(20, 7)), rng.uniform(0.2, 1.0, size=20), rng.uniform(0.5, 2.0, size=20))
    assert metrics.regression_reference_metrics(mixture, mixture) == {"reference_agreement": 1.0,
                                                                      "reference_tv": 0.0}
    far = mixture._replace(means=mixture.means + 100.0)
    result = metrics.regression_reference_metrics(mixture, far)
    assert result["reference_agreement"] == 0.0 and result["reference_tv"] == pytest.approx(1.0, abs=1e-6)


def test_mixture_quartiles_by_bisection():
    # N(0, 1): quartiles -+0.674489...; the symmetric 1/2 N(-1, 0.5^2) + 1/2 N(1, 0.5^2) against brentq.
    single = gaussians(np.zeros((1, 3)), [1.0])
    np.testing.assert_allclose(metrics.mixture_quantile(single, 0.75), stats.norm.ppf(0.75), rtol=1e-12)
    pair = gaussians([[-1.0], [1.0]], [0.5, 0.5])
    upper = optimize.brentq(lambda y: np.mean(stats.norm.cdf(y, [-1.0, 1.0], 0.5)) - 0.75, 0.0, 5.0, xtol=1e-14)
    np.testing.assert_allclose(metrics.mixture_quantile(pair, 0.75), upper, rtol=1e-10)
    np.testing.assert_allclose(metrics.mixture_quantile(pair, 0.25), -upper, rtol=1e-10)
    with pytest.raises(ValueError, match="q in"):
        metrics.mixture_quantile(pair, 1.0)


def test_regression_agreement_counts_means_between_the_reference_quartiles():
    # Reference N(1, 2^2) at 5 points: quartiles 1 -+ 1.34898; run means 1, 2.3, 2.4, -0.3, -5 (two draws
    # each, weights 1 and 3): inside, inside, outside, inside, outside.
    reference = gaussians(np.ones((1, 5)), [2.0])
    target = np.array([1.0, 2.3, 2.4, -0.3, -5.0])
    run = gaussians([target - 3.0, target + 1.0], [[0.1] * 5, [5.0] * 5], [1.0, 3.0])
    np.testing.assert_allclose(metrics.mixture_mean(run), target)
    assert metrics.mixture_agreement(run, reference) == pytest.approx(3 / 5)
    # Ours, not top-1: a mixture whose mean lies beyond its own quartiles disagrees with itself.
    skewed = gaussians([[0.0], [10.0]], [0.1, 0.1], [0.9, 0.1])  # mean 1.0, upper quartile near 0.1
    assert metrics.mixture_agreement(skewed, skewed) == 0.0


@pytest.mark.parametrize("mixture, message", [
    (metrics.GaussianMixture(np.zeros((2, 3)), np.ones(3), np.ones(2)), "need means"),
    (metrics.GaussianMixture(np.zeros((2, 3)), np.zeros(2), np.ones(2)), "standard deviations > 0"),
    (metrics.GaussianMixture(np.zeros((2, 3)), np.ones(2), np.zeros(2)), "positive sum"),
    (metrics.GaussianMixture(np.zeros((2, 4)), np.ones(2), np.ones(2)), "cover 3 and 4 test points"),
])
def test_bad_mixtures_are_refused(mixture, message):
    with pytest.raises(ValueError, match=message):
        metrics.mixture_total_variation(gaussians(np.zeros((1, 3)), [1.0]), mixture)


# --- calibration, per class, and out-of-distribution detection ------------------------------

def test_reliability_bins_match_a_per_point_count():
    """Counts, mean confidences and accuracies per bin against a loop over points and bins."""
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(4, 0.5), size=300)
    probs[:3] = [1.0, 0.0, 0.0, 0.0]  # confidence 1, on the last edge
    labels = rng.integers(0, 4, size=300)
    table = metrics.reliability(probs, labels, num_bins=10)
    confidence, correct = probs.max(axis=1), probs.argmax(axis=1) == labels
    for b in range(10):
        inside = [(table.edges[b] < c <= table.edges[b + 1]) or (b == 0 and c == 0.0) for c in confidence]
        assert table.count[b] == sum(inside)
        if any(inside):
            assert table.confidence[b] == pytest.approx(np.mean(confidence[inside]))
            assert table.accuracy[b] == pytest.approx(np.mean(correct[inside]))
        else:
            assert np.isnan(table.confidence[b]) and np.isnan(table.accuracy[b])
    # 10 bins over 300 points of 4 classes leave the lowest bins (confidence <= 0.2 < 1/4) empty.
    assert table.count[:2].sum() == 0 and table.count.sum() == 300


def test_ece_is_the_weighted_gap_of_the_reliability_table():
    rng = np.random.default_rng(4)
    probs, labels = rng.dirichlet(np.ones(5), size=200), rng.integers(0, 5, size=200)
    for num_bins in [1, 7, 15]:
        table = metrics.reliability(probs, labels, num_bins=num_bins)
        occupied = table.count > 0
        expected = np.sum(table.count[occupied] / 200 * np.abs(table.accuracy[occupied] - table.confidence[occupied]))
        assert metrics.ece(probs, labels, num_bins=num_bins) == pytest.approx(expected, abs=1e-15)
    # One bin: the gap between overall accuracy and mean confidence.
    assert metrics.ece(probs, labels, num_bins=1) == pytest.approx(abs(metrics.accuracy(probs, labels)
                                                                       - probs.max(axis=1).mean()))


def test_per_class_accuracy_by_hand():
    # Top-1 predictions 0, 1, 2, 0 against labels 0, 2, 2, 1: class 0 1/1, class 1 0/1, class 2 1/2,
    # class 3 has no test points.
    np.testing.assert_array_equal(metrics.per_class_accuracy(PROBS, LABELS, 4), [1.0, 0.0, 0.5, np.nan])
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        metrics.per_class_accuracy(PROBS, LABELS, 2)


def test_predictive_entropy_of_uniform_one_hot_and_hand_cases():
    for classes in [2, 10, 100]:
        np.testing.assert_allclose(metrics.predictive_entropy(np.full((3, classes), 1 / classes)), math.log(classes),
                                   rtol=1e-12)
    np.testing.assert_array_equal(metrics.predictive_entropy(np.eye(4)), np.zeros(4))  # 0 log 0 = 0, not NaN
    np.testing.assert_allclose(metrics.predictive_entropy([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]]),
                               [math.log(2), 1.5 * math.log(2)], rtol=1e-12)


def pairwise_auroc(scores_in, scores_out) -> float:
    """The Mann-Whitney count over all (in, OOD) pairs, a tie counting 1/2."""
    above = np.asarray(scores_out)[:, None] > np.asarray(scores_in)[None, :]
    tied = np.asarray(scores_out)[:, None] == np.asarray(scores_in)[None, :]
    return float(np.mean(above + 0.5 * tied))


def threshold_average_precision(scores_in, scores_out) -> float:
    """``sum_t (R_t - R_t') P_t`` by a loop over the distinct scores, from the highest."""
    scores = np.concatenate([scores_in, scores_out])
    positive = np.r_[np.zeros(len(scores_in)), np.ones(len(scores_out))]
    total, previous_recall = 0.0, 0.0
    for threshold in sorted(set(scores.tolist()), reverse=True):
        flagged = scores >= threshold
        recall = positive[flagged].sum() / positive.sum()
        total += (recall - previous_recall) * positive[flagged].mean()
        previous_recall = recall
    return total


@pytest.mark.parametrize("sizes", [(1, 1), (7, 3), (40, 55), (200, 150)])
def test_auroc_and_aupr_match_their_definitions_with_ties(sizes):
    rng = np.random.default_rng(sum(sizes))
    scores_in, scores_out = rng.integers(0, 6, size=sizes[0]) / 2, rng.integers(1, 8, size=sizes[1]) / 2
    assert metrics.auroc(scores_in, scores_out) == pytest.approx(pairwise_auroc(scores_in, scores_out), abs=1e-12)
    assert metrics.aupr(scores_in, scores_out) == pytest.approx(threshold_average_precision(scores_in, scores_out),
                                                                abs=1e-12)
    # Swapping the roles flips the order of every untied pair.
    assert metrics.auroc(scores_out, scores_in) == pytest.approx(1 - metrics.auroc(scores_in, scores_out), abs=1e-12)


def test_auroc_and_aupr_agree_with_scikit_learn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    for _ in range(20):
        scores_in, scores_out = rng.integers(0, 10, size=rng.integers(1, 60)), rng.integers(3, 12, size=60)
        labels, scores = np.r_[np.zeros(len(scores_in)), np.ones(60)], np.r_[scores_in, scores_out]
        assert metrics.auroc(scores_in, scores_out) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores))
        assert metrics.aupr(scores_in, scores_out) == pytest.approx(
            sklearn_metrics.average_precision_score(labels, scores))


def test_auroc_and_aupr_at_the_extremes():
    low, high = np.arange(5.0), np.arange(10.0, 13.0)
    assert metrics.auroc(low, high) == 1.0 and metrics.aupr(low, high) == 1.0
    assert metrics.auroc(high, low) == 0.0
    # Every score tied: one threshold flags everything, so the precision is the OOD fraction 3/8.
    assert metrics.auroc(np.ones(5), np.ones(3)) == 0.5 and metrics.aupr(np.ones(5), np.ones(3)) == pytest.approx(3 / 8)
    for scores_in, scores_out in [([], [1.0]), ([1.0], np.ones((2, 2))), ([np.nan], [1.0])]:
        with pytest.raises(ValueError):
            metrics.auroc(scores_in, scores_out)


def test_auroc_of_one_distribution_is_one_half_within_the_mann_whitney_spread():
    """Under no difference the area has mean 1/2 and variance (n_in + n_out + 1) / (12 n_in n_out)."""
    rng = np.random.default_rng(6)
    n_in, n_out = 3000, 1000
    spread = math.sqrt((n_in + n_out + 1) / (12 * n_in * n_out))
    assert metrics.auroc(rng.normal(size=n_in), rng.normal(size=n_out)) == pytest.approx(0.5, abs=4 * spread)


def test_aupr_of_one_distribution_is_the_ood_fraction_in_expectation():
    """Random order of ``P`` OOD among ``N`` points: the OOD point at place ``r`` (chance ``P/N``)
    has on average ``1 + (r - 1)(P - 1)/(N - 1)`` OOD points at or above it, so
    ``E[AP] = (H_N + (P - 1)/(N - 1) (N - H_N)) / N``, ``H_N`` the harmonic number:
    ``P/N + O(log N / N)``. The mean of many draws lies within 4 standard errors of it."""
    rng = np.random.default_rng(7)
    n_in, n_out, repeats = 30, 10, 4000
    values = [metrics.aupr(rng.random(n_in), rng.random(n_out)) for _ in range(repeats)]
    total = n_in + n_out
    harmonic = np.sum(1 / np.arange(1, total + 1))
    expected = (harmonic + (n_out - 1) / (total - 1) * (total - harmonic)) / total
    assert np.mean(values) == pytest.approx(expected, abs=4 * np.std(values) / math.sqrt(repeats))
    # With many points the expectation is the OOD fraction.
    assert metrics.aupr(rng.random(30_000), rng.random(10_000)) == pytest.approx(0.25, abs=0.01)


def test_ood_metrics_by_predictive_entropy():
    confident = np.eye(3)[[0, 1, 2, 0]] * 0.9 + 0.1 / 3  # entropy well below log 3
    uniform = np.full((2, 3), 1 / 3)
    assert metrics.ood_metrics(confident, uniform) == {"test_ood_auroc": 1.0, "test_ood_aupr": 1.0}
    assert metrics.ood_metrics(uniform, confident)["test_ood_auroc"] == 0.0
    with pytest.raises(ValueError, match="3 and 2 classes"):
        metrics.ood_metrics(confident, np.full((2, 2), 0.5))
