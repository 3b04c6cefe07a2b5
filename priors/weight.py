"""Parameter priors: independent zero-mean Gaussians on every leaf of a parameter pytree.

A prior is a NamedTuple of its hyperparameters with two methods: ``log_prob(params)``,
the log density (normalising constant included) summed over every leaf, and
``sample(key, template)``, a draw with the structure, shapes and dtypes of ``template``.
That is all ``posterior.density`` asks of a prior, so any object with a ``log_prob``
serves there. Priors read only leaf shapes, never layer names, so they apply to any
network (flax or not) whose weight leaves are laid out ``(..., fan_in, fan_out)``.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (the fixed fan-in Gaussian "FG").
"""

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["IsotropicGaussian", "FanInGaussian", "fan_in"]

ArrayTree = Any
PRNGKey = jax.Array

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


def fan_in(shape: tuple[int, ...]) -> int:
    """The number of inputs feeding each output unit of a weight of this shape.

    Every axis but the last is an input axis: a dense kernel is ``(in, out)`` and a
    convolution kernel ``(height, width, in, out)`` (flax's layouts), so the fan-in is
    the product of all axes but the last.
    """
    return math.prod(shape[:-1])


# The methods every prior here shares, assigned in their class bodies (a NamedTuple
# cannot inherit them from a common base); each class supplies ``_std(leaf)``, the
# standard deviation of that leaf's entries.
def _log_prob(self, params: ArrayTree) -> jax.Array:
    """The log density of ``params``, summed over all entries of all leaves (normalised).

    Args:
        params: any pytree of arrays (weights with fan-in first, for fan-in priors).

    Returns:
        A scalar: ``sum log N(x; 0, std^2)`` with each leaf's ``std``.
    """
    total = jnp.zeros(())
    for leaf in jax.tree.leaves(params):
        std = self._std(leaf)
        log_density = -0.5 * jnp.square(leaf / std) - math.log(std) - _HALF_LOG_TWO_PI
        total = total + jnp.sum(log_density)
    return total


def _sample(self, key: PRNGKey, template: ArrayTree) -> ArrayTree:
    """A prior draw with the structure, shapes and dtypes of ``template``.

    One key per leaf, drawn directly in the leaf's shape and dtype (as
    ``samplers.base.normal_like``, which this package must not import).

    Args:
        key: a JAX PRNG key.
        template: any pytree of arrays (e.g. initial network parameters); only its
            shapes and dtypes are read.

    Returns:
        A pytree like ``template``.
    """
    leaves, treedef = jax.tree.flatten(template)
    keys = jax.random.split(key, len(leaves))
    draws = [
        self._std(leaf) * jax.random.normal(k, jnp.shape(leaf), jnp.result_type(leaf))
        for k, leaf in zip(keys, leaves)
    ]
    return jax.tree.unflatten(treedef, draws)


class IsotropicGaussian(NamedTuple):
    """``N(0, scale^2)`` independently on every parameter.

    Attributes:
        scale: the standard deviation of every parameter.
    """

    scale: float = 1.0

    def _std(self, leaf: jax.Array) -> float:
        """The same standard deviation for every leaf."""
        del leaf
        return self.scale

    log_prob = _log_prob
    sample = _sample


class FanInGaussian(NamedTuple):
    """Zero-mean Gaussians with weight variances scaled by fan-in ("FG").

    The fixed baseline prior of Tran et al. (2022): every leaf with two or more axes is
    a weight with standard deviation ``weight_scale / sqrt(fan_in)``, where the fan-in is
    the product of all axes but the last (see :func:`fan_in`); every leaf with at most
    one axis is a bias with standard deviation ``bias_scale``. Dividing by the square
    root of the fan-in keeps each pre-activation's prior variance independent of the
    width of the layer below, so the function-space prior does not blow up with width.

    Attributes:
        weight_scale: the standard deviation of a weight times ``sqrt(fan_in)``.
        bias_scale: the standard deviation of a bias.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    weight_scale: float = 1.0
    bias_scale: float = 1.0

    def _std(self, leaf: jax.Array) -> float:
        """Weights by fan-in, biases by ``bias_scale``, told apart by their number of axes."""
        shape = jnp.shape(leaf)
        if len(shape) >= 2:
            return self.weight_scale / math.sqrt(fan_in(shape))
        return self.bias_scale

    log_prob = _log_prob
    sample = _sample
