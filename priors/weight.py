"""Parameter priors on every leaf of a parameter pytree, and the families they are fitted from.

A prior is a NamedTuple of its hyperparameters with two methods: ``log_prob(params)``,
the log density (normalising constant included) summed over every leaf, and
``sample(key, template)``, a draw with the structure, shapes and dtypes of ``template``.
That is all ``posterior.density`` asks of a prior, so any object with a ``log_prob``
serves there. Priors read only leaf shapes, never layer names, so they apply to any
network (flax or not) whose weight leaves are laid out ``(..., fan_in, fan_out)``: a leaf
with two or more axes is a weight, a leaf with at most one axis a bias.

Hierarchical priors (:class:`GammaPrecision`) have parameters of their own, per-leaf
precisions that the MCMC sampler moves too. Their ``log_prob(params, log_precisions)``
takes those as a second argument, and they have a ``gibbs(key, params)`` method drawing
the precisions from their exact conditional; ``hasattr(prior, "gibbs")`` tells them apart.

GP-matched priors (Tran et al. 2022) learn the hyperparameters of a prior so that the
network's function-space prior matches a GP. What the fitting needs is a *family*
(:class:`GaussianFamily` "GPiG", :class:`GammaFamily` "GPiH"): ``init(template) -> phi``,
unconstrained trainable hyperparameters; ``sample(key, phi, template)``, a network
parameter draw differentiable in ``phi``; ``prior(phi)``, the fitted prior for posterior
sampling; ``hyperparameters(phi)``, the constrained values per leaf path for reports.
:func:`prior_to_dict` and :func:`prior_from_dict` store fitted priors as JSON.

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022, arXiv 2011.12829 (FG, FH, GPiG and GPiH).
"""

import math
import numbers
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

__all__ = [
    "IsotropicGaussian",
    "FanInGaussian",
    "LayerwiseGaussian",
    "GammaPrecision",
    "GaussianFamily",
    "GammaFamily",
    "fan_in",
    "leaf_path",
    "family_from_kind",
    "fixed_prior",
    "prior_to_dict",
    "prior_from_dict",
]

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


def _is_weight(leaf: Any) -> bool:
    """Leaves with two or more axes are weights, the others biases."""
    return len(jnp.shape(leaf)) >= 2


def _leaf_fan_in(leaf: Any) -> int:
    """The fan-in of a weight leaf, 1 for a bias (its entries are not divided)."""
    return fan_in(jnp.shape(leaf)) if _is_weight(leaf) else 1


def _log(value: Any) -> Any:
    """``log`` in Python for numbers (exact, as before), in JAX for arrays (traceable)."""
    if isinstance(value, numbers.Real):
        return math.log(value)
    return jnp.log(value)


def _float_dtype() -> Any:
    """JAX's default floating dtype (float32, or float64 with x64 enabled)."""
    return jnp.result_type(float)


def _key_name(entry: Any) -> str:
    """One entry of a pytree key path as text."""
    for attribute in ("key", "name", "idx"):
        if hasattr(entry, attribute):
            return str(getattr(entry, attribute))
    return str(entry)


def leaf_path(path: tuple) -> str:
    """A pytree key path (from ``jax.tree_util.tree_flatten_with_path``) as ``"a/b/0"``.

    Dict keys, attribute names and sequence indices are joined with ``"/"``, e.g.
    ``"hidden_0/kernel"`` for ``params["hidden_0"]["kernel"]``; a bare array is ``""``.
    """
    return "/".join(_key_name(entry) for entry in path)


def _leaf_paths(template: ArrayTree) -> list[str]:
    """The path of every leaf of ``template``, in flattening order."""
    return [leaf_path(path) for path, _ in jax.tree_util.tree_flatten_with_path(template)[0]]


def _per_leaf(template: ArrayTree, value: Any) -> ArrayTree:
    """A tree like ``template`` with ``value`` at every leaf."""
    return jax.tree.map(lambda _: value, template)


