"""Statistical correctness of SGLD and SGHMC: do long multi-chain runs reproduce known moments?

Targets (``targets.py``): a correlated 2-D Gaussian (variances 1 and 2, correlation 0.8)
and the closed-form posterior of a Bayesian linear regression (N = 500, 3 correlated
features with non-zero means) sampled with minibatches of 25.

Criteria, applied by :func:`assert_moments` to every run:

* mean: every coordinate within 3 Monte Carlo standard errors, the standard error being
  the spread of the per-chain means over sqrt(num_chains) (valid because the chains are
  independent: each has its own key).
* covariance: within 10% in every direction, i.e. the eigenvalues of
  L^-1 C_hat L^-T (C = L L^T the exact covariance) lie in [0.9, 1.1]; equivalently the
  variance of every linear combination u'theta is within 10%. This implies the entrywise
  criterion |C_hat - C|_ij <= 0.1 sqrt(C_ii C_jj) and is stronger: on a target with
  correlation 0.8 an entrywise 10% check would let the variance of the low-variance
  direction be off by up to 90%.

Why those tolerances hold for a correct sampler and not by luck:

* Monte Carlo error: :func:`assert_moments` measures it from the spread across chains
  and refuses to judge (:class:`InsufficientPrecision`) unless the standard error of
  the whitened covariance entries is <= 2%. For d <= 3 the 99.9% quantile of the
  whitened error of a Wishart estimate is about 4 standard errors (simulated), so 8%
  of the 10% is Monte Carlo and <= 2% is left for bias.
* Bias of the mean: none on the Gaussian (the recursion's fixed point is the mean); with
  minibatches ~3e-4 posterior standard deviations (targets.py), against a Monte Carlo
  standard error of ~0.015 sd.
* Bias of the covariance: the samplers are linear recursions on Gaussian targets, so
  their discrete stationary covariance is computed exactly (``targets.py``; discrete
  Lyapunov equation, and for minibatches an epoch-by-epoch version with the driver's
  without-replacement batching). :func:`test_step_sizes_keep_bias_small` asserts <= 2% for every setup used
  here; the numbers are in the comments of :data:`SETUPS`. (Checked against the sampler
  at step sizes 3-5x larger, where the bias is 12-17%: predicted and measured whitened
  covariances agreed to within Monte Carlo error.)

The mutation tests at the end break the kernels on purpose (noise too large by sqrt 2,
temperature ignored, preconditioner never frozen) and check that the same checks fail.
"""

import dataclasses
import functools
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from targets import (
    GaussianTarget,
    correlated_gaussian,
    linear_regression,
    minibatch_stationary_moments,
    sghmc_stationary_cov,
    sgld_stationary_cov,
    whitened_error,
)

# The kernel modules. Not ``samplers.sgld``: the package re-exports the functions under the
# modules' names, so that attribute is the function ``sgld``, not the module.
BASE = importlib.import_module("samplers.base")
NORMAL_LIKE = BASE.normal_like  # the original, for the mutation that patches it
SGLD_MODULE = importlib.import_module("samplers.sgld")
SGHMC_MODULE = importlib.import_module("samplers.sghmc")

MEAN_TOLERANCE_SE = 3.0  # mean: |mean_hat - mean| <= 3 Monte Carlo standard errors per coordinate
COV_TOLERANCE = 0.10  # covariance: whitened error <= 10% (see module docstring)
MAX_COV_MC_ERROR = 0.02  # refuse to judge the covariance with a larger Monte Carlo standard error
MAX_MEAN_MC_ERROR = 0.05  # ... or the mean with a standard error above 5% of a standard deviation
MAX_DESIGN_BIAS = 0.02  # step sizes must keep the exact discretisation + minibatch bias below this


# ---------------------------------------------------------------------------------------
# The moment checker.


class InsufficientPrecision(Exception):
    """The run is too short for the moment check to mean anything.

    Deliberately not an AssertionError: a mutation test expecting the check to fail must
    never pass because a run was too noisy to judge.
    """


