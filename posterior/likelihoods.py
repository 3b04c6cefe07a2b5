"""Observation models p(y | f) for network outputs f.

A likelihood is a NamedTuple of its fixed settings with four pure functions:

- ``init(key) -> lik_params``: the likelihood's own sampled parameters (a pytree; ``{}``
  when it has none). They are sampled alongside the network's.
- ``log_prior(lik_params) -> scalar``: their log prior density (0 when there are none),
  in the coordinates they are sampled in.
- ``log_prob(lik_params, outputs, y) -> (n,)``: ``log p(y_i | f_i)`` for each example.
- ``moments(lik_params, outputs) -> dict``: per-example quantities, each with leading
  axis ``n``, whose weighted average over posterior draws is the predictive's
  (``mean`` and ``second_moment`` for Gaussians, ``probs`` for the categorical); see
  ``posterior.predictive``.

The Gaussian likelihoods also have ``std(lik_params) -> scalar``, a draw's noise standard
deviation, so that a predictive can be kept as the mixture of its draws' Gaussians.

Regression targets ``y`` are ``(n,)``; a ``(n, 1)`` target is accepted and flattened,
so that ``f - y`` can never broadcast to ``(n, n)`` silently.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = ["Gaussian", "GaussianGammaPrecision", "Categorical"]

PRNGKey = jax.Array

_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


# Methods shared by the likelihoods that sample nothing, assigned in their class bodies
# (a NamedTuple cannot inherit them from a common base).
def _init_without_parameters(self, key: PRNGKey) -> dict:
    """No sampled parameters: ``{}``."""
    del self, key
    return {}


def _log_prior_without_parameters(self, lik_params: dict) -> jax.Array:
    """Zero: nothing is sampled."""
    del self, lik_params
    return jnp.zeros(())


def _regression_mean(outputs: jax.Array) -> jax.Array:
    """The predicted means ``(n,)`` from network outputs ``(n, 1)``."""
    if outputs.ndim != 2 or outputs.shape[1] != 1:
        raise ValueError(f"a Gaussian likelihood needs outputs of shape (n, 1), got {outputs.shape}")
    return outputs[:, 0]


def _regression_targets(y: jax.Array, num: int) -> jax.Array:
    """``y`` as ``(n,)``, refusing anything else than ``(n,)`` or ``(n, 1)``."""
    if jnp.shape(y) not in ((num,), (num, 1)):
        raise ValueError(f"regression targets must have shape ({num},) or ({num}, 1), got {jnp.shape(y)}")
    return jnp.reshape(y, (num,))


def _gaussian_log_prob(outputs: jax.Array, y: jax.Array, log_precision: jax.Array) -> jax.Array:
    """``log N(y_i; f_i, 1 / tau)`` per example, with ``tau = exp(log_precision)``."""
    mean = _regression_mean(outputs)
    residual = _regression_targets(y, mean.shape[0]) - mean
    return 0.5 * log_precision - _HALF_LOG_TWO_PI - 0.5 * jnp.exp(log_precision) * jnp.square(residual)


def _gaussian_moments(outputs: jax.Array, variance: jax.Array) -> dict[str, jax.Array]:
    """Mean and second moment ``mu^2 + sigma^2`` of ``N(mu_i, variance)`` per example.

    Second moments rather than variances, because those average linearly over draws:
    the mixture's variance is ``E[second_moment] - E[mean]^2``.
    """
    mean = _regression_mean(outputs)
    return {"mean": mean, "second_moment": jnp.square(mean) + variance}


class Gaussian(NamedTuple):
    """``y ~ N(f, noise_std^2)`` with a fixed noise level.

    Attributes:
        noise_std: the observation noise's standard deviation (in the units of ``y``;
            standardised units when targets are standardised).
    """

    noise_std: float

    init = _init_without_parameters
    log_prior = _log_prior_without_parameters

    def log_prob(self, lik_params: dict, outputs: jax.Array, y: jax.Array) -> jax.Array:
        """``log N(y_i; f_i, noise_std^2)`` for each example.

        Args:
            lik_params: ``{}``.
            outputs: network outputs ``(n, 1)``.
            y: targets ``(n,)`` (or ``(n, 1)``).

        Returns:
            ``(n,)`` log densities.
        """
        del lik_params
        return _gaussian_log_prob(outputs, y, jnp.asarray(-2.0 * math.log(self.noise_std)))

    def moments(self, lik_params: dict, outputs: jax.Array) -> dict[str, jax.Array]:
        """``{"mean": f_i, "second_moment": f_i^2 + noise_std^2}``, each ``(n,)``."""
        del lik_params
        return _gaussian_moments(outputs, jnp.asarray(self.noise_std**2))

    def std(self, lik_params: dict) -> jax.Array:
        """The noise standard deviation, ``noise_std``, as a scalar array."""
        del lik_params
        return jnp.asarray(self.noise_std)


class GaussianGammaPrecision(NamedTuple):
    """``y ~ N(f, 1 / tau)`` with the noise precision ``tau`` sampled, ``tau ~ Gamma(shape, rate)``.

    ``tau`` is sampled as ``log_precision = log tau`` so that samplers move on the whole
    real line. The prior density in those coordinates carries the Jacobian of the
    transform: ``log p(log tau) = log Gamma(tau; shape, rate) + log tau``.

    Attributes:
        shape: the Gamma prior's shape ``a``.
        rate: the Gamma prior's rate ``b`` (mean ``a / b``).
        init_precision: the precision a chain starts from.
    """

    shape: float = 1.0
    rate: float = 1.0
    init_precision: float = 10.0

    def init(self, key: PRNGKey) -> dict[str, jax.Array]:
        """``{"log_precision": log(init_precision)}`` (the key is not used)."""
        del key
        return {"log_precision": jnp.asarray(math.log(self.init_precision), jnp.float32)}

    def log_prior(self, lik_params: dict[str, jax.Array]) -> jax.Array:
        """``log Gamma(tau; shape, rate) + log tau`` at ``tau = exp(log_precision)``.

        Args:
            lik_params: ``{"log_precision": scalar}``.

        Returns:
            A scalar: the log density of ``log_precision``.
        """
        log_precision = lik_params["log_precision"]
        # (a - 1) log tau from the Gamma density plus log tau from the Jacobian: a log tau.
        return (
            self.shape * math.log(self.rate)
            - math.lgamma(self.shape)
            + self.shape * log_precision
            - self.rate * jnp.exp(log_precision)
        )

    def log_prob(self, lik_params: dict[str, jax.Array], outputs: jax.Array, y: jax.Array) -> jax.Array:
        """``log N(y_i; f_i, 1 / tau)`` for each example.

        Args:
            lik_params: ``{"log_precision": scalar}``.
            outputs: network outputs ``(n, 1)``.
            y: targets ``(n,)`` (or ``(n, 1)``).

        Returns:
            ``(n,)`` log densities.
        """
        return _gaussian_log_prob(outputs, y, lik_params["log_precision"])

    def moments(self, lik_params: dict[str, jax.Array], outputs: jax.Array) -> dict[str, jax.Array]:
        """``{"mean": f_i, "second_moment": f_i^2 + 1 / tau}``, each ``(n,)``."""
        return _gaussian_moments(outputs, jnp.exp(-lik_params["log_precision"]))

    def std(self, lik_params: dict[str, jax.Array]) -> jax.Array:
        """The draw's noise standard deviation ``1 / sqrt(tau)``."""
        return jnp.exp(-0.5 * lik_params["log_precision"])


class Categorical(NamedTuple):
    """``y ~ Categorical(softmax(f))`` for logits ``f`` of shape ``(n, K)``."""

    init = _init_without_parameters
    log_prior = _log_prior_without_parameters

    def log_prob(self, lik_params: dict, outputs: jax.Array, y: jax.Array) -> jax.Array:
        """``log softmax(f_i)[y_i]`` for each example.

        Args:
            lik_params: ``{}``.
            outputs: logits ``(n, K)``.
            y: integer class labels ``(n,)`` in ``[0, K)``.

        Returns:
            ``(n,)`` log probabilities.
        """
        del lik_params
        if jnp.shape(y) != outputs.shape[:1]:
            raise ValueError(f"labels must have shape ({outputs.shape[0]},), got {jnp.shape(y)}")
        log_probs = jax.nn.log_softmax(outputs, axis=-1)
        return jnp.take_along_axis(log_probs, jnp.asarray(y, jnp.int32)[:, None], axis=-1)[:, 0]

    def moments(self, lik_params: dict, outputs: jax.Array) -> dict[str, jax.Array]:
        """``{"probs": softmax(f_i)}``, shape ``(n, K)``."""
        del lik_params
        return {"probs": jax.nn.softmax(outputs, axis=-1)}