def _python_softplus(raw: float) -> float:
    """``log(1 + exp(raw))`` in double precision, without overflow."""
    return max(raw, 0.0) + math.log1p(math.exp(-abs(raw)))


def _inverse_softplus(value: float, name: str) -> float:
    """The raw value whose softplus is ``value`` (> 0)."""
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    value = float(value)
    # log(expm1(v)) = v + log(1 - exp(-v)), the second form avoids overflow for large v.
    return value + math.log(-math.expm1(-value))


# ---------------------------------------------------------------------------------------
# Independent Gaussian priors.


# The methods every Gaussian prior here shares, assigned in their class bodies (a
# NamedTuple cannot inherit them from a common base); each class supplies
# ``_stds(params)``, a tree like ``params`` holding the standard deviation of each
# leaf's entries.
def _log_prob(self, params: ArrayTree) -> jax.Array:
    """The log density of ``params``, summed over all entries of all leaves (normalised).

    Args:
        params: any pytree of arrays (weights with fan-in first, for fan-in priors).

    Returns:
        A scalar: ``sum log N(x; 0, std^2)`` with each leaf's ``std``.
    """
    total = jnp.zeros(())
    leaves, treedef = jax.tree.flatten(params)
    for leaf, std in zip(leaves, treedef.flatten_up_to(self._stds(params))):
        log_density = -0.5 * jnp.square(leaf / std) - _log(std) - _HALF_LOG_TWO_PI
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
    stds = treedef.flatten_up_to(self._stds(template))
    keys = jax.random.split(key, len(leaves))
    draws = []
    for k, leaf, std in zip(keys, leaves, stds):
        dtype = jnp.result_type(leaf)
        draws.append((std * jax.random.normal(k, jnp.shape(leaf), dtype)).astype(dtype))
    return jax.tree.unflatten(treedef, draws)


class IsotropicGaussian(NamedTuple):
    """``N(0, scale^2)`` independently on every parameter.

    Attributes:
        scale: the standard deviation of every parameter.
    """

    scale: float = 1.0

    def _stds(self, params: ArrayTree) -> ArrayTree:
        """The same standard deviation for every leaf."""
        return _per_leaf(params, self.scale)

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

    def _stds(self, params: ArrayTree) -> ArrayTree:
        """Weights by fan-in, biases by ``bias_scale``, told apart by their number of axes."""

        def std(leaf):
            if _is_weight(leaf):
                return self.weight_scale / math.sqrt(fan_in(jnp.shape(leaf)))
            return self.bias_scale

        return jax.tree.map(std, params)

    log_prob = _log_prob
    sample = _sample


class LayerwiseGaussian(NamedTuple):
    """Zero-mean Gaussians with one scale per leaf, weights divided by sqrt(fan-in) ("GPiG").

    The prior a :class:`GaussianFamily` fit produces: leaf ``l`` with scale ``s_l`` has
    entries of standard deviation ``s_l / sqrt(fan_in)`` if it is a weight (two or more
    axes) and ``s_l`` if it is a bias. With every scale 1 this is ``FanInGaussian()``.

    Attributes:
        scales: a pytree with the structure of the network parameters holding one
            positive scalar per leaf.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    scales: ArrayTree

    def _stds(self, params: ArrayTree) -> ArrayTree:
        """Each leaf's scale, divided by sqrt(fan_in) for weights."""
        return jax.tree.map(lambda scale, leaf: scale / math.sqrt(_leaf_fan_in(leaf)), self.scales, params)

    log_prob = _log_prob
    sample = _sample


# ---------------------------------------------------------------------------------------
# The hierarchical prior.