@dataclasses.dataclass(frozen=True)
class MomentEstimate:
    """Moments of multi-chain draws and their Monte Carlo standard errors.

    Attributes:
        mean: the mean over all draws, (d,).
        mean_se: its standard error per coordinate: std of the chain means / sqrt(chains).
        cov: the covariance over all draws about ``mean``, (d, d).
        cov_mc_error: the largest standard error among the entries of the covariance
            whitened by itself (L^-1 C_c L^-T over chains c, with C_hat = L L^T), i.e. the
            relative Monte Carlo error of the covariance, whatever the target.
        num_chains, num_draws: draws are (num_chains, num_draws, d).
    """

    mean: np.ndarray
    mean_se: np.ndarray
    cov: np.ndarray
    cov_mc_error: float
    num_chains: int
    num_draws: int


def estimate_moments(draws: np.ndarray, weights: np.ndarray | None = None) -> MomentEstimate:
    """Mean, covariance and their Monte Carlo errors from independent chains.

    ``draws`` is (chains, draws, d); ``weights`` (chains, draws) weigh the draws within
    each chain (time-rescaled samplers), and chains count equally. All arithmetic is
    float64: accumulating tens of thousands of float32 products (numpy's einsum does) is
    off by ~3%, which is as large as the effects measured here.
    """
    draws = np.asarray(draws, np.float64)
    num_chains, num_draws, _ = draws.shape
    weights = np.ones(draws.shape[:2]) if weights is None else np.asarray(weights, np.float64)
    weights = weights / weights.sum(axis=1, keepdims=True)
    chain_means = np.einsum("cn,cni->ci", weights, draws)
    mean = chain_means.mean(axis=0)
    mean_se = chain_means.std(axis=0, ddof=1) / np.sqrt(num_chains)
    centred = draws - mean
    chain_covs = np.einsum("cn,cni,cnj->cij", weights, centred, centred)
    cov = chain_covs.mean(axis=0)  # the pooled covariance is the average of the per-chain ones
    inv = np.linalg.inv(np.linalg.cholesky(cov))
    whitened = np.einsum("ij,cjk,lk->cil", inv, chain_covs, inv)
    cov_mc_error = float(np.max(whitened.std(axis=0, ddof=1)) / np.sqrt(num_chains))
    return MomentEstimate(mean, mean_se, cov, cov_mc_error, num_chains, num_draws)


def assert_moments(
    draws: np.ndarray,
    mean: np.ndarray,
    cov: np.ndarray,
    *,
    label: str,
    mean_tolerance_se: float = MEAN_TOLERANCE_SE,
    cov_tolerance: float = COV_TOLERANCE,
    max_cov_mc_error: float = MAX_COV_MC_ERROR,
    max_mean_mc_error: float = MAX_MEAN_MC_ERROR,
    weights: np.ndarray | None = None,
) -> MomentEstimate:
    """Assert that ``draws`` (chains, draws, d), weighted by ``weights``, have the given mean and covariance.

    Mean: every coordinate within ``mean_tolerance_se`` Monte Carlo standard errors.
    Covariance: :func:`targets.whitened_error` <= ``cov_tolerance``.

    Raises:
        InsufficientPrecision: before judging, if the Monte Carlo error is too large for
            the check to have power (covariance standard error above ``max_cov_mc_error``
            relative, or mean standard error above ``max_mean_mc_error`` standard
            deviations). Both are measured relative to the *estimate*, so a broken
            sampler with a wrong scale is judged, not excused.
        AssertionError: naming what is off, by how much, against which tolerance.
    """
    est = estimate_moments(draws, weights)
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    sd_hat = np.sqrt(np.diag(est.cov))
    mean_mc_error = float(np.max(est.mean_se / sd_hat))
    if est.cov_mc_error > max_cov_mc_error or mean_mc_error > max_mean_mc_error:
        raise InsufficientPrecision(
            f"{label}: Monte Carlo error too large to judge ({est.num_chains} chains x {est.num_draws} draws): "
            f"covariance {est.cov_mc_error:.2%} (max {max_cov_mc_error:.0%}), "
            f"mean {mean_mc_error:.3f} sd (max {max_mean_mc_error}); run longer or with more chains"
        )
    z = (est.mean - mean) / est.mean_se
    cov_error = whitened_error(est.cov, cov)
    inv = np.linalg.inv(np.linalg.cholesky(cov))
    ratios = np.linalg.eigvalsh(inv @ est.cov @ inv.T)
    problems = []
    if np.any(np.abs(z) > mean_tolerance_se):
        problems.append(f"mean off by {np.max(np.abs(z)):.1f} Monte Carlo standard errors (tolerance {mean_tolerance_se})")
    if cov_error > cov_tolerance:
        problems.append(f"covariance off by {cov_error:.1%} in some direction (tolerance {cov_tolerance:.0%})")
    if problems:
        with np.printoptions(formatter={"float": "{: .4g}".format}):
            raise AssertionError(
                f"{label}: " + "; ".join(problems) + "\n"
                f"  mean     estimated {est.mean}  expected {mean}\n"
                f"           standard error {est.mean_se}, z = {z}\n"
                f"  covariance estimated\n{est.cov}\n  expected\n{cov}\n"
                f"  eigenvalues of L^-1 C_hat L^-T (1 = exact; extremes of variance estimated/expected "
                f"over all directions): {ratios}\n"
                f"  Monte Carlo standard error of the covariance: {est.cov_mc_error:.2%} "
                f"({est.num_chains} chains x {est.num_draws} draws)"
            )
    return est


