"""Experiment configs: a typed schema, YAML loading, ``key=value`` overrides.

A config is a tree of frozen dataclasses (:class:`Config` at the root). Loading checks
every key and value against the field types, so a misspelt key or a string where a
number belongs is refused with one line naming the key, before anything runs. The
resolved config is written back to each run directory, so every number a run reports
traces to a file.
"""

import copy
import dataclasses
import pathlib
import types
import typing
from typing import Any, Literal

import yaml

from samplers.sa_sgld import DEFAULT_CLOCK


class ConfigError(ValueError):
    """A config that does not fit the schema; the message names the key."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, which split.

    ``root`` is the folder holding one folder per UCI data set; the environment variable
    ``POSTERIOR_DATA`` overrides it. scikit-learn's sets and the 1-D toy need no root.
    """

    name: str
    root: str | None = None
    split: int = 0


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """An MLP: ``depth`` hidden layers of ``width`` units."""

    width: int = 50
    depth: int = 1
    activation: str = "tanh"


@dataclasses.dataclass(frozen=True)
class LikelihoodConfig:
    """``gaussian`` (fixed ``noise_std``, standardised units), ``gaussian_gamma`` (noise
    precision sampled under Gamma(``precision_shape``, ``precision_rate``)) or
    ``categorical``."""

    name: Literal["gaussian", "gaussian_gamma", "categorical"] = "gaussian"
    noise_std: float = 0.1**0.5
    precision_shape: float = 1.0
    precision_rate: float = 1.0


@dataclasses.dataclass(frozen=True)
class PriorFitConfig:
    """How a GP-matched prior (``gpig``, ``gpih``) is fitted (``priors.wasserstein.fit``).

    The defaults keep the critic warm across outer iterations and train it with Adam,
    which reaches the prior of the reference's re-initialised 200-step Adagrad critic
    in a fraction of the time (``posterior bench prior-fit``); ``warm_critic: false,
    critic_steps: 200, critic_optimizer: adagrad, critic_learning_rate: 0.02`` is the
    reference's way. ``measurement`` is a ``priors.measurement.measurement_from_spec`` mapping. The W1
    values reported in ``metrics.json`` come from a fresh critic trained for
    ``evaluation_steps`` steps, the same way before and after fitting.
    """

    num_iterations: int = 200
    num_functions: int = 128
    critic_steps: int = 20
    warm_critic: bool = True
    critic_optimizer: Literal["adam", "adagrad"] = "adam"
    critic_learning_rate: float = 1e-3
    prior_learning_rate: float = 0.05
    gradient_penalty: float = 10.0
    measurement: dict = dataclasses.field(
        default_factory=lambda: {"kind": "mixture", "num_points": 100, "data_fraction": 0.7})
    evaluation_steps: int = 2000


@dataclasses.dataclass(frozen=True)
class PriorTargetConfig:
    """The GP a fitted prior matches: ``kernel`` is a ``priors.gp.kernel_from_spec`` mapping."""

    kernel: dict = dataclasses.field(default_factory=lambda: {"kind": "rbf", "variance": 1.0, "lengthscale": 1.0})


@dataclasses.dataclass(frozen=True)
class PriorConfig:
    """The weight prior.

    ``fg``: weights N(0, scale^2 / fan_in), biases N(0, bias_scale^2). ``isotropic``:
    every parameter N(0, scale^2). ``fh``: each layer's weights and biases
    N(0, 1 / (lambda fan_in)) with lambda ~ Gamma(1, 1). ``gpig`` and ``gpih``: the
    Gaussian and hierarchical families fitted to the GP ``target`` (``fit`` says how).
    The hierarchical priors' precisions are also redrawn from their exact conditional
    every ``gibbs_every`` steps.
    """

    kind: Literal["fg", "isotropic", "fh", "gpig", "gpih"] = "fg"
    scale: float = 1.0
    bias_scale: float = 1.0
    gibbs_every: int = 10
    fit: PriorFitConfig = PriorFitConfig()
    target: PriorTargetConfig = PriorTargetConfig()