class GammaPrecision(NamedTuple):
    """A Gamma hyperprior on the precision of every leaf ("FH", fitted: "GPiH").

    Leaf ``l`` has a precision ``lambda_l ~ Gamma(shape_l, rate_l)`` (rate
    parameterisation, mean ``shape / rate``) and, given it, independent entries
    ``N(0, 1 / (lambda_l * fan_in))`` if it is a weight, ``N(0, 1 / lambda_l)`` if it is a
    bias. The precisions are part of the sampled position, as log precisions
    ``u_l = log lambda_l``, so that the sampler moves on an unconstrained space; the
    density over ``u`` carries the Jacobian ``lambda``.

    Unlike the non-hierarchical priors, ``log_prob`` takes the log precisions as a second
    argument; ``gibbs`` draws them from their exact conditional given the parameters.

    Attributes:
        shape: a pytree like the network parameters, one Gamma shape (> 0) per leaf.
        rate: likewise, one Gamma rate (> 0) per leaf.

    References:
        Tran, Rossi, Milios & Filippone, arXiv 2011.12829, JMLR 2022.
    """

    shape: ArrayTree
    rate: ArrayTree

    hierarchical = True

    def _per_leaf_settings(self, params: ArrayTree) -> list[tuple[Any, Any, Any]]:
        """``(leaf, shape, rate)`` for every leaf of ``params``."""
        leaves, treedef = jax.tree.flatten(params)
        return list(zip(leaves, treedef.flatten_up_to(self.shape), treedef.flatten_up_to(self.rate)))

    def init(self, template: ArrayTree) -> ArrayTree:
        """Log precisions at the log of their prior mean, ``log(shape / rate)``, one per leaf.

        Args:
            template: a pytree like the network parameters (only its structure is read).

        Returns:
            A pytree like ``template`` holding scalars.
        """
        return jax.tree.map(
            lambda shape, rate, _: jnp.asarray(_log(shape) - _log(rate), _float_dtype()),
            self.shape,
            self.rate,
            template,
        )

    def log_prob(self, params: ArrayTree, log_precisions: ArrayTree) -> jax.Array:
        """The joint log density of the parameters and the log precisions (normalised).

        Per leaf with ``n`` entries, ``f`` its fan-in (1 for a bias) and ``lambda =
        exp(u)``: ``sum log N(w; 0, 1 / (lambda f)) + log Gamma(lambda; shape, rate) +
        log lambda``, the last term being the Jacobian of ``u = log lambda``.

        Args:
            params: the network parameters.
            log_precisions: a pytree like ``params`` of scalars ``u_l``.

        Returns:
            A scalar.
        """
        total = jnp.zeros(())
        treedef = jax.tree.structure(params)
        for (leaf, shape, rate), u in zip(self._per_leaf_settings(params), treedef.flatten_up_to(log_precisions)):
            u = jnp.asarray(u)
            leaf = jnp.asarray(leaf, jnp.result_type(leaf, u))
            size, scale = math.prod(jnp.shape(leaf)), _leaf_fan_in(leaf)
            precision = jnp.exp(u)
            log_likelihood = (
                0.5 * size * (u + math.log(scale))
                - size * _HALF_LOG_TWO_PI
                - 0.5 * precision * scale * jnp.sum(jnp.square(leaf))
            )
            log_gamma = shape * _log(rate) - gammaln(shape) + (shape - 1.0) * u - rate * precision
            total = total + log_likelihood + log_gamma + u
        return total

    def gibbs(self, key: PRNGKey, params: ArrayTree) -> ArrayTree:
        """Log precisions drawn from their exact conditional given ``params``.

        Conjugacy: ``lambda_l | w ~ Gamma(shape_l + n_l / 2, rate_l + f_l sum(w^2) / 2)``
        with ``n_l`` entries and fan-in ``f_l`` (1 for a bias). The log is drawn directly
        (``jax.random.loggamma``), which stays accurate for small shapes where a Gamma
        draw can underflow to zero.

        Args:
            key: a JAX PRNG key.
            params: the network parameters.

        Returns:
            A pytree like ``params`` of scalar log precisions.
        """
        settings = self._per_leaf_settings(params)
        keys = jax.random.split(key, len(settings))
        dtype = _float_dtype()
        draws = []
        for k, (leaf, shape, rate) in zip(keys, settings):
            leaf = jnp.asarray(leaf, jnp.result_type(leaf, dtype))
            size, scale = math.prod(jnp.shape(leaf)), _leaf_fan_in(leaf)
            post_shape = shape + 0.5 * size
            post_rate = rate + 0.5 * scale * jnp.sum(jnp.square(leaf))
            draws.append((jax.random.loggamma(k, post_shape, (), dtype) - jnp.log(post_rate)).astype(dtype))
        return jax.tree.unflatten(jax.tree.structure(params), draws)

    def sample(self, key: PRNGKey, template: ArrayTree) -> tuple[ArrayTree, ArrayTree]:
        """A joint prior draw: the precisions, then the parameters given them.

        Args:
            key: a JAX PRNG key.
            template: a pytree of arrays like the network parameters; only shapes and
                dtypes are read.

        Returns:
            ``(params, log_precisions)``: ``params`` like ``template``, ``log_precisions``
            one scalar per leaf.
        """
        settings = self._per_leaf_settings(template)
        keys = jax.random.split(key, 2 * len(settings)).reshape(len(settings), 2)
        dtype = _float_dtype()
        params, log_precisions = [], []
        for (precision_key, noise_key), (leaf, shape, rate) in zip(keys, settings):
            u = (jax.random.loggamma(precision_key, shape, (), dtype) - _log(rate)).astype(dtype)
            leaf_dtype = jnp.result_type(leaf)
            noise = jax.random.normal(noise_key, jnp.shape(leaf), leaf_dtype)
            std = jnp.exp(-0.5 * u) / math.sqrt(_leaf_fan_in(leaf))
            params.append((std * noise).astype(leaf_dtype))
            log_precisions.append(u)
        treedef = jax.tree.structure(template)
        return jax.tree.unflatten(treedef, params), jax.tree.unflatten(treedef, log_precisions)


