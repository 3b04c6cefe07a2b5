"""Networks as pairs of pure functions over flax parameters.

A :class:`Network` is ``init(key, input_dim) -> params`` and ``apply(params, x) ->
outputs``. Samplers and priors see only ``params``, a plain nested dict of arrays (the
contents of flax's ``"params"`` collection, without that wrapper), so that a prior's
``log_prob`` and a sampler's noise cover exactly the trainable parameters.
"""

from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "Network", "from_module", "mlp"]

Params = dict
PRNGKey = jax.Array

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": nn.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "softplus": nn.softplus,
    "sigmoid": nn.sigmoid,
    "swish": nn.swish,
}


class Network(NamedTuple):
    """A network as two pure functions.

    Attributes:
        init: ``init(key, input_dim) -> params``, parameters for inputs with
            ``input_dim`` features (flax's default initialisation).
        apply: ``apply(params, x) -> outputs``, mapping ``(n, input_dim)`` to
            ``(n, output_dim)``.
    """

    init: Callable[[PRNGKey, int], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


class _MLP(nn.Module):
    """``depth`` hidden dense layers of ``width`` units, then a linear output layer."""

    width: int
    depth: int
    output_dim: int
    activation: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        # Named layers, so that parameter paths read hidden_0, ..., output in any depth.
        for layer in range(self.depth):
            x = self.activation(nn.Dense(self.width, name=f"hidden_{layer}")(x))
        return nn.Dense(self.output_dim, name="output")(x)


def from_module(module: nn.Module) -> Network:
    """A flax module as a :class:`Network` over its ``"params"`` collection.

    Args:
        module: a flax linen module mapping ``(n, input_dim)`` to ``(n, output_dim)``,
            with no collections besides ``"params"`` (no batch statistics).

    Returns:
        A :class:`Network` whose ``init`` traces the module on one zero input row.
    """

    def init(key: PRNGKey, input_dim: int) -> Params:
        return module.init(key, jnp.zeros((1, input_dim)))["params"]

    def apply(params: Params, x: jax.Array) -> jax.Array:
        return module.apply({"params": params}, x)

    return Network(init, apply)


def mlp(*, width: int, depth: int, output_dim: int, activation: str = "tanh") -> Network:
    """A fully connected network.

    Args:
        width: units in each hidden layer.
        depth: number of hidden layers; 0 gives a linear model.
        output_dim: number of outputs (1 for regression, the number of classes for
            classification).
        activation: the hidden nonlinearity, by name: one of :data:`ACTIVATIONS`.

    Returns:
        A :class:`Network` whose params are ``{"hidden_0": {"kernel", "bias"}, ...,
        "output": {"kernel", "bias"}}`` with kernels laid out ``(in, out)``.

    Raises:
        ValueError: for an unknown activation or a non-positive size.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
    if depth < 0 or (depth > 0 and width < 1) or output_dim < 1:
        raise ValueError(f"need depth >= 0, width >= 1 and output_dim >= 1, got {depth=}, {width=}, {output_dim=}")
    return from_module(_MLP(width=width, depth=depth, output_dim=output_dim, activation=ACTIVATIONS[activation]))
