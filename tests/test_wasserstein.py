"""``priors.wasserstein``: fitting a weight prior so that a network's functions look like GP draws.

The headline check: fitting the GPiG family (one scale per leaf) of a 1x50 tanh network
to an RBF GP lowers the W1 estimate at least five-fold from the default initial prior
(FG, every scale 1), and the fitted prior's function draws have the GP's marginal
variance within 20%. The GP is RBF(variance 9, lengthscale 3) on a 50-point grid over
[-3, 3]: FG functions have variance about 1.6 there, so the initial prior is far off in
scale, while the shape is one that a single tanh layer can match (for RBF(1, 0.6) it
cannot: a fit stopped at W1 4.2, from 8.4, with 73% of the GP's variance).
Everything is sized to run in well under a minute on two CPU cores.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from posterior.models import mlp
from priors import gp, measurement, wasserstein, weight

NETWORK = mlp(width=50, depth=1, output_dim=1, activation="tanh")
TEMPLATE = NETWORK.init(jax.random.key(0), 1)
GRID = measurement.Grid(-3.0, 3.0, 50)
POINTS = GRID.sample(jax.random.key(0))
TARGET = gp.RBF(variance=9.0, lengthscale=3.0)
ITERATIONS = 200
FIT_KEY = jax.random.key(1)
# One key and one set of points for every W1 estimate below, so that all of them see the
# same critic initialisation and the same GP draws.
W1_KEY = jax.random.key(100)
# At most 300 critic steps instead of the default 2000. While writing this test (with the
# judge then training on fresh draws for exactly 300 steps), for three fits (keys 1, 2, 3)
# and two estimation keys each: the initial estimate was 18.4 and 18.9, the fitted ones
# 0.92-1.33, ratios 13.8-20.0. In a trial with an RBF of variance 4, 1000 steps instead of
# 300 lowered the ratios by at most 20%, and a GP judged against its own draws gives
# 0.01-0.15 at 300 steps: 300 steps separate the cases by an order of magnitude.
W1_STEPS = 300
# The prior's learning rate decays (cosine, to a tenth): a constant 0.05 leaves the last
# iterate noisy (in the variance-4 trial one fit in three then ended at a ratio near 5).
PRIOR_OPTIMIZER = optax.rmsprop(optax.cosine_decay_schedule(0.05, ITERATIONS, alpha=0.1))


def gaussian_draws(key, phi):
    """Network parameters drawn from the GPiG family at ``phi``."""
    return weight.GaussianFamily().sample(key, phi, TEMPLATE)


JUDGE = wasserstein.w1_judge(NETWORK.apply, gaussian_draws, TARGET, max_steps=W1_STEPS, progress=False)


def w1(phi) -> float:
    """The W1 estimate between the GPiG prior at ``phi`` and the GP, with the shared key and points."""
    judged = JUDGE(W1_KEY, [phi], POINTS)
    assert judged.estimates.shape == judged.standard_errors.shape == judged.steps.shape == (1,)
    return float(judged.estimates[0])


def fit_gpig(prior_optimizer, num_iterations: int = ITERATIONS) -> wasserstein.FitResult:
    return wasserstein.fit(NETWORK.apply, weight.GaussianFamily(), TARGET, GRID, key=FIT_KEY, template=TEMPLATE,
                           num_iterations=num_iterations, num_functions=128, critic_steps=10, warm_critic=True,
                           prior_optimizer=prior_optimizer, chunk_size=50, progress=False)


@pytest.fixture(scope="module")
def initial_w1() -> float:
    """W1 at the family's default initial hyperparameters (FG)."""
    return w1(weight.GaussianFamily().init(TEMPLATE))


@pytest.fixture(scope="module")
def gpig_fit() -> wasserstein.FitResult:
    return fit_gpig(PRIOR_OPTIMIZER)


@pytest.fixture(scope="module")
def final_w1(gpig_fit) -> float:
    return w1(gpig_fit.hyperparameters)


def test_fitting_gpig_to_a_gp_lowers_w1_five_fold(initial_w1, final_w1):
    assert final_w1 > 0.0
    assert initial_w1 / final_w1 >= 5.0, (initial_w1, final_w1)