# ---------------------------------------------------------------------------------------
# Families for fitting GP-matched priors.


class GaussianFamily(NamedTuple):
    """The GPiG family: one learned scale per leaf, weights divided by sqrt(fan-in).

    ``phi`` is a pytree like the network parameters with one unconstrained scalar per
    leaf, ``scale = softplus(phi)``. It starts at ``init_scale`` everywhere, so with the
    default the initial prior is exactly FG (``FanInGaussian()``).

    Attributes:
        init_scale: the initial scale of every leaf (> 0).
    """

    init_scale: float = 1.0

    def init(self, template: ArrayTree) -> ArrayTree:
        """Raw hyperparameters with ``softplus(raw) = init_scale`` for every leaf."""
        raw = _inverse_softplus(self.init_scale, "init_scale")
        return _per_leaf(template, jnp.asarray(raw, _float_dtype()))

    def sample(self, key: PRNGKey, phi: ArrayTree, template: ArrayTree) -> ArrayTree:
        """One network-parameter draw, reparameterised: ``scale / sqrt(fan_in) * eps``.

        A draw of :class:`LayerwiseGaussian` at the traced scales ``softplus(phi)``, so
        differentiable in ``phi``; one draw per call (vmap over keys for many).
        """
        return LayerwiseGaussian(jax.tree.map(jax.nn.softplus, phi)).sample(key, template)

    def prior(self, phi: ArrayTree) -> LayerwiseGaussian:
        """The fitted prior, with a Python float scale per leaf (not traceable)."""
        return LayerwiseGaussian(jax.tree.map(lambda raw: _python_softplus(float(raw)), phi))

    def hyperparameters(self, phi: ArrayTree) -> dict[str, dict[str, float]]:
        """``{leaf path: {"scale": value}}``, e.g. ``{"hidden_0/kernel": {"scale": 1.23}}``."""
        return {path: {"scale": scale} for path, scale in _path_values(self.prior(phi).scales).items()}