# ---------------------------------------------------------------------------------------
# Setups: target, sampler, step size and run length, shared by the tests and the mutations.


@functools.cache
def get_target(name: str) -> GaussianTarget:
    return {"gaussian": correlated_gaussian, "regression": linear_regression}[name]()


@dataclasses.dataclass(frozen=True)
class Setup:
    """One sampler on one target with everything :func:`samplers.sample` needs."""

    target: str
    sampler: str  # "sgld" or "sghmc"
    step_size: float
    num_steps: int
    burn_in: int
    thin: int
    seed: int
    friction: float | None = None
    batch_size: int | None = None
    scale_adaptation_steps: int = 0
    num_chains: int = 64

    @property
    def label(self) -> str:
        return f"{self.sampler.upper()} on {get_target(self.target).name}"

    def algorithm(self, temperature: float = 1.0) -> samplers.SamplingAlgorithm:
        logdensity = get_target(self.target).logdensity
        if self.sampler == "sgld":
            return samplers.sgld(logdensity, self.step_size, temperature=temperature)
        return samplers.sghmc(
            logdensity,
            self.step_size,
            friction=self.friction,
            temperature=temperature,
            scale_adaptation_steps=self.scale_adaptation_steps,
        )

    def run(self, temperature: float = 1.0) -> samplers.SampleResult:
        target = get_target(self.target)
        result = samplers.sample(
            self.algorithm(temperature),
            jax.random.key(self.seed),
            target.init_fn(),
            target.data,
            num_chains=self.num_chains,
            num_steps=self.num_steps,
            burn_in=self.burn_in,
            thin=self.thin,
            batch_size=self.batch_size,
            progress=False,
        )
        assert np.all(result.weights == 1.0), "SGLD/SGHMC draws must all have weight 1"
        return result

    def predicted_cov(self, temperature: float = 1.0, inv_mass: np.ndarray | None = None) -> np.ndarray:
        """The exact stationary covariance of this discretised sampler (see targets.py)."""
        target = get_target(self.target)
        if self.batch_size is not None:
            _, cov = minibatch_stationary_moments(
                target, self.sampler, self.batch_size, self.step_size, self.friction, temperature, inv_mass
            )
            return cov
        if self.sampler == "sgld":
            return sgld_stationary_cov(target.precision, self.step_size, temperature)
        return sghmc_stationary_cov(target.precision, self.step_size, self.friction, temperature, inv_mass)

    def check(self, result: samplers.SampleResult, temperature: float = 1.0) -> MomentEstimate:
        """:func:`assert_moments` against the exact target at ``temperature``: N(m, T S)."""
        target = get_target(self.target)
        return assert_moments(
            result.samples,
            target.mean,
            temperature * target.cov,
            label=f"{self.label}, T={temperature}",
        )