def test_the_fit_returns_a_finite_trace_and_a_layerwise_gaussian(gpig_fit):
    assert gpig_fit.trace.shape == (ITERATIONS,) and np.all(np.isfinite(gpig_fit.trace))
    assert isinstance(gpig_fit.prior, weight.LayerwiseGaussian)
    assert gpig_fit.seconds > 0.0
    scales = weight.GaussianFamily().hyperparameters(gpig_fit.hyperparameters)
    assert set(scales) == {"hidden_0/kernel", "hidden_0/bias", "output/kernel", "output/bias"}
    # The prior for sampling is the family's prior at the fitted phi, leaf by leaf.
    fitted = jax.tree.leaves(gpig_fit.prior.scales)
    expected = [float(jax.nn.softplus(raw)) for raw in jax.tree.leaves(gpig_fit.hyperparameters)]
    np.testing.assert_allclose(fitted, expected, rtol=1e-5)
    # The warm critic's estimate falls as phi approaches the GP (seen: 9.5 -> 2.0).
    assert np.mean(gpig_fit.trace[-20:]) < 0.5 * np.mean(gpig_fit.trace[:20])


def test_the_fitted_prior_has_the_gps_marginal_variance(gpig_fit):
    # Monte Carlo error: for Gaussian values the sample variance of n = 4000 draws has a
    # relative standard error sqrt(2 / n) = 2.2% at each point, and averaging over the
    # (correlated) points cannot make it larger. Heavier tails than Gaussian would raise it
    # to sqrt((2 + k) / n) for excess kurtosis k, but the fitted draws have |k| < 0.11 at
    # every point (measured for two fits), and splitting the 4000 draws into 10 batches gave
    # a standard error of 1.0% for the averaged variance. The GP side is exact (the
    # kernel's diagonal). So 20% is nine or more standard errors: a failure is the fit's,
    # not the sampling's. Seen while writing this: 0.97 and 1.03 times the GP's variance.
    def mean_variance(phi):
        draws = wasserstein.function_draws(jax.random.key(7), NETWORK.apply, lambda k: gaussian_draws(k, phi),
                                           POINTS, 4000)
        assert draws.shape == (4000, POINTS.shape[0])
        return float(jnp.mean(jnp.var(draws, axis=0)))

    gp_variance = float(jnp.mean(jnp.diagonal(TARGET(POINTS, POINTS))))
    assert gp_variance == pytest.approx(9.0)
    assert mean_variance(gpig_fit.hyperparameters) == pytest.approx(gp_variance, rel=0.2)
    # The same check would tell the initial prior apart (variance about 1.6).
    assert mean_variance(weight.GaussianFamily().init(TEMPLATE)) < 0.5 * gp_variance


def test_a_fit_that_does_not_move_phi_fails_the_five_fold_check(initial_w1):
    """The mutation: the prior's optimiser takes zero steps, so the five-fold check must fail.

    Everything else as in the real fit but the number of iterations (with a zero step size
    it cannot matter, and fewer keep this cheap).
    """
    frozen = fit_gpig(optax.sgd(0.0), num_iterations=50)
    for raw, start in zip(jax.tree.leaves(frozen.hyperparameters),
                          jax.tree.leaves(weight.GaussianFamily().init(TEMPLATE))):
        np.testing.assert_array_equal(raw, start)
    assert initial_w1 / w1(frozen.hyperparameters) < 5.0


def test_the_w1_estimate_grows_with_the_mismatch(initial_w1, final_w1):
    # Every scale 0.3 instead of FG's 1: functions with a tenth of FG's variance (about
    # 0.15), further still from the GP's 9. Seen: 33.3 and 32.0 for two keys, against 18.4
    # and 18.9 for FG, and about 1 for the fitted prior. (A GP judged against its own
    # draws, through a "network" returning its parameters, gave 0.01-0.15: the floor.)
    shrunk = w1(weight.GaussianFamily(init_scale=0.3).init(TEMPLATE))
    assert final_w1 < initial_w1 < shrunk
    assert shrunk > 1.3 * initial_w1, (shrunk, initial_w1)