class GammaFamily(NamedTuple):
    """The GPiH family: a learned Gamma(shape, rate) hyperprior on each leaf's precision.

    ``phi = {"shape": raw tree, "rate": raw tree}``, each a pytree like the network
    parameters with one unconstrained scalar per leaf; the Gamma parameters are their
    softplus. A function draw takes one precision per leaf, ``lambda = Gamma(shape) /
    rate``, then ``w = eps / sqrt(lambda * fan_in)``; ``jax.random.loggamma`` is
    implicitly reparameterised, so the draw is differentiable in the shape as well.

    Attributes:
        init_shape: the initial Gamma shape of every leaf (> 0).
        init_rate: the initial Gamma rate of every leaf (> 0).
    """

    init_shape: float = 1.0
    init_rate: float = 1.0

    def init(self, template: ArrayTree) -> dict[str, ArrayTree]:
        """Raw hyperparameters at ``init_shape`` and ``init_rate`` for every leaf."""
        raw_shape = _inverse_softplus(self.init_shape, "init_shape")
        raw_rate = _inverse_softplus(self.init_rate, "init_rate")
        dtype = _float_dtype()
        return {
            "shape": _per_leaf(template, jnp.asarray(raw_shape, dtype)),
            "rate": _per_leaf(template, jnp.asarray(raw_rate, dtype)),
        }

    def sample(self, key: PRNGKey, phi: dict[str, ArrayTree], template: ArrayTree) -> ArrayTree:
        """One network-parameter draw, reparameterised through the precision draws.

        The parameters of a :class:`GammaPrecision` draw at the traced shapes and rates
        ``softplus(phi)``, so differentiable in ``phi``; one precision per leaf per call
        (vmap over keys for many function draws). The precision is handled in log space,
        so a tiny Gamma draw gives large weights rather than infinite ones.
        """
        shape, rate = (jax.tree.map(jax.nn.softplus, phi[name]) for name in ("shape", "rate"))
        return GammaPrecision(shape=shape, rate=rate).sample(key, template)[0]

    def prior(self, phi: dict[str, ArrayTree]) -> GammaPrecision:
        """The fitted prior, with Python float shapes and rates per leaf (not traceable)."""
        constrained = jax.tree.map(lambda raw: _python_softplus(float(raw)), phi)
        return GammaPrecision(shape=constrained["shape"], rate=constrained["rate"])

    def hyperparameters(self, phi: dict[str, ArrayTree]) -> dict[str, dict[str, float]]:
        """``{leaf path: {"shape": a, "rate": b}}``."""
        prior = self.prior(phi)
        shapes, rates = _path_values(prior.shape), _path_values(prior.rate)
        return {path: {"shape": shapes[path], "rate": rates[path]} for path in shapes}


_FAMILIES = {"gpig": GaussianFamily, "gpih": GammaFamily}
_FIXED = ("fg", "fh")


def family_from_kind(kind: str) -> GaussianFamily | GammaFamily:
    """The family to fit for ``kind``: ``"gpig"`` (Gaussian) or ``"gpih"`` (hierarchical).

    Raises:
        ValueError: naming ``kind`` if it is neither.
    """
    if kind not in _FAMILIES:
        raise ValueError(f"unknown prior family kind {kind!r}; expected one of {sorted(_FAMILIES)}")
    return _FAMILIES[kind]()


def fixed_prior(kind: str, template: ArrayTree) -> FanInGaussian | GammaPrecision:
    """The fixed baseline prior ``kind`` for parameters like ``template``.

    ``"fg"``: ``FanInGaussian()`` (N(0, 1) on fan-in-scaled weights and on biases);
    ``"fh"``: ``GammaPrecision`` with shape = rate = 1 for every leaf.

    Raises:
        ValueError: naming ``kind`` if it is neither.
    """
    if kind == "fg":
        return FanInGaussian()
    if kind == "fh":
        return GammaPrecision(shape=_per_leaf(template, 1.0), rate=_per_leaf(template, 1.0))
    raise ValueError(f"unknown fixed prior kind {kind!r}; expected one of {list(_FIXED)}")


