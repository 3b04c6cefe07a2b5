"""``posterior.toy_targets``: exact draws have the exact moments, and the log densities
belong to the same distributions as the draws (Stein's identity)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posterior import toy_targets

NUM_DRAWS = 200_000
NUM_BATCHES = 20
# Batch means of 20 batches: |error| <= 4.5 standard errors has a false-alarm rate below
# 1e-4 per quantity even with the t(19) tails of a 20-batch standard error.
TOLERANCE_SE = 4.5


def batch_check(values: np.ndarray, expected: np.ndarray, label: str) -> None:
    """``values`` (NUM_DRAWS, k): their mean equals ``expected`` within TOLERANCE_SE batch standard errors."""
    batches = values.reshape(NUM_BATCHES, -1, values.shape[-1]).mean(axis=1)
    mean, standard_error = batches.mean(axis=0), batches.std(axis=0, ddof=1) / np.sqrt(NUM_BATCHES)
    z = (mean - expected) / standard_error
    assert np.all(np.abs(z) <= TOLERANCE_SE), f"{label}: estimated {mean}, expected {expected}, z {z}"


@pytest.fixture(scope="module", params=sorted(toy_targets.TARGETS))
def target_and_draws(request):
    target = toy_targets.TARGETS[request.param]()
    return target, target.sample(np.random.default_rng(0), NUM_DRAWS)


def test_exact_draws_have_the_exact_moments(target_and_draws):
    target, draws = target_and_draws
    assert draws.shape == (NUM_DRAWS, 2)
    batch_check(draws, target.mean, f"{target.name} mean")
    centred = draws - target.mean
    products = np.stack([centred[:, 0] ** 2, centred[:, 1] ** 2, centred[:, 0] * centred[:, 1]], axis=1)
    batch_check(products, np.array([target.cov[0, 0], target.cov[1, 1], target.cov[0, 1]]), f"{target.name} covariance")


def test_the_log_density_is_that_of_the_draws(target_and_draws):
    # Stein's identity for a density p on R^2: E[grad log p] = 0 and E[x . grad log p(x)] = -2
    # (integrate by parts). A log density of another distribution (a wrong scale, a
    # misplaced mode) breaks them.
    target, draws = target_and_draws
    scores = np.asarray(jax.vmap(jax.grad(target.logdensity))(jnp.asarray(draws, jnp.float32)), np.float64)
    identities = np.concatenate([scores, np.sum(draws * scores, axis=1, keepdims=True)], axis=1)
    batch_check(identities, np.array([0.0, 0.0, -2.0]), f"{target.name} Stein identities")


def test_flat_mass_is_the_exact_probability_of_the_flat_basin():
    rng = np.random.default_rng(1)
    draws = toy_targets.sharp_flat_mixture().sample(rng, NUM_DRAWS)
    batch_check(toy_targets.flat_region(draws).astype(np.float64)[:, None], np.array([toy_targets.flat_mass()]),
                "flat mass")
    # Smoothed by eta = 1 (exact draws plus N(0, I) noise): the sharp mode's mass spills
    # over the barrier, close to it, into the flat basin.
    smoothed = draws + rng.normal(size=draws.shape)
    batch_check(toy_targets.flat_region(smoothed).astype(np.float64)[:, None],
                np.array([toy_targets.flat_mass(smoothing=1.0)]), "smoothed flat mass")
    assert -3.0 < toy_targets.flat_boundary() < -1.5  # the barrier is near the sharp mode
    assert 0.49 < toy_targets.flat_mass() < 0.51 < 0.55 < toy_targets.flat_mass(smoothing=1.0)
