"""SA-SGLD: time-weighted draws reproduce the target; the same draws unweighted do not.

Two targets with known moments:

* the correlated 2-D Gaussian of ``test_sampler_statistics.py``, with its moment checker
  (means within 3 Monte Carlo standard errors, covariance within 10% in every direction)
  applied to the time-weighted draws;
* the quartic ``U(x) = x^4 / 4`` in 1-D, whose curvature ``3 x^2`` runs from zero at the
  mode to large in the tails, so a fast clock (``alpha = 50``) takes long steps near the
  mode and short ones outside. ``E[x^2] = 2 Gamma(3/4) / Gamma(1/4) = 0.6760``. Unweighted,
  the chain's draws follow ``p / psi`` rather than ``p``: they over-sample the tails,
  where steps are short. That is why the weights exist.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gamma

import samplers
from targets import correlated_gaussian
from test_sampler_statistics import assert_moments

NUM_CHAINS = 64
QUARTIC_SECOND_MOMENT = 2.0 * gamma(0.75) / gamma(0.25)


def test_weighted_draws_reproduce_a_correlated_gaussian():
    # dtau 0.003: the clock's factor stays near 0.75 here (0.50-1.06 seen), so dt is about
    # 0.0023 and SGLD's discretisation bias at eps * lambda_max = 0.009 is 0.4%. The
    # slowest direction's IAT is about 1,200 steps: 64 chains x 190,000 kept steps give a
    # covariance standard error near 1% (the checker measures its own). Seen while
    # writing this: covariance error 1.0%, mean z 0.8 and 0.6; unweighted, 5.4%.
    target = correlated_gaussian()
    result = samplers.sample(samplers.sa_sgld(target.logdensity, 0.003), jax.random.key(1), target.init_fn(), None,
                             num_chains=NUM_CHAINS, num_steps=200_000, burn_in=10_000, thin=25, progress=False)
    assert result.weights.shape == result.samples.shape[:2]
    assert np.all((result.weights > 0.1) & (result.weights <= 10.0))  # psi lies in (m, M]
    assert_moments(result.samples, target.mean, target.cov, label="SA-SGLD on the correlated Gaussian",
                   weights=result.weights)


def quartic_logdensity(x, batch):
    del batch
    return -0.25 * jnp.sum(x**4)


@pytest.fixture(scope="module")
def quartic_draws():
    """x^2 and the weights of 64 chains x 18,000 draws on the quartic, alpha = 50."""
    algorithm = samplers.sa_sgld(quartic_logdensity, 0.0025, alpha=50.0)
    result = samplers.sample(algorithm, jax.random.key(2), lambda key: jax.random.normal(key, (1,)), None,
                             num_chains=NUM_CHAINS, num_steps=200_000, burn_in=20_000, thin=10, progress=False)
    return np.asarray(result.samples[..., 0], np.float64) ** 2, np.asarray(result.weights, np.float64)


def chain_estimates(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """The mean over chains of each chain's weighted average, and its standard error."""
    per_chain = (weights * values).sum(axis=1) / weights.sum(axis=1)
    return float(per_chain.mean()), float(per_chain.std(ddof=1) / np.sqrt(len(per_chain)))


def test_time_weighting_makes_the_quartic_exact(quartic_draws):
    # Discretisation bias, measured at larger steps: weighted E[x^2] was 0.6706 +- 0.0018
    # at dtau 0.01 and 0.6721 +- 0.0027 at 0.005 (exact 0.6760), i.e. about -0.8% at 0.01
    # and, linear in the step, -0.2% (0.0014) at 0.0025: under one standard error here.
    second_moment, standard_error = chain_estimates(*quartic_draws)
    assert 0.0005 < standard_error < 0.005  # the run has power, and is not absurdly noisy
    assert abs(second_moment - QUARTIC_SECOND_MOMENT) <= 3.0 * standard_error, (second_moment, standard_error)


def test_the_same_draws_unweighted_are_biased(quartic_draws):
    # Seen while writing this: unweighted E[x^2] 0.98-0.99 against 0.676, a 45% excess,
    # more than 100 standard errors.
    x_squared, weights = quartic_draws
    assert weights.max() / weights.min() > 3.0  # the clock really does vary over the target
    second_moment, standard_error = chain_estimates(x_squared, np.ones_like(x_squared))
    assert second_moment - QUARTIC_SECOND_MOMENT > 20.0 * standard_error, (second_moment, standard_error)


@pytest.mark.parametrize("arguments, name", [
    ({"step_size": -0.1}, "step_size"),
    ({"alpha": 0.0}, "alpha"),
    ({"omega": -1.0}, "omega"),
    ({"smallest": 2.0, "largest": 1.0}, "smallest"),
    ({"temperature": -1.0}, "temperature"),
])
def test_bad_hyperparameters_name_the_argument(arguments, name):
    arguments = {"step_size": 0.01, **arguments}
    with pytest.raises(ValueError, match=name):
        samplers.sa_sgld(quartic_logdensity, **arguments)