# Numbers in the comments: "bias" is the exact whitened covariance error of the discretised
# sampler (targets.py); IAT is the integrated autocorrelation time, in steps, of x^2 along
# the slowest direction (what the covariance error depends on); n_eff = chains * kept steps
# / IAT; "cov SE" ~ sqrt(2 / n_eff) is the predicted relative Monte Carlo error of the
# covariance (the run measures its own); burn-in is >= 8 relaxation times of the slowest
# mode (the chains start 2x overdispersed).
SETUPS = {
    # Precision eigenvalues 0.365, 3.80: eps * lambda_max = 0.0095, variance T / (lambda (1 -
    # eps lambda / 2)) -> bias 0.48%. IAT 1094, n_eff 17500, cov SE ~1.1%, mean SE 0.011 sd.
    "gaussian-sgld": Setup("gaussian", "sgld", step_size=0.0025, num_steps=310_000, burn_in=10_000, thin=25, seed=1),
    # eta * lambda_max = 0.019, friction 0.1: bias 0.50% (Lyapunov). IAT 64, n_eff 40000, cov SE ~0.7%.
    "gaussian-sghmc": Setup("gaussian", "sghmc", step_size=0.005, friction=0.1, num_steps=45_000, burn_in=5_000,
                            thin=5, seed=2),
    # Precision eigenvalues 951, 1951, 6952; 20 batches of 25 per epoch. eps * lambda_max = 0.0125:
    # discretisation 0.6%, with minibatch noise 1.6% (i.i.d. batches would give 13%: without
    # replacement, an epoch's gradient noise sums to zero). IAT 584, n_eff 7700, cov SE ~1.6%.
    # thin = 7 is coprime to the epoch length, so draws visit every phase of the epoch.
    "regression-sgld": Setup("regression", "sgld", step_size=1.8e-6, num_steps=76_000, burn_in=6_000, thin=7,
                             batch_size=25, seed=3),
    # eta * lambda_max = 0.0014, friction 0.05: bias 1.1% (i.i.d. batches: 28%). IAT 282, n_eff 7900,
    # cov SE ~1.6%.
    "regression-sghmc": Setup("regression", "sghmc", step_size=2e-7, friction=0.05, num_steps=38_000, burn_in=3_000,
                              thin=7, batch_size=25, seed=4),
    # Adapted M^-1 ~ 1/sqrt(E g^2) ~ 1/sqrt(21 diag(A)) (gradient noise ~20x the signal at
    # batch 25): eigenvalues of M^-1 A 4.1, 9.5, 23.5, so eta * lambda_max(M^-1 A) = 0.0012 and
    # bias 0.8% for the chains' mean M^-1, 1.3% for the elementwise largest (checked in the
    # test with the actual frozen ones). IAT ~235, n_eff ~9500, cov SE ~1.5%.
    "regression-sghmc-adapted": Setup("regression", "sghmc", step_size=5e-5, friction=0.05, num_steps=38_000,
                                      burn_in=3_000, scale_adaptation_steps=3_000, thin=7, batch_size=25, seed=5),
}


# ---------------------------------------------------------------------------------------
# 0. The design: step sizes small enough that a correct sampler passes.


@pytest.mark.parametrize("name", ["gaussian-sgld", "gaussian-sghmc", "regression-sgld", "regression-sghmc"])
def test_step_sizes_keep_bias_small(name):
    """The exact stationary covariance of each discretised sampler is within 2% of the target.

    So that a failure of the tests below is a sampler error, not a step size too large.
    (The adapted SGHMC's preconditioner is only known after its run: checked there.)
    """
    setup = SETUPS[name]
    target = get_target(setup.target)
    bias = whitened_error(setup.predicted_cov(), target.cov)
    assert bias <= MAX_DESIGN_BIAS, f"{name}: the step size gives a {bias:.2%} covariance bias"


# ---------------------------------------------------------------------------------------
# 1. Posterior moments: correlated Gaussian, and minibatch linear regression.


@pytest.mark.parametrize("name", ["gaussian-sgld", "gaussian-sghmc"])
def test_gaussian_moments(name):
    """SGLD and SGHMC reproduce the mean and covariance of the correlated 2-D Gaussian."""
    setup = SETUPS[name]
    setup.check(setup.run())


