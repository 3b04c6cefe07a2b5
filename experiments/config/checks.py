"""The rules a config must satisfy beyond its field types: ranges and combinations.

Everything that can be judged without the data is judged here, so that a bad value fails
at once rather than after loading data, fitting a prior or compiling. Every refusal is a
:class:`ConfigError` of one line naming the key.
"""

import dataclasses
import reprlib
from typing import Any

from experiments.config.identity import HIERARCHICAL_PRIORS
from experiments.config.schema import ClockConfig, Config, ConfigError, OODConfig
from posterior.data import DATASETS, IMAGE_INPUTS
from samplers.validation import check_positive

# posterior.models.ACTIVATIONS by name: a config is checked without importing flax (a test keeps them equal).
# Metropolis tests and tuned energy errors compare log densities on the whole data set.
FULL_BATCH_SAMPLERS = ("hmc", "nuts", "mclmc", "adjusted_mclmc")
ACTIVATIONS = ("tanh", "relu", "gelu", "elu", "softplus", "sigmoid", "swish")

__all__ = ["MAX_NAME_BYTES", "check_name", "check_values", "shown"]

# Values quoted in messages are cut short: a YAML alias can stand for a structure whose
# full repr would be gigabytes (or never end), and a message is one line.
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 80


def shown(value: Any) -> str:
    """``repr(value)``, shortened for a one-line message."""
    return _QUOTE.repr(value)


# A run's name is a folder of the results directory, and most file systems cap a
# folder's name at 255 bytes.
MAX_NAME_BYTES = 255


def check_name(name: str, key: str = "name") -> None:
    """Refuse a run name that cannot be one folder of the results directory."""
    _require(name not in ("", ".", "..") and not any(c in name for c in "/\\\0"), key,
             "a plain folder name (no '/', backslash or NUL; not empty, '.' or '..')", name)
    _require(not any(ord(c) < 32 or ord(c) == 127 for c in name), key, "free of control characters", name)
    size = len(name.encode("utf-8", "surrogatepass"))
    _require(size <= MAX_NAME_BYTES, key, f"at most {MAX_NAME_BYTES} bytes as UTF-8 (a folder name; this one is "
             f"{size})", name)