@dataclasses.dataclass(frozen=True)
class ClockConfig:
    """SA-SGLD's time rescaling (ALGORITHMS.md's names: alpha, s, Omega, m, M, r), with
    the sampler's own defaults."""

    alpha: float = DEFAULT_CLOCK.alpha
    power: float = DEFAULT_CLOCK.power
    omega: float = DEFAULT_CLOCK.omega
    smallest: float = DEFAULT_CLOCK.smallest
    largest: float = DEFAULT_CLOCK.largest
    exponent: float = DEFAULT_CLOCK.exponent


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """How the step size varies with the step count: held at ``sampler.step_size``
    (``constant``), or the cyclical cosine of Zhang et al. (2020) starting every one of
    ``num_cycles`` equal cycles over ``sampling.num_steps`` at ``sampler.step_size``
    (``cyclical_cosine``; with ``sampling.burn_in: 0`` and ``sampling.thin`` the cycle
    length, the draws are the ends of the cycles)."""

    kind: Literal["constant", "cyclical_cosine"] = "constant"
    num_cycles: int = 4


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """The SG-MCMC kernel and its hyperparameters (see ALGORITHMS.md).

    ``scale_adaptation`` (SGHMC) adapts the preconditioner during burn-in and then
    freezes it. ``max_grad_norm`` clips the stochastic gradient's global norm. ``clock``
    is read by SA-SGLD only; ``eta`` (the coupling variance) and ``predict_with`` (which
    of ``theta``, ``anchor`` or ``both`` the draws are) by Entropy-MCMC only.
    """

    name: Literal["sgld", "sghmc", "sa_sgld", "entropy_mcmc"] = "sghmc"
    step_size: float = 0.01
    schedule: ScheduleConfig = ScheduleConfig()
    friction: float = 0.01
    temperature: float = 1.0
    scale_adaptation: bool = True
    max_grad_norm: float | None = None
    clock: ClockConfig = ClockConfig()
    eta: float = 1.0e-3
    predict_with: Literal["theta", "anchor", "both"] = "theta"


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Chains and steps: draws kept are ``(num_steps - burn_in) // thin`` per chain."""

    num_chains: int = 4
    num_steps: int = 62_000
    burn_in: int = 2_000
    thin: int = 2_000
    batch_size: int | None = 32


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Devices on the 'chain' axis (default: as many local devices as divide the chains)."""

    chain: int | None = None


@dataclasses.dataclass(frozen=True)
class Config:
    """One experiment: ``name`` groups its runs under ``results/<name>/``."""

    name: str
    data: DataConfig
    seed: int = 0
    model: ModelConfig = ModelConfig()
    likelihood: LikelihoodConfig = LikelihoodConfig()
    prior: PriorConfig = PriorConfig()
    sampler: SamplerConfig = SamplerConfig()
    sampling: SamplingConfig = SamplingConfig()
    mesh: MeshConfig = MeshConfig()


def _type_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(annotation))
    if dataclasses.is_dataclass(annotation) or annotation is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string",
            type(None): "null"}[annotation]


def _convert(value: Any, annotation: Any, key: str) -> Any:
    """``value`` checked against ``annotation``; numbers widen from int to float."""
    if dataclasses.is_dataclass(annotation):
        return _build(annotation, value, key)
    if isinstance(annotation, types.UnionType):
        for option in typing.get_args(annotation):
            try:
                return _convert(value, option, key)
            except ConfigError:
                pass
    elif typing.get_origin(annotation) is Literal:
        if value in typing.get_args(annotation):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif annotation is type(None):
        if value is None:
            return None
    elif isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key '{key}' must be {_type_name(annotation)}, got {value!r}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from a mapping, refusing unknown keys."""
    where = f"'{prefix}'" if prefix else "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {values!r}")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown config key '{prefix + '.' if prefix else ''}{key}' "
                              f"(known in {where}: {', '.join(fields)})")
    arguments = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in values:
            arguments[name] = _convert(values[name], hints[name], key)
        elif field.default is dataclasses.MISSING:
            raise ConfigError(f"config key '{key}' is required")
    return cls(**arguments)


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    """Set ``tree[a][b] = value`` for ``key='a.b'``, creating sections as needed."""
    *sections, leaf = key.split(".")
    node = tree
    for depth, section in enumerate(sections):
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set '{key}': '{'.'.join(sections[:depth + 1])}' is not a section")
        node = child
    node[leaf] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'sampler.step_size=1e-3'`` -> ``('sampler.step_size', 0.001)``; values are YAML."""
    key, separator, value = text.partition("=")
    if not separator or not key.strip():
        raise ConfigError(f"override {text!r} must look like key=value (e.g. sampler.step_size=1e-3)")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    # YAML 1.1 reads '1e-3' (no dot) as a string; numbers are what such overrides mean.
    if isinstance(parsed, str):
        try:
            parsed = float(parsed)
        except ValueError:
            pass
    return key.strip(), parsed


def from_dict(values: Any, overrides: typing.Iterable[str] = ()) -> Config:
    """A validated :class:`Config` from plain data, ``key=value`` overrides applied."""
    if isinstance(values, dict):
        values = copy.deepcopy(values)  # the overrides change it
        for override in overrides:
            _set_dotted(values, *parse_override(override))
    return _build(Config, values, "")


def load(path: str | pathlib.Path, overrides: typing.Iterable[str] = ()) -> Config:
    """Read the YAML file ``path`` and validate it (with overrides) into a :class:`Config`.

    Raises:
        ConfigError: a missing or unreadable file, invalid YAML, an unknown key or a
            value of the wrong type; the message is one line naming the cause.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    return from_dict({} if values is None else values, overrides)


def to_dict(config: Config) -> dict:
    """Plain data for ``config.yaml``: every key, defaults included."""
    return dataclasses.asdict(config)
