"""Entropy-MCMC: the theta marginal is the target, the anchor marginal the target smoothed.

On the correlated 2-D Gaussian N(m, S) with coupling variance eta, the pair is Gaussian
with precision [[A + I/eta, -I/eta], [-I/eta, I/eta]] (A = S^-1): theta ~ N(m, S) and
theta_a ~ N(m, S + eta I). The joint sampler is SGLD on the pair, so its exact
discretised stationary covariance comes from the same Lyapunov equation as SGLD's.
"""

from typing import Any, NamedTuple

import jax
import numpy as np
import pytest

import samplers
from targets import correlated_gaussian, sgld_stationary_cov, whitened_error
from test_sampler_statistics import MAX_DESIGN_BIAS, assert_moments

ETA = 0.5
STEP_SIZE = 0.0025
TARGET = correlated_gaussian()


class PairView(NamedTuple):
    """A state whose ``position`` is ``(theta, anchor)``, so that the driver keeps both."""

    position: Any
    inner: Any


def recording_both(algorithm: samplers.SamplingAlgorithm) -> samplers.SamplingAlgorithm:
    def init(position):
        inner = algorithm.init(position)
        return PairView((inner.position, inner.anchor), inner)

    def step(key, state, batch=None):
        inner, info = algorithm.step(key, state.inner, batch)
        return PairView((inner.position, inner.anchor), inner), info

    return samplers.SamplingAlgorithm(init, step)


def joint_precision() -> np.ndarray:
    coupling = np.eye(2) / ETA
    return np.block([[TARGET.precision + coupling, -coupling], [-coupling, coupling]])


def test_step_size_keeps_the_joint_bias_small():
    joint_cov = np.linalg.inv(joint_precision())
    assert whitened_error(sgld_stationary_cov(joint_precision(), STEP_SIZE), joint_cov) <= MAX_DESIGN_BIAS


@pytest.fixture(scope="module")
def pair_draws():
    # Joint precision eigenvalues 0.17-7.9: eps * lambda_max = 0.02 (bias 1%, checked
    # above); the slowest mode relaxes in about 2,400 steps, so 64 chains x 400,000 steps
    # give a covariance standard error near 1.5% (the checker measures its own).
    algorithm = recording_both(samplers.entropy_mcmc(TARGET.logdensity, STEP_SIZE, ETA))
    result = samplers.sample(algorithm, jax.random.key(11), TARGET.init_fn(), None, num_chains=64,
                             num_steps=400_000, burn_in=20_000, thin=40, progress=False)
    theta, anchor = result.samples
    return np.asarray(theta), np.asarray(anchor)


def test_theta_marginal_is_the_target(pair_draws):
    theta, _ = pair_draws
    assert_moments(theta, TARGET.mean, TARGET.cov, label="Entropy-MCMC theta")


def test_anchor_marginal_is_the_smoothed_target(pair_draws):
    _, anchor = pair_draws
    assert_moments(anchor, TARGET.mean, TARGET.cov + ETA * np.eye(2), label="Entropy-MCMC anchor")


def test_bad_eta_is_refused():
    with pytest.raises(ValueError, match="eta"):
        samplers.entropy_mcmc(TARGET.logdensity, 0.01, eta=0.0)