def _require(holds: bool, key: str, requirement: str, value: Any) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``holds``."""
    if not holds:
        raise ConfigError(f"config key '{key}' must be {requirement}, got {shown(value)}")


def _count(key: str, value: int, minimum: int) -> None:
    """A count or index: at least ``minimum`` and, as JAX counts in 32-bit integers, below 2**31."""
    _require(minimum <= value < 2**31, key, f"an integer in [{minimum}, 2**31)", value)


def _positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    """The samplers' own rule (:func:`samplers.validation.check_positive`), naming the config key."""
    try:
        check_positive(f"config key '{key}'", value, allow_zero=allow_zero)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def check_values(config: Config) -> None:
    """Refuse values of the right type but out of range, and settings that cannot go together.

    Everything that can be judged without the data is judged here, so that a bad value
    fails at once rather than after loading data, fitting a prior or compiling.

    Raises:
        ConfigError: naming the first offending key.
    """
    check_name(config.name)
    # JAX's default 32-bit keys keep a seed's low 32 bits: seed 2**32 would repeat seed 0.
    _require(0 <= config.seed < 2**32, "seed", "an integer in [0, 2**32)", config.seed)
    _require(config.data.name in DATASETS, "data.name", f"one of {', '.join(DATASETS)}", config.data.name)
    _count("data.split", config.data.split, 0)
    if config.data.held_out_class is not None:
        _count("data.held_out_class", config.data.held_out_class, 0)
        _require(config.likelihood.name == "categorical", "likelihood.name",
                 "categorical with data.held_out_class", config.likelihood.name)

    if config.model.kind != "mlp":
        _require(config.data.name in IMAGE_INPUTS, "data.name", f"an image set ({', '.join(IMAGE_INPUTS)}) for "
                 f"model.kind={config.model.kind}", config.data.name)
    _count("model.width", config.model.width, 1)
    _count("model.depth", config.model.depth, 0)
    _require(config.model.activation in ACTIVATIONS, "model.activation", f"one of {', '.join(ACTIVATIONS)}",
             config.model.activation)

    for field in ("noise_std", "precision_shape", "precision_rate"):
        _positive(f"likelihood.{field}", getattr(config.likelihood, field))

    prior = config.prior
    _positive("prior.scale", prior.scale)
    _positive("prior.bias_scale", prior.bias_scale)
    _count("prior.gibbs_every", prior.gibbs_every, 1)
    for field in ("num_iterations", "num_functions", "critic_steps", "evaluation_steps"):
        _count(f"prior.fit.{field}", getattr(prior.fit, field), 1)
    _positive("prior.fit.critic_learning_rate", prior.fit.critic_learning_rate)
    _positive("prior.fit.prior_learning_rate", prior.fit.prior_learning_rate)
    _positive("prior.fit.gradient_penalty", prior.fit.gradient_penalty, allow_zero=True)

    sampler, sampling = config.sampler, config.sampling
    _positive("sampler.step_size", sampler.step_size)
    _require(0.0 < sampler.friction <= 1.0, "sampler.friction", "in (0, 1]", sampler.friction)
    _positive("sampler.temperature", sampler.temperature, allow_zero=True)
    if sampler.max_grad_norm is not None:
        _positive("sampler.max_grad_norm", sampler.max_grad_norm)
    for field in dataclasses.fields(ClockConfig):
        _positive(f"sampler.clock.{field.name}", getattr(sampler.clock, field.name))
    _require(sampler.clock.smallest < sampler.clock.largest, "sampler.clock.smallest",
             f"below sampler.clock.largest={sampler.clock.largest}", sampler.clock.smallest)
    _positive("sampler.eta", sampler.eta)
    _count("sampler.num_integration_steps", sampler.num_integration_steps, 1)
    _require(0.0 < sampler.target_acceptance_rate < 1.0, "sampler.target_acceptance_rate", "in (0, 1)",
             sampler.target_acceptance_rate)
    if sampler.max_trajectory_length is not None:
        _positive("sampler.max_trajectory_length", sampler.max_trajectory_length)
    _require(0.0 <= sampler.momentum < 1.0, "sampler.momentum", "in [0, 1)", sampler.momentum)
    _positive("sampler.weight_decay", sampler.weight_decay, allow_zero=True)
    if sampler.name == "sgd" and prior.kind in HIERARCHICAL_PRIORS:
        raise ConfigError(f"sampler.name=sgd finds a mode, and the hierarchical prior.kind={prior.kind} redraws "
                          f"its precisions by Gibbs updates, which an optimiser has no place for; use fg, "
                          f"isotropic or gpig")
    _count("sampler.adaptation_steps", sampler.adaptation_steps, 20)
    _count("sampler.max_num_doublings", sampler.max_num_doublings, 1)
    _positive("sampler.desired_energy_variance", sampler.desired_energy_variance)
    if sampler.name in FULL_BATCH_SAMPLERS and sampler.schedule.kind != "constant":
        raise ConfigError(f"sampler.name={sampler.name} tunes its step size and keeps it; "
                          f"sampler.schedule.kind must be constant")
    if sampler.name == "hmc" and sampler.mass_adaptation and sampling.burn_in < 20:
        raise ConfigError(f"sampler.mass_adaptation estimates the position's variances during the burn-in; "
                          f"sampling.burn_in must be at least 20 (got {sampling.burn_in})")
    if sampler.name == "nuts" and sampler.mass_adaptation is False:
        raise ConfigError("sampler.name=nuts always adapts a diagonal mass matrix (blackjax's window adaptation); "
                          "leave sampler.mass_adaptation unset or true")
    if sampler.name in ("mclmc", "adjusted_mclmc") and sampling.num_steps < 20:
        raise ConfigError(f"sampler.name={sampler.name} sizes its tuning from sampling.num_steps, which must be at "
                          f"least 20 (got {sampling.num_steps})")
    if sampler.name in FULL_BATCH_SAMPLERS and config.sampling.batch_size is not None:
        raise ConfigError(f"sampler.name={sampler.name} uses the whole data set at every step; set "
                          f"sampling.batch_size: null (got {config.sampling.batch_size})")
    if sampler.name in ("sa_sgld", "entropy_mcmc", *FULL_BATCH_SAMPLERS) and prior.kind in HIERARCHICAL_PRIORS:
        # SA-SGLD's state carries the gradient at the position, which a Gibbs move would
        # leave stale; Entropy-MCMC's position is theta, the anchor or both, not one tree
        # a Gibbs move could update.
        raise ConfigError(f"sampler.name={sampler.name} cannot sample the hierarchical "
                          f"prior.kind={prior.kind} (its Gibbs updates do not fit the sampler's state); "
                          f"use sgld or sghmc")

    init = config.init
    if init.source == "map":
        if init.steps is None:
            raise ConfigError("init.from=map needs init.steps, the optimiser steps each chain takes before sampling")
        _count("init.steps", init.steps, 1)
        _positive("init.learning_rate", init.learning_rate)
    elif init.steps is not None:
        raise ConfigError(f"config key 'init.steps' is read with init.from: map only (got {shown(init.steps)} "
                          f"with init.from: {init.source})")
    if init.source == "map" and sampler.name == "sgd":
        raise ConfigError("init.from=map with sampler.name=sgd would optimise twice; set the steps in sampling")

    _count("sampling.num_chains", sampling.num_chains, 1)
    _count("sampling.num_steps", sampling.num_steps, 1)
    _require(0 <= sampling.burn_in < sampling.num_steps, "sampling.burn_in",
             f"in [0, sampling.num_steps={sampling.num_steps})", sampling.burn_in)
    kept_steps = sampling.num_steps - sampling.burn_in
    _require(1 <= sampling.thin <= kept_steps, "sampling.thin",
             f"in [1, {kept_steps}] (the steps after burn-in), or no draw is kept", sampling.thin)
    if sampling.batch_size is not None:
        _count("sampling.batch_size", sampling.batch_size, 1)
    if sampler.schedule.kind == "cyclical_cosine":
        _require(1 <= sampler.schedule.num_cycles <= sampling.num_steps, "sampler.schedule.num_cycles",
                 f"in [1, sampling.num_steps={sampling.num_steps}]", sampler.schedule.num_cycles)
    if config.checkpoint.every is not None:
        _count("checkpoint.every", config.checkpoint.every, 1)
    if config.mesh.chain is not None:
        _require(config.mesh.chain >= 1 and sampling.num_chains % config.mesh.chain == 0, "mesh.chain",
                 f"a divisor of sampling.num_chains={sampling.num_chains}", config.mesh.chain)
    _count("mesh.data", config.mesh.data, 1)
    if sampling.batch_size is not None:
        _require(sampling.batch_size % config.mesh.data == 0, "mesh.data",
                 f"a divisor of sampling.batch_size={sampling.batch_size}", config.mesh.data)
    ood = config.eval.ood
    if ood is not None:
        _check_ood(config, ood)
    reference = config.eval.reference
    if reference is not None:
        _require(reference.strip() != "" and "\0" not in reference, "eval.reference",
                 "a path to a run directory or its predictive.npz (not empty, no NUL), or null", reference)


def _check_ood(config: Config, ood: OODConfig) -> None:
    """Refuse an ``eval.ood`` that cannot be carried out, naming the key."""
    _require(config.likelihood.name == "categorical", "likelihood.name",
             "categorical with eval.ood (predictive entropy of class probabilities)", config.likelihood.name)
    if ood.kind == "held_out_class" and config.data.held_out_class is None:
        raise ConfigError("eval.ood.kind=held_out_class needs data.held_out_class, the class to hold out")
    if ood.kind == "data":
        _require(ood.name in DATASETS and ood.name != config.data.name, "eval.ood.name",
                 f"a data set other than data.name={config.data.name} (one of {', '.join(DATASETS)})", ood.name)
    elif ood.name is not None or ood.root is not None:
        raise ConfigError(f"eval.ood.name and eval.ood.root are read with eval.ood.kind=data only "
                          f"(got kind={ood.kind})")
    if ood.kind == "noise":
        _count("eval.ood.num_points", ood.num_points, 1)
