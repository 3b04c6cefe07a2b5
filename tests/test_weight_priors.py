"""Weight priors: log densities against scipy, and the spread of their draws."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from priors.weight import FanInGaussian, IsotropicGaussian, fan_in

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
