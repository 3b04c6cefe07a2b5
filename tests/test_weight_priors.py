"""Weight priors: log densities against scipy, the spread of their draws, the Gibbs conditional,
the GP-matching families (reparameterised gradients) and serialisation of fitted priors."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from priors.weight import (
    FanInGaussian,
    GammaFamily,
    GammaPrecision,
    GaussianFamily,
    IsotropicGaussian,
    LayerwiseGaussian,
    fan_in,
    family_from_kind,
    fixed_prior,
    leaf_path,
    prior_from_dict,
    prior_to_dict,
)

PARAMS = {
    "dense": {"kernel": jnp.linspace(-2.0, 2.0, 15).reshape(3, 5), "bias": jnp.array([0.5, -1.0, 0.0, 2.0, 0.1])},
    "conv": jnp.linspace(-1.0, 1.0, 48).reshape(2, 2, 3, 4),
}


def test_fan_in_is_all_axes_but_the_last():
    assert fan_in((3, 5)) == 3
    assert fan_in((2, 2, 3, 4)) == 12


def test_isotropic_log_prob_is_scipy_norm():
    expected = sum(stats.norm.logpdf(np.asarray(x), scale=0.7).sum() for x in jax.tree.leaves(PARAMS))
    assert float(IsotropicGaussian(scale=0.7).log_prob(PARAMS)) == pytest.approx(expected, rel=1e-5)


def test_fan_in_log_prob_is_scipy_norm_with_per_leaf_std():
    prior = FanInGaussian(weight_scale=2.0, bias_scale=0.3)
    expected = (
        stats.norm.logpdf(np.asarray(PARAMS["dense"]["kernel"]), scale=2.0 / math.sqrt(3)).sum()
        + stats.norm.logpdf(np.asarray(PARAMS["dense"]["bias"]), scale=0.3).sum()
        + stats.norm.logpdf(np.asarray(PARAMS["conv"]), scale=2.0 / math.sqrt(12)).sum()
    )
    assert float(prior.log_prob(PARAMS)) == pytest.approx(expected, rel=1e-5)


def test_fan_in_draws_have_std_scaled_by_fan_in():
    """Each leaf's sample std is weight_scale / sqrt(fan_in) (weights) or bias_scale (biases)."""
    template = {
        "wide": jnp.zeros((400, 50)),
        "narrow": jnp.zeros((4, 5000)),
        "conv": jnp.zeros((3, 3, 16, 200)),
        "bias": jnp.zeros((20_000,)),
    }
    draw = FanInGaussian(weight_scale=1.5, bias_scale=0.2).sample(jax.random.key(0), template)
    # 20,000+ entries per leaf: the sample std is within about 0.5% of the truth (1 sd).
    expected = {"wide": 1.5 / 20.0, "narrow": 1.5 / 2.0, "conv": 1.5 / 12.0, "bias": 0.2}
    for name, std in expected.items():
        assert float(jnp.std(draw[name])) == pytest.approx(std, rel=0.03), name
        assert abs(float(jnp.mean(draw[name]))) < 0.03 * std, name


def test_isotropic_draws_have_the_scale_and_the_template_structure():
    template = {"a": jnp.zeros((100, 100)), "b": [jnp.zeros((10_000,), jnp.bfloat16)]}
    draw = IsotropicGaussian(scale=3.0).sample(jax.random.key(1), template)
    assert jax.tree.structure(draw) == jax.tree.structure(template)
    assert draw["a"].shape == (100, 100) and draw["a"].dtype == jnp.float32
    assert draw["b"][0].shape == (10_000,) and draw["b"][0].dtype == jnp.bfloat16
    assert float(jnp.std(draw["a"])) == pytest.approx(3.0, rel=0.03)
    assert float(jnp.std(draw["b"][0].astype(jnp.float32))) == pytest.approx(3.0, rel=0.05)
    # Leaves get independent draws, not one draw repeated.
    assert not np.allclose(np.asarray(draw["a"]).ravel()[:100], np.asarray(draw["b"][0][:100], np.float32))