@pytest.mark.parametrize("name", ["regression-sgld", "regression-sghmc"])
def test_linear_regression_posterior_with_minibatches(name):
    """With minibatches of 25 (N/|B| = 20) the chains reproduce the closed-form posterior."""
    setup = SETUPS[name]
    setup.check(setup.run())


# ---------------------------------------------------------------------------------------
# 2. Temperature: the chains target p^(1/T), here N(m, T S).


@pytest.mark.parametrize("temperature", [0.5, 2.0])
@pytest.mark.parametrize("name", ["gaussian-sgld", "gaussian-sghmc"])
def test_temperature_scales_covariance(name, temperature):
    """At temperature T the covariance is T times the posterior's and the mean is unchanged.

    The stationary covariance of the linear recursion is exactly T times that at T = 1,
    so the relative bias is the same as in test_gaussian_moments (0.5%).
    """
    setup = dataclasses.replace(SETUPS[name], seed=SETUPS[name].seed + int(100 * temperature))  # independent draws
    setup.check(setup.run(temperature), temperature)


# ---------------------------------------------------------------------------------------
# 3. SGHMC with scale adaptation: right posterior, and the preconditioner frozen after burn-in.


def scale_leaves(state) -> dict[str, np.ndarray]:
    """The scale-adaptation state of every chain as NumPy arrays, by field name."""
    return {name: np.asarray(value) for name, value in state.scale._asdict().items()}


def assert_scale_frozen(setup: Setup, result: samplers.SampleResult) -> None:
    """The preconditioner of ``result`` (a finished run of ``setup``) is the one at the end of burn-in.

    Randomness is a pure function of the key and the step number, so a second run of the
    same setup that stops right after burn-in (num_steps = S + 1, burn_in = S: its first S
    steps go through the same compiled burn-in program) has taken exactly the same first
    S steps. Its scale state must be bitwise equal to the final one of the long run:
    neither the S + 1-th step nor the thousands after it may change it. Also checks that
    adaptation did happen (M^-1 ~ 1/|gradient| ~ 0.003 here, far from its initial 1).
    """
    adaptation_steps = setup.scale_adaptation_steps
    assert setup.burn_in == adaptation_steps
    short = dataclasses.replace(setup, num_steps=adaptation_steps + 1, thin=1)
    at_end_of_burn_in = scale_leaves(short.run().state)
    final = scale_leaves(result.state)
    inverse_mass = 1.0 / np.sqrt(at_end_of_burn_in["grad_sq_mean"])
    assert np.all(inverse_mass < 0.1), "the preconditioner did not adapt (M^-1 still near its initial 1)"
    for name, value in final.items():
        changed = np.mean(value != at_end_of_burn_in[name])
        assert changed == 0.0, (
            f"scale adaptation state '{name}' changed after burn-in ({changed:.0%} of entries differ "
            f"between step {adaptation_steps + 1} and step {setup.num_steps}): the preconditioner is not frozen"
        )


def test_sghmc_scale_adaptation_posterior_and_freeze():
    """Scale-adapted SGHMC on minibatch linear regression reproduces the posterior, and its
    preconditioner after the run is exactly the one at the end of burn-in."""
    setup = SETUPS["regression-sghmc-adapted"]
    result = setup.run()
    # Design check with the preconditioners actually used: the exact bias for the
    # elementwise smallest and largest M^-1 over the chains.
    inverse_mass = 1.0 / np.sqrt(np.asarray(result.state.scale.grad_sq_mean) + 1e-8)
    target = get_target(setup.target)
    for extreme in (inverse_mass.min(axis=0), inverse_mass.max(axis=0)):
        bias = whitened_error(setup.predicted_cov(inv_mass=extreme), target.cov)
        assert bias <= MAX_DESIGN_BIAS, f"adapted preconditioner {extreme} gives a {bias:.2%} bias: step too large"
    setup.check(result)
    assert_scale_frozen(setup, result)