# ---------------------------------------------------------------------------------------
# Serialisation of fitted priors.


def _path_values(tree: ArrayTree) -> dict[str, float]:
    """``{leaf path: float(value)}`` for a tree of scalars."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {leaf_path(path): float(value) for path, value in flat}


# For each serialisable prior class: its kind and the per-leaf fields it stores.
_SERIALISED = {
    LayerwiseGaussian: ("layerwise_gaussian", ("scales",)),
    GammaPrecision: ("gamma_precision", ("shape", "rate")),
}


def prior_to_dict(prior: LayerwiseGaussian | GammaPrecision) -> dict[str, Any]:
    """A fitted prior as a plain JSON-able dict.

    ``{"kind": "layerwise_gaussian", "scales": {path: float}}`` or ``{"kind":
    "gamma_precision", "shape": {path: float}, "rate": {path: float}}``, leaf paths as
    :func:`leaf_path` writes them.

    Raises:
        TypeError: for any other prior (fixed priors are rebuilt by :func:`fixed_prior`).
    """
    if type(prior) not in _SERIALISED:
        raise TypeError(f"cannot serialise a {type(prior).__name__}; expected LayerwiseGaussian or GammaPrecision")
    kind, fields = _SERIALISED[type(prior)]
    return {"kind": kind, **{field: _path_values(getattr(prior, field)) for field in fields}}


def _values_for(data: dict, field: str, kind: str, paths: list[str]) -> list[float]:
    """The checked per-leaf values of ``data[field]`` in the order of ``paths``."""
    values = data.get(field)
    if not isinstance(values, dict):
        raise ValueError(f"{kind} prior: {field!r} must be a mapping from leaf path to value, got {values!r}")
    missing = [path for path in paths if path not in values]
    extra = sorted(set(values) - set(paths))
    if missing or extra:
        raise ValueError(
            f"{kind} prior does not fit these parameters ({field!r}): missing leaf paths {missing}, "
            f"extra leaf paths {extra} (a prior fitted for another model?)"
        )
    checked = []
    for path in paths:
        value = values[path]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"{kind} prior: {field} of {path!r} must be a finite number > 0, got {value!r}")
        checked.append(float(value))
    return checked


def prior_from_dict(data: dict[str, Any], template: ArrayTree) -> LayerwiseGaussian | GammaPrecision:
    """Rebuild a prior stored by :func:`prior_to_dict` for parameters shaped like ``template``.

    Raises:
        ValueError: naming the problem, for an unknown kind, leaf paths that are missing or
            extra against ``template`` (another model's prior), and values that are not
            finite positive numbers.
    """
    if not isinstance(data, dict):
        raise ValueError(f"a stored prior must be a dict, got {type(data).__name__}")
    kinds = {kind: (cls, fields) for cls, (kind, fields) in _SERIALISED.items()}
    kind = data.get("kind")
    if kind not in kinds:
        raise ValueError(f"unknown stored prior kind {kind!r}; expected one of {sorted(kinds)}")
    cls, fields = kinds[kind]
    unexpected = sorted(set(data) - {"kind", *fields})
    if unexpected:
        raise ValueError(f"{kind} prior: unexpected fields {unexpected}")
    paths = _leaf_paths(template)
    if len(set(paths)) != len(paths):
        raise ValueError("the template's leaf paths are not distinct")
    treedef = jax.tree.structure(template)
    trees = {field: jax.tree.unflatten(treedef, _values_for(data, field, kind, paths)) for field in fields}
    return cls(**trees)