def test_priors_are_jittable_and_differentiable():
    prior = FanInGaussian(weight_scale=2.0, bias_scale=0.5)
    grad = jax.jit(jax.grad(prior.log_prob))(PARAMS)
    # d/dx log N(x; 0, s^2) = -x / s^2.
    np.testing.assert_allclose(grad["dense"]["kernel"], -PARAMS["dense"]["kernel"] * 3 / 4.0, rtol=1e-5)
    np.testing.assert_allclose(grad["dense"]["bias"], -PARAMS["dense"]["bias"] / 0.25, rtol=1e-5)


# ---------------------------------------------------------------------------------------
# Per-leaf Gaussian (GPiG), the Gamma hierarchical prior (FH, GPiH), families, serialisation.

# PARAMS's leaves in flattening order (dict keys sorted): conv, dense/bias, dense/kernel.
PATHS = ["conv", "dense/bias", "dense/kernel"]
FAN_INS = {"conv": 12, "dense/bias": 1, "dense/kernel": 3}


def per_path(values: dict) -> dict:
    """A tree like PARAMS from ``{path: value}``."""
    return {"dense": {"kernel": values["dense/kernel"], "bias": values["dense/bias"]}, "conv": values["conv"]}


def leaf(tree, path):
    return tree["conv"] if path == "conv" else tree["dense"][path.split("/")[1]]


def test_leaf_paths_join_keys_and_indices_with_slashes():
    tree = {"hidden_0": {"kernel": 1.0, "bias": 2.0}, "blocks": [3.0, {"w": 4.0}]}
    paths = [leaf_path(path) for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    assert paths == ["blocks/0", "blocks/1/w", "hidden_0/bias", "hidden_0/kernel"]


def test_layerwise_with_unit_scales_is_fan_in_gaussian():
    ones = jax.tree.map(lambda _: 1.0, PARAMS)
    expected = float(FanInGaussian(1.0, 1.0).log_prob(PARAMS))
    assert float(LayerwiseGaussian(ones).log_prob(PARAMS)) == pytest.approx(expected, rel=1e-6)


def test_layerwise_log_prob_is_scipy_norm_with_each_leafs_scale():
    scales = {"conv": 0.5, "dense/bias": 2.0, "dense/kernel": 1.7}
    prior = LayerwiseGaussian(per_path(scales))
    expected = sum(
        stats.norm.logpdf(np.asarray(leaf(PARAMS, path)), scale=scales[path] / math.sqrt(FAN_INS[path])).sum()
        for path in PATHS
    )
    assert float(prior.log_prob(PARAMS)) == pytest.approx(expected, rel=1e-5)
    # Traced scales (as while fitting) give the same density.
    traced = jax.jit(lambda s: LayerwiseGaussian(s).log_prob(PARAMS))(jax.tree.map(jnp.asarray, per_path(scales)))
    assert float(traced) == pytest.approx(expected, rel=1e-5)


def test_layerwise_draws_have_each_leafs_std():
    template = {"wide": jnp.zeros((400, 50)), "conv": jnp.zeros((3, 3, 16, 200)), "bias": jnp.zeros((20_000,)),
                "half": jnp.zeros((100, 200), jnp.bfloat16)}
    scales = {"wide": 2.0, "conv": 0.6, "bias": 0.3, "half": 5.0}
    draw = LayerwiseGaussian(scales).sample(jax.random.key(3), template)
    assert jax.tree.structure(draw) == jax.tree.structure(template)
    assert draw["half"].dtype == jnp.bfloat16 and draw["wide"].dtype == jnp.float32
    # 20,000+ entries per leaf: the sample std is within about 0.5% of the truth (1 sd).
    expected = {"wide": 2.0 / 20.0, "conv": 0.6 / 12.0, "bias": 0.3, "half": 5.0 / 10.0}
    for name, std in expected.items():
        assert float(jnp.std(draw[name].astype(jnp.float32))) == pytest.approx(std, rel=0.03), name


# Different shapes and rates per leaf, so that a mix-up of leaves shows.
GAMMA_SHAPES = {"conv": 2.0, "dense/bias": 0.7, "dense/kernel": 3.5}
GAMMA_RATES = {"conv": 1.5, "dense/bias": 0.4, "dense/kernel": 2.5}
GAMMA_PRIOR = GammaPrecision(per_path(GAMMA_SHAPES), per_path(GAMMA_RATES))


def test_gamma_precision_log_prob_is_scipy_with_the_log_jacobian():
    log_precisions = per_path({"conv": jnp.array(0.3), "dense/bias": jnp.array(-1.2), "dense/kernel": jnp.array(0.8)})
    expected = 0.0
    for path in PATHS:
        precision = math.exp(float(leaf(log_precisions, path)))
        std = 1.0 / math.sqrt(precision * FAN_INS[path])
        expected += stats.norm.logpdf(np.asarray(leaf(PARAMS, path), np.float64), scale=std).sum()
        expected += stats.gamma.logpdf(precision, GAMMA_SHAPES[path], scale=1.0 / GAMMA_RATES[path])
        expected += math.log(precision)  # the Jacobian of u = log lambda
    assert float(GAMMA_PRIOR.log_prob(PARAMS, log_precisions)) == pytest.approx(expected, rel=1e-5)
    grad = jax.jit(jax.grad(GAMMA_PRIOR.log_prob, argnums=(0, 1)))(PARAMS, log_precisions)
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grad))


