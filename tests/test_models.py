"""MLPs: parameter and output shapes, the linear case, activations by name."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from posterior import models


def test_mlp_shapes():
    network = models.mlp(width=7, depth=2, output_dim=3)
    params = network.init(jax.random.key(0), 5)
    shapes = jax.tree.map(jnp.shape, params)
    assert shapes == {
        "hidden_0": {"kernel": (5, 7), "bias": (7,)},
        "hidden_1": {"kernel": (7, 7), "bias": (7,)},
        "output": {"kernel": (7, 3), "bias": (3,)},
    }
    assert network.apply(params, jnp.ones((11, 5))).shape == (11, 3)


def test_depth_zero_is_a_linear_model():
    network = models.mlp(width=100, depth=0, output_dim=2)
    params = network.init(jax.random.key(0), 3)
    assert set(params) == {"output"}
    params = {"output": {"kernel": jnp.arange(6.0).reshape(3, 2), "bias": jnp.array([1.0, -1.0])}}
    x = jnp.array([[1.0, 0.0, 2.0], [0.0, -1.0, 1.0]])
    np.testing.assert_allclose(network.apply(params, x), x @ params["output"]["kernel"] + params["output"]["bias"])


def test_hidden_layers_use_the_named_activation():
    x = jnp.array([[1.0, -2.0], [0.5, 3.0]])
    params = models.mlp(width=4, depth=1, output_dim=1).init(jax.random.key(1), 2)
    hidden = x @ params["hidden_0"]["kernel"] + params["hidden_0"]["bias"]
    readout = lambda h: h @ params["output"]["kernel"] + params["output"]["bias"]
    for name, function in (("tanh", jnp.tanh), ("relu", jax.nn.relu), ("sigmoid", jax.nn.sigmoid)):
        network = models.mlp(width=4, depth=1, output_dim=1, activation=name)
        np.testing.assert_allclose(network.apply(params, x), readout(function(hidden)), rtol=1e-6, atol=1e-6)
    for name in models.ACTIVATIONS:
        assert models.mlp(width=4, depth=1, output_dim=1, activation=name).apply(params, x).shape == (2, 1)


def test_unknown_activation_names_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown activation 'sine'.*tanh"):
        models.mlp(width=4, depth=1, output_dim=1, activation="sine")