def test_a_gpih_fit_with_a_re_initialised_critic_returns_a_gamma_precision_prior():
    """GPiH (the Gamma family) and the other critic policy (re-initialised every iteration), in one tiny fit."""
    family = weight.GammaFamily()
    result = wasserstein.fit(NETWORK.apply, family, TARGET, GRID, key=jax.random.key(3), template=TEMPLATE,
                             num_iterations=4, num_functions=16, critic_steps=2, warm_critic=False,
                             critic_widths=(16, 16), progress=False)
    assert result.trace.shape == (4,) and np.all(np.isfinite(result.trace))
    assert isinstance(result.prior, weight.GammaPrecision)
    values = jax.tree.leaves(result.prior.shape) + jax.tree.leaves(result.prior.rate)
    assert len(values) == 8 and all(math.isfinite(v) and v > 0.0 for v in values)
    initial = family.prior(family.init(TEMPLATE))
    start = jax.tree.leaves(initial.shape) + jax.tree.leaves(initial.rate)
    assert min(abs(v - s) for v, s in zip(values, start)) > 1e-4  # every shape and rate moved from 1
    assert weight.prior_from_dict(weight.prior_to_dict(result.prior), TEMPLATE) == result.prior


@pytest.mark.parametrize("argument, value", [
    ("num_iterations", 0),
    ("critic_steps", 0),
    ("num_functions", 0),
    ("chunk_size", 0),
    ("gradient_penalty", -1.0),
])
def test_bad_fit_arguments_are_refused_by_name(argument, value):
    with pytest.raises(ValueError, match=argument):
        wasserstein.fit(NETWORK.apply, weight.GaussianFamily(), TARGET, GRID, key=jax.random.key(0),
                        template=TEMPLATE, progress=False, **{argument: value})


def test_priors_judged_together_get_the_estimates_they_get_alone(initial_w1, final_w1, gpig_fit):
    judged = JUDGE(W1_KEY, [weight.GaussianFamily().init(TEMPLATE), gpig_fit.hyperparameters], POINTS)
    np.testing.assert_allclose(judged.estimates, [initial_w1, final_w1], rtol=1e-4)
    assert np.all(judged.standard_errors > 0.0) and np.all(judged.steps <= W1_STEPS) and judged.seconds > 0.0


def test_the_judge_stops_near_the_estimate_of_a_judge_that_never_stops_early():
    """The stopping rule saves steps without losing much of the estimate; a rule that
    stops after two rounds whatever the objective does (the mutation) loses most of it.

    The initial prior, far from the GP, so that the critic has much to learn. One round
    of 2000 steps has nothing to compare, so that judge runs them all. Seen while
    writing this: 21.19 +- 0.54 after 2000 steps, 20.61 +- 0.50 for the judge that
    stopped at 300 steps, 16.07 +- 0.43 for the one stopped at 20.
    """
    phi = [weight.GaussianFamily().init(TEMPLATE)]

    def judged(**settings):
        judge = wasserstein.w1_judge(NETWORK.apply, gaussian_draws, TARGET, progress=False, **settings)
        return judge(W1_KEY, phi, POINTS)

    full = judged(max_steps=2000, check_every=2000)
    stopped = judged(max_steps=2000)
    hasty = judged(max_steps=2000, check_every=10, tolerance=math.inf)
    assert full.steps[0] == 2000 and stopped.steps[0] < 2000 and hasty.steps[0] == 20

    def gap(judged):
        # Two standard errors of the held-out estimates: what the stopping rule may cost.
        return abs(judged.estimates[0] - full.estimates[0]) / np.hypot(judged.standard_errors[0],
                                                                       full.standard_errors[0])

    assert gap(stopped) < 2.0 and gap(hasty) > 2.0, (full, stopped, hasty)


@pytest.mark.parametrize("argument", ["max_steps", "check_every", "pool_batches", "held_out_batches", "num_functions"])
def test_bad_judge_arguments_are_refused_by_name(argument):
    with pytest.raises(ValueError, match=argument):
        wasserstein.w1_judge(NETWORK.apply, gaussian_draws, TARGET, **{argument: 0})


def test_each_output_of_a_network_draw_is_a_function_of_its_own():
    """Row ``i * outputs + j`` of the draws is output ``j`` of draw ``i``, for a "network"
    whose three outputs are its parameters plus 100 times the input."""
    def sample_params(key):
        return jax.random.normal(key, (3,))

    def apply_fn(params, x):
        return params[None, :] + 100.0 * x[:, :1]

    points = jnp.linspace(-1.0, 1.0, 5)[:, None]
    draws = wasserstein.function_draws(jax.random.key(4), apply_fn, sample_params, points, 4)
    assert draws.shape == (12, 5)
    params = jax.vmap(sample_params)(jax.random.split(jax.random.key(4), 4))
    np.testing.assert_allclose(draws, params.reshape(12, 1) + 100.0 * points[:, 0], rtol=1e-6)