def test_gamma_precision_density_of_a_log_precision_integrates_to_one():
    """With no weights, the density over u = log lambda is a normalised log-Gamma density."""
    prior = GammaPrecision({"b": 0.7}, {"b": 0.4})
    params = {"b": jnp.zeros((0,))}
    mass, _ = integrate.quad(lambda u: math.exp(float(prior.log_prob(params, {"b": jnp.array(u)}))), -40.0, 10.0)
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_gamma_precision_init_is_the_log_prior_mean():
    init = GAMMA_PRIOR.init(PARAMS)
    for path in PATHS:
        assert float(leaf(init, path)) == pytest.approx(math.log(GAMMA_SHAPES[path] / GAMMA_RATES[path]), rel=1e-6)
    assert hasattr(GAMMA_PRIOR, "gibbs") and not hasattr(FanInGaussian(), "gibbs")


def test_gibbs_draws_the_exact_gamma_conditional():
    """Mean and variance of lambda over 40,000 Gibbs draws for fixed w, within 4 standard errors.

    Standard errors from the conditional Gamma(a', b') itself: sd/sqrt(N) for the mean and
    sigma^2 sqrt((2 + 6/a') / N) for the variance (Gamma kurtosis 3 + 6/a').
    """
    num = 40_000
    draws = jax.jit(jax.vmap(lambda k: GAMMA_PRIOR.gibbs(k, PARAMS)))(jax.random.split(jax.random.key(4), num))
    for path in PATHS:
        w = np.asarray(leaf(PARAMS, path), np.float64)
        post_shape = GAMMA_SHAPES[path] + w.size / 2
        post_rate = GAMMA_RATES[path] + FAN_INS[path] * np.sum(w**2) / 2
        mean, var = post_shape / post_rate, post_shape / post_rate**2
        precision = np.exp(np.asarray(leaf(draws, path), np.float64))
        assert abs(precision.mean() - mean) < 4 * math.sqrt(var / num), path
        assert abs(precision.var() - var) < 4 * var * math.sqrt((2 + 6 / post_shape) / num), path


def test_gibbs_is_finite_for_tiny_shapes_and_large_weights():
    prior = GammaPrecision({"b": 1e-3}, {"b": 1e-3})
    draws = jax.vmap(lambda k: prior.gibbs(k, {"b": jnp.full((1,), 50.0)}))(jax.random.split(jax.random.key(5), 1000))
    assert np.all(np.isfinite(draws["b"]))
    draws = jax.vmap(lambda k: prior.sample(k, {"b": jnp.zeros((1,))})[1])(jax.random.split(jax.random.key(6), 1000))
    # Gamma(1e-3) draws underflow to 0 in float32 (log -inf); loggamma keeps them finite.
    assert np.all(np.isfinite(draws["b"]))


