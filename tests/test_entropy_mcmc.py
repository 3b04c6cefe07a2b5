"""Entropy-MCMC: the theta marginal is the target, the anchor marginal the target smoothed.

On the correlated 2-D Gaussian N(m, S) with coupling variance eta, the pair is Gaussian
with precision [[A + I/eta, -I/eta], [-I/eta, I/eta]] (A = S^-1): theta ~ N(m, S) and
theta_a ~ N(m, S + eta I). The joint sampler is SGLD on the pair, so its exact
discretised stationary covariance comes from the same Lyapunov equation as SGLD's.
"""

import jax
import numpy as np
import pytest
from scipy import stats

import samplers
from experiments.bench import toys_flat_basin
from targets import correlated_gaussian, sgld_stationary_cov, whitened_error
from test_sampler_statistics import MAX_DESIGN_BIAS, assert_moments

ETA = 0.5
STEP_SIZE = 0.0025
TARGET = correlated_gaussian()


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
    algorithm = samplers.entropy_mcmc(TARGET.logdensity, STEP_SIZE, ETA, predict_with="both")
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


def test_clipping_leaves_the_coupling_alone():
    # N(0, I) in 100 dimensions, eta = 0.01: the posterior's gradient norm is about
    # sqrt(100) = 10, the coupling's about sqrt(2 * 100 / eta) = 141. Clipping at 30
    # leaves the first alone; clipping the joint gradient instead would scale the whole
    # drift down about fivefold, like a temperature of 5. Chains start at exact draws,
    # and theta's variance, averaged over coordinates, draws and 8 chains, has a
    # standard error of a few percent (the discretisation adds about 2%).
    dim, eta = 100, 0.01
    algorithm = samplers.entropy_mcmc(lambda x, _: -0.5 * (x @ x), 2e-4, eta, max_grad_norm=30.0)
    result = samplers.sample(algorithm, jax.random.key(5), lambda key: jax.random.normal(key, (dim,)), None,
                             num_chains=8, num_steps=20_000, burn_in=1_000, thin=50, progress=False)
    variance = float(np.mean(np.asarray(result.samples) ** 2))
    assert variance == pytest.approx(1.0, rel=0.1), variance


def test_bad_eta_is_refused():
    with pytest.raises(ValueError, match="eta"):
        samplers.entropy_mcmc(TARGET.logdensity, 0.01, eta=0.0)


# ---------------------------------------------------------------------------------------
# The flat-basin claim, on the sharp/flat mixture of posterior.toy_targets: equal weights
# on N((-3, 0), 0.2^2 I) and N((3, 0), I), the flat basin x > x* = -1.84 (the density
# barrier). Chains start at exact draws and, over this run, never cross the barrier
# (about 8 nats from the sharp side), so both samplers' chains stay in their starting
# modes; the anchor, at distance ~sqrt(eta) from theta, reaches over the barrier from the
# sharp mode. Its exact rate there is P(N(-3, 0.04 + eta) > x*) = 0.128 for eta = 1.


@pytest.fixture(scope="module")
def sharp_flat_runs():
    """Per-chain flat-basin fractions, as ``posterior bench toys`` reports them: SGLD and
    Entropy-MCMC (eta 1, step 0.002: eps * lambda_max = 0.054 on the sharp mode)."""
    return toys_flat_basin.flat_basin_fractions(chains=64, steps=60_000)


def test_anchor_draws_reach_into_the_flat_basin(sharp_flat_runs):
    from posterior import toy_targets

    names = ("SGLD", "Entropy-MCMC theta", "Entropy-MCMC anchor")
    sgld, theta, anchor = (sharp_flat_runs[name] for name in names)
    # The same keys start both samplers' chains at the same exact draws: chain by chain,
    # the anchor's excess over SGLD is the anchor's spill over the barrier.
    excess = anchor - sgld
    assert excess.mean() > 5 * excess.std(ddof=1) / np.sqrt(len(excess)), (excess.mean(), excess.std())
    # theta stays with the true weights: the chains' modes are those of their exact starts.
    assert np.all(np.isin(sgld, (0.0, 1.0))) and np.array_equal(theta, sgld)
    assert abs(theta.mean() - toy_targets.flat_mass()) <= 3 * theta.std(ddof=1) / np.sqrt(len(theta))
    # In the sharp mode theta ~ N(-3, 0.04) and the anchor given theta ~ N(theta, eta), so
    # the anchor is beyond the barrier with probability P(N(-3, 0.04 + eta) > x*). Seen
    # while writing this: 0.124 +- 0.004 over 28 sharp chains, exact 0.128; the whole
    # excess over SGLD 0.054 +- 0.008.
    spill = anchor[theta == 0.0]
    exact = stats.norm.sf(toy_targets.flat_boundary(), loc=-toy_targets.MODE_OFFSET,
                          scale=np.sqrt(toy_targets.SHARP_STD**2 + toys_flat_basin.SHARP_FLAT_ETA))
    assert abs(spill.mean() - exact) <= 3 * spill.std(ddof=1) / np.sqrt(len(spill)), (spill.mean(), exact)


@pytest.mark.parametrize("predict_with", ["theta", "anchor", "both"])
def test_predict_with_chooses_what_the_driver_keeps(predict_with):
    algorithm = samplers.entropy_mcmc(TARGET.logdensity, STEP_SIZE, ETA, predict_with=predict_with)
    result = samplers.sample(algorithm, jax.random.key(0), np.zeros(2, np.float32), None, num_chains=2,
                             num_steps=50, thin=10, progress=False)
    state = result.state
    expected = {"theta": state.theta, "anchor": state.anchor, "both": (state.theta, state.anchor)}[predict_with]
    last = jax.tree.map(lambda draws: draws[:, -1], result.samples)
    jax.tree.map(np.testing.assert_array_equal, last, jax.tree.map(np.asarray, expected))
    assert not np.array_equal(state.theta, state.anchor)
    with pytest.raises(ValueError, match="predict_with"):
        samplers.entropy_mcmc(TARGET.logdensity, STEP_SIZE, ETA, predict_with="mean")
