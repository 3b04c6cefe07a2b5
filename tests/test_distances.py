"""``posterior.distances``: weight-aware MMD, sliced W2 and moment errors."""

import numpy as np
import pytest

from posterior import distances


def gaussian(n, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 2)) + shift


def test_a_weight_of_two_counts_as_two_draws():
    rng = np.random.default_rng(3)
    points, reference = rng.normal(size=(50, 2)), rng.normal(size=(80, 2)) + 0.3
    counts = rng.integers(1, 4, size=50)
    duplicated = np.repeat(points, counts, axis=0)
    assert distances.mmd(points, reference, weights=counts) == pytest.approx(distances.mmd(duplicated, reference),
                                                                               rel=1e-9)
    assert distances.sliced_wasserstein(points, reference, weights=counts) == pytest.approx(
        distances.sliced_wasserstein(duplicated, reference), rel=1e-9)
    np.testing.assert_allclose(distances.weighted_moments(points, counts)[1],
                               np.cov(duplicated.T, bias=True), rtol=1e-9)


def test_mmd_separates_a_shift_from_sampling_noise():
    reference = gaussian(2000, seed=1)
    same, shifted = distances.mmd(gaussian(2000, seed=2), reference), distances.mmd(gaussian(2000, 0.5, 2), reference)
    # Same distribution: MMD of order 1/sqrt(n) ~ 0.02-0.03; a shift of half a standard
    # deviation: about 0.2 at the median-heuristic bandwidth.
    assert same < 0.05 and shifted > 4 * same, (same, shifted)


def test_sliced_wasserstein_of_a_shift_is_its_length_over_root_d():
    # W2 between N(0, I) and N(mu, I) projected on a unit direction u is |u . mu|; its mean
    # square over uniform directions in 2-D is |mu|^2 / 2. With 400 directions the average
    # of cos^2 is within about 4% of 1/2; sampling noise at n = 20000 adds ~1%.
    mu = np.array([3.0, 4.0])
    value = distances.sliced_wasserstein(gaussian(20_000, seed=4), gaussian(20_000, mu, 5), num_directions=400)
    assert value == pytest.approx(5.0 / np.sqrt(2.0), rel=0.06)
    assert distances.sliced_wasserstein(gaussian(20_000, seed=4), gaussian(20_000, seed=5)) < 0.05


def test_one_dimensional_wasserstein_is_exact():
    # Point masses at 0 and 1 with weights 3:1 against a point mass at 1: W2^2 = 3/4 along
    # the only direction (both directions are +-e1 in 1-D).
    value = distances.sliced_wasserstein(np.array([[0.0], [1.0]]), np.array([[1.0]]), weights=np.array([3.0, 1.0]),
                                         num_directions=3)
    assert value == pytest.approx(np.sqrt(0.75), rel=1e-12)


def test_moment_errors_of_a_known_sample():
    samples, weights = np.array([[0.0, 0.0], [2.0, 0.0]]), np.array([1.0, 3.0])
    errors = distances.moment_errors(samples, np.zeros(2), np.eye(2), weights=weights)
    # weighted mean (1.5, 0): 1.5 sds; covariance diag(0.75, 0) against I: |(-0.25, -1)| / sqrt(2).
    assert errors["mean_error"] == pytest.approx(1.5)
    assert errors["cov_error"] == pytest.approx(np.sqrt(0.25**2 + 1.0) / np.sqrt(2.0))


@pytest.mark.parametrize("weights", [np.array([1.0, -1.0]), np.array([0.0, 0.0]), np.array([1.0]),
                                     np.array([np.nan, 1.0])])
def test_bad_weights_are_refused(weights):
    with pytest.raises(ValueError, match="weights"):
        distances.mmd(np.zeros((2, 2)), np.ones((3, 2)), weights=weights)


def test_unbiased_squared_mmd_of_exact_draws_is_centred_on_zero():
    # 40 pairs of independent N(0, I) samples of 300 points: the unbiased estimate averages
    # to zero (its spread is ~1/n, so the mean of 40 is within a few 1e-4), while the
    # biased one sits (1 - E k(x, x')) (1/n + 1/m) above it: E k ~ 0.55 at the
    # median-heuristic bandwidth in 2-D, so about 0.9 / 300.
    unbiased, biased = [], []
    for seed in range(40):
        samples, reference = gaussian(300, seed=2 * seed), gaussian(300, seed=2 * seed + 1)
        unbiased.append(distances.squared_mmd(samples, reference))
        biased.append(distances.squared_mmd(samples, reference, unbiased=False))
    unbiased, biased = np.array(unbiased), np.array(biased)
    assert abs(unbiased.mean()) < 4 * unbiased.std(ddof=1) / np.sqrt(len(unbiased)), unbiased.mean()
    assert 0.6 / 300 < biased.mean() - unbiased.mean() < 1.2 / 300
    assert distances.squared_mmd(gaussian(300, 0.5, 3), gaussian(300, seed=4)) > 10 * unbiased.std(ddof=1)


def test_kernel_blocks_do_not_change_the_answer(monkeypatch):
    rng = np.random.default_rng(6)
    samples, reference, weights = rng.normal(size=(70, 2)), rng.normal(size=(90, 2)), rng.uniform(0.5, 2, 70)
    whole = distances.squared_mmd(samples, reference, weights=weights)
    monkeypatch.setattr(distances, "_KERNEL_ROWS", 16)
    assert distances.squared_mmd(samples, reference, weights=weights) == pytest.approx(whole, rel=1e-12)