def test_gamma_precision_joint_draws_have_the_prior_moments():
    """Per leaf: E[lambda] = a/b, and E[lambda f w^2] = 1 (w | lambda ~ N(0, 1/(lambda f)))."""
    num = 20_000
    params, log_precisions = jax.jit(jax.vmap(lambda k: GAMMA_PRIOR.sample(k, PARAMS)))(
        jax.random.split(jax.random.key(7), num))
    assert jax.tree.structure(params) == jax.tree.structure(PARAMS)
    for path in PATHS:
        shape, rate = GAMMA_SHAPES[path], GAMMA_RATES[path]
        precision = np.exp(np.asarray(leaf(log_precisions, path), np.float64))
        assert abs(precision.mean() - shape / rate) < 4 * math.sqrt(shape / num) / rate, path
        whitened = np.asarray(leaf(params, path), np.float64) ** 2 * (precision * FAN_INS[path]).reshape(
            (num,) + (1,) * (leaf(params, path).ndim - 1))
        # Squares of standard normals: mean 1, variance 2.
        assert abs(whitened.mean() - 1.0) < 4 * math.sqrt(2.0 / whitened.size), path


def test_family_initialisations_are_the_fixed_baselines():
    family = GaussianFamily()
    phi = family.init(PARAMS)
    assert family.hyperparameters(phi) == {path: {"scale": pytest.approx(1.0, rel=1e-6)} for path in PATHS}
    prior = family.prior(phi)
    assert isinstance(prior, LayerwiseGaussian) and all(isinstance(s, float) for s in jax.tree.leaves(prior.scales))
    assert float(prior.log_prob(PARAMS)) == pytest.approx(float(FanInGaussian().log_prob(PARAMS)), rel=1e-6)

    family = GammaFamily()
    phi = family.init(PARAMS)
    expected = {path: {"shape": pytest.approx(1.0, rel=1e-6), "rate": pytest.approx(1.0, rel=1e-6)} for path in PATHS}
    assert family.hyperparameters(phi) == expected
    fh = fixed_prior("fh", PARAMS)
    log_precisions = fh.init(PARAMS)
    assert float(family.prior(phi).log_prob(PARAMS, log_precisions)) == pytest.approx(
        float(fh.log_prob(PARAMS, log_precisions)), rel=1e-6)
    assert GaussianFamily(init_scale=2.5).hyperparameters(GaussianFamily(init_scale=2.5).init(PARAMS))["conv"][
        "scale"] == pytest.approx(2.5, rel=1e-6)


def test_gaussian_family_draws_have_each_leafs_std_and_are_differentiable():
    template = {"wide": jnp.zeros((400, 50)), "bias": jnp.zeros((20_000,))}
    family = GaussianFamily()
    raw = {"wide": jnp.array(math.log(math.expm1(3.0))), "bias": jnp.array(math.log(math.expm1(0.2)))}
    draw = jax.jit(lambda k, p: family.sample(k, p, template))(jax.random.key(8), raw)
    assert float(jnp.std(draw["wide"])) == pytest.approx(3.0 / 20.0, rel=0.03)
    assert float(jnp.std(draw["bias"])) == pytest.approx(0.2, rel=0.03)
    # w = softplus(raw) * c, so d sum(w^2) / d raw = 2 sum(w^2) / scale * sigmoid(raw).
    def sum_of_squares(phi):
        return sum(jnp.sum(x**2) for x in jax.tree.leaves(family.sample(jax.random.key(8), phi, template)))

    grad = jax.grad(sum_of_squares)(raw)
    for name, scale in [("wide", 3.0), ("bias", 0.2)]:
        expected = 2 * float(jnp.sum(draw[name] ** 2)) / scale * float(jax.nn.sigmoid(raw[name]))
        assert float(grad[name]) == pytest.approx(expected, rel=1e-4), name