def test_sghmc_scale_adapts_exactly_until_step_count():
    """Unit check of the boundary: the scale state changes at every one of the first S steps
    (``state.step`` 0 .. S-1) and at none after, whatever the gradient."""
    adaptation_steps = 20
    target = get_target("regression")
    alg = samplers.sghmc(target.logdensity, 6e-5, friction=0.05, scale_adaptation_steps=adaptation_steps)
    x, y = target.data
    batch = (x[:25], y[:25])
    step = jax.jit(alg.step)
    state = alg.init(jnp.asarray(target.mean, jnp.float32))
    key = jax.random.key(6)
    changed_at = []
    for t in range(adaptation_steps + 10):
        before = scale_leaves(state)
        state, _ = step(jax.random.fold_in(key, t), state, batch)
        after = scale_leaves(state)
        if any(not np.array_equal(before[name], after[name]) for name in after):
            changed_at.append(t)
    assert changed_at == list(range(adaptation_steps)), f"scale state changed at steps {changed_at}"


# ---------------------------------------------------------------------------------------
# 4. Mutations: the same checks on deliberately broken kernels must fail.


def kernel_module(setup: Setup):
    """The module whose ``build_kernel`` the setup's sampler calls."""
    return {"sgld": SGLD_MODULE, "sghmc": SGHMC_MODULE}[setup.sampler]


def noise_module(setup: Setup):
    """The module whose global ``normal_like`` draws the setup's noise (SGLD's Langevin
    step is ``samplers.base.langevin_step``)."""
    return {"sgld": BASE, "sghmc": SGHMC_MODULE}[setup.sampler]


def noise_scaled_by_sqrt2(key, tree):
    """normal_like with a variance twice too large, as if sqrt(2 eps T) were sqrt(4 eps T)."""
    return jax.tree.map(lambda n: n * jnp.sqrt(2.0).astype(n.dtype), NORMAL_LIKE(key, tree))


@pytest.mark.parametrize(
    "name",
    [
        "gaussian-sgld",
        "gaussian-sghmc",
        "regression-sghmc",
        pytest.param("regression-sgld", marks=pytest.mark.slow),
        pytest.param("regression-sghmc-adapted", marks=pytest.mark.slow),
    ],
)
def test_mutation_noise_too_large_is_detected(monkeypatch, name):
    """Noise scaled by sqrt(2) doubles the stationary covariance (the chain samples at T = 2):
    the covariance check must fail on the unchanged setup."""
    setup = SETUPS[name]
    monkeypatch.setattr(noise_module(setup), "normal_like", noise_scaled_by_sqrt2)
    with pytest.raises(AssertionError, match="covariance off by"):
        setup.check(setup.run())


def kernel_ignoring_temperature(build_kernel):
    """Wrap a module's build_kernel so that its kernel always runs at temperature 1."""

    def build(*args, **kwargs):
        kernel = build_kernel(*args, **kwargs)

        def mutated(*kernel_args):
            return kernel(*kernel_args[:-1], 1.0)  # temperature is the kernels' last argument

        return mutated

    return build


@pytest.mark.parametrize("name", ["gaussian-sgld", "gaussian-sghmc"])
def test_mutation_temperature_ignored_is_detected(monkeypatch, name):
    """A kernel that drops the temperature samples the T = 1 posterior when asked for T = 0.5."""
    setup = SETUPS[name]
    module = kernel_module(setup)
    monkeypatch.setattr(module, "build_kernel", kernel_ignoring_temperature(module.build_kernel))
    with pytest.raises(AssertionError, match="covariance off by"):
        setup.check(setup.run(temperature=0.5), temperature=0.5)


def test_mutation_preconditioner_never_frozen_is_detected(monkeypatch):
    """A kernel that keeps adapting M^-1 after burn-in must fail the freeze check.

    Same target, sampler and batching as the adapted setup, shortened (the freeze check
    does not need a long run).
    """
    build_kernel = SGHMC_MODULE.build_kernel
    monkeypatch.setattr(
        SGHMC_MODULE, "build_kernel", lambda scale_adaptation_steps=0, max_grad_norm=None: build_kernel(2**30, max_grad_norm)
    )
    setup = dataclasses.replace(
        SETUPS["regression-sghmc-adapted"], num_steps=600, burn_in=300, scale_adaptation_steps=300
    )
    with pytest.raises(AssertionError, match="is not frozen"):
        assert_scale_frozen(setup, setup.run())