def test_gamma_family_reparameterised_gradient_matches_the_analytic_one():
    """d/dphi E[sum w^2] by Monte Carlo over 20,000 draws vs the closed form, within 4 standard errors.

    Per leaf with n entries: E[sum w^2] = n E[1/lambda] / f = n b / ((a - 1) f) for a > 1;
    with a = softplus(raw_a), b = softplus(raw_b) the chain rule adds sigmoid(raw). Shapes
    above 2 keep the variance of the per-draw gradients finite.
    """
    template = {"kernel": jnp.zeros((4, 3)), "bias": jnp.zeros((3,))}
    shapes, rates, fan_ins = {"kernel": 5.0, "bias": 4.0}, {"kernel": 2.0, "bias": 3.0}, {"kernel": 4, "bias": 1}
    inverse = lambda v: jnp.array(math.log(math.expm1(v)))  # noqa: E731
    phi = {"shape": jax.tree.map(inverse, shapes), "rate": jax.tree.map(inverse, rates)}
    family = GammaFamily()

    def sum_of_squares(phi, key):
        return sum(jnp.sum(x**2) for x in jax.tree.leaves(family.sample(key, phi, template)))

    num = 20_000
    keys = jax.random.split(jax.random.key(9), num)
    values, grads = jax.jit(jax.vmap(jax.value_and_grad(sum_of_squares), (None, 0)))(phi, keys)
    expected_value = sum(template[k].size * rates[k] / ((shapes[k] - 1) * fan_ins[k]) for k in template)
    values = np.asarray(values, np.float64)
    assert abs(values.mean() - expected_value) < 4 * values.std() / math.sqrt(num)
    for name in template:
        n, a, b, f = template[name].size, shapes[name], rates[name], fan_ins[name]
        expected = {
            "shape": -n * b / ((a - 1) ** 2 * f) * float(jax.nn.sigmoid(phi["shape"][name])),
            "rate": n / ((a - 1) * f) * float(jax.nn.sigmoid(phi["rate"][name])),
        }
        for which, value in expected.items():
            estimates = np.asarray(grads[which][name], np.float64)
            standard_error = estimates.std() / math.sqrt(num)
            assert standard_error < 0.05 * abs(value), (name, which)
            assert abs(estimates.mean() - value) < 4 * standard_error, (name, which, estimates.mean(), value)


def test_kinds_map_to_families_and_fixed_priors():
    assert family_from_kind("gpig") == GaussianFamily()
    assert family_from_kind("gpih") == GammaFamily()
    assert fixed_prior("fg", PARAMS) == FanInGaussian()
    fh = fixed_prior("fh", PARAMS)
    assert isinstance(fh, GammaPrecision) and jax.tree.leaves(fh.shape) == [1.0] * 3 == jax.tree.leaves(fh.rate)
    with pytest.raises(ValueError, match="'gpx'"):
        family_from_kind("gpx")
    with pytest.raises(ValueError, match="'fx'"):
        fixed_prior("fx", PARAMS)


@pytest.mark.parametrize("prior", [LayerwiseGaussian(per_path({"conv": 0.5, "dense/bias": 2.0, "dense/kernel": 1.7})),
                                   GAMMA_PRIOR])
def test_prior_dict_round_trip_through_json(prior):
    data = json.loads(json.dumps(prior_to_dict(prior)))
    rebuilt = prior_from_dict(data, PARAMS)
    assert type(rebuilt) is type(prior) and prior_to_dict(rebuilt) == data
    if isinstance(prior, GammaPrecision):
        log_precisions = prior.init(PARAMS)
        expected = float(prior.log_prob(PARAMS, log_precisions))
        assert float(rebuilt.log_prob(PARAMS, log_precisions)) == pytest.approx(expected)
        assert data["kind"] == "gamma_precision" and data["shape"] == GAMMA_SHAPES and data["rate"] == GAMMA_RATES
    else:
        assert float(rebuilt.log_prob(PARAMS)) == pytest.approx(float(prior.log_prob(PARAMS)))
        assert data == {"kind": "layerwise_gaussian", "scales": {"conv": 0.5, "dense/bias": 2.0, "dense/kernel": 1.7}}


def test_prior_from_dict_names_the_problem():
    good = prior_to_dict(GAMMA_PRIOR)
    with pytest.raises(ValueError, match="'gaussian'"):
        prior_from_dict({**good, "kind": "gaussian"}, PARAMS)
    other_model = {**PARAMS, "output": jnp.zeros((5, 1))}
    with pytest.raises(ValueError, match="missing leaf paths \\['output'\\]"):
        prior_from_dict(good, other_model)
    with pytest.raises(ValueError, match="extra leaf paths \\['conv'\\]"):
        prior_from_dict(good, {"dense": PARAMS["dense"]})
    for bad in [float("nan"), float("inf"), 0.0, -1.0, True, "1.0"]:
        with pytest.raises(ValueError, match="dense/kernel"):
            prior_from_dict({**good, "rate": {**good["rate"], "dense/kernel": bad}}, PARAMS)
    with pytest.raises(ValueError, match="scales"):
        prior_from_dict({"kind": "layerwise_gaussian"}, PARAMS)
    with pytest.raises(TypeError, match="FanInGaussian"):
        prior_to_dict(FanInGaussian())
