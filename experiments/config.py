"""Experiment configs: a typed schema, YAML loading, ``key=value`` overrides.

A config is a tree of frozen dataclasses (:class:`Config` at the root). Loading checks
every key and value against the field types, then the ranges and combinations the types
cannot express (a positive step size, a burn-in shorter than the run, a prior the sampler
can sample), so a misspelt key, a string where a number belongs or a count of zero chains
is refused with one line naming the key, before anything runs. The
resolved config is written back to each run directory, so every number a run reports
traces to a file.
"""

import copy
import dataclasses
import pathlib
import reprlib
import types
import typing
from typing import Any, Literal

import yaml

from posterior.data import DATASETS, IMAGE_INPUTS
from posterior.models import ACTIVATIONS
from samplers.base import check_positive
from samplers.sa_sgld import DEFAULT_CLOCK


class ConfigError(ValueError):
    """A config that does not fit the schema; the message names the key."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Which data set, where it lives, which split.

    ``root`` is the folder holding one folder per UCI data set, or an image set's files;
    the environment variable ``POSTERIOR_DATA`` overrides it. scikit-learn's sets and the
    1-D toy need no root. ``held_out_class`` (classification) leaves that class's rows out
    of training and testing (``posterior.data.without_class``); ``eval.ood.kind:
    held_out_class`` then tests how uncertain the model is about them.
    """

    name: str
    root: str | None = None
    split: int = 0
    held_out_class: int | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The network (``posterior.models``): an ``mlp`` of ``depth`` hidden layers of
    ``width`` units (images are read flattened), or for images (digits and the image sets)
    the ``lenet`` CNN or ``resnet20_frn``, which ignore ``width`` and ``depth``."""

    kind: Literal["mlp", "lenet", "resnet20_frn"] = "mlp"
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


# The prior kinds whose precisions are sampled too, by Gibbs updates between steps.
HIERARCHICAL_PRIORS = ("fh", "gpih")


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
    """The sampler and its hyperparameters (see ALGORITHMS.md).

    ``scale_adaptation`` (SGHMC) adapts the preconditioner during burn-in and then
    freezes it. ``max_grad_norm`` clips the stochastic gradient's global norm. ``clock``
    is read by SA-SGLD only; ``eta`` (the coupling variance) and ``predict_with`` (which
    of ``theta``, ``anchor`` or ``both`` the draws are) by Entropy-MCMC only.
    ``num_integration_steps``, ``target_acceptance_rate`` (its step size adapts toward it
    during burn-in) and ``max_trajectory_length`` by full-batch HMC only, which needs
    ``sampling.batch_size: null``.
    """

    name: Literal["sgld", "sghmc", "sa_sgld", "entropy_mcmc", "hmc"] = "sghmc"
    step_size: float = 0.01
    schedule: ScheduleConfig = ScheduleConfig()
    friction: float = 0.01
    temperature: float = 1.0
    scale_adaptation: bool = True
    max_grad_norm: float | None = None
    clock: ClockConfig = ClockConfig()
    eta: float = 1.0e-3
    predict_with: Literal["theta", "anchor", "both"] = "theta"
    num_integration_steps: int = 10
    target_acceptance_rate: float = 0.8
    max_trajectory_length: float | None = None


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    """Chains and steps: draws kept are ``(num_steps - burn_in) // thin`` per chain.

    ``on_divergence`` says what a chain whose position or log density becomes non-finite
    does to the run: ``stop`` reports the run as diverged, with no test metrics;
    ``drop_chain`` leaves such chains out of the predictive and the diagnostics (the run
    is diverged only when every chain is). ``stop`` also ends sampling at the first
    chunk after a divergence. ``save_samples`` writes the kept draws to
    ``samples/draws.npz`` in the run directory.
    """

    num_chains: int = 4
    num_steps: int = 62_000
    burn_in: int = 2_000
    thin: int = 2_000
    batch_size: int | None = 32
    on_divergence: Literal["stop", "drop_chain"] = "stop"
    save_samples: bool = False


@dataclasses.dataclass(frozen=True)
class CheckpointConfig:
    """Save the sampler's whole state every ``every`` steps (at the end of the chunk that
    reaches it) into ``checkpoint/`` of the run directory, and after the last step;
    ``posterior run`` resumes from it (``--restart`` discards it). None: no checkpoints."""

    every: int | None = 10_000


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Devices on the 'chain' axis (default: as many local devices as divide the chains,
    over those ``data`` leaves) and on the 'data' axis, whose devices split every batch
    of a chain (the whole data set without minibatches) and add up its log likelihood."""

    chain: int | None = None
    data: int = 1


@dataclasses.dataclass(frozen=True)
class OODConfig:
    """The out-of-distribution inputs a classifier's predictive entropy should single out
    (``test_ood_auroc``, ``test_ood_aupr``): the test rows of ``data.held_out_class``
    (``held_out_class``), ``num_points`` images of independent standard normal pixels in
    the standardised units of the inputs (``noise``), or the test inputs of the data set
    ``name`` (``data``; read from ``root``, by default the run's data folder, and
    standardised with its own training statistics), which must have the run's input
    shape."""

    kind: Literal["held_out_class", "noise", "data"]
    name: str | None = None
    root: str | None = None
    num_points: int = 1000


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """How the run is judged beyond its test metrics. ``reference``: a run directory, or
    its ``predictive.npz``, whose test predictive (e.g. long HMC's) the run is compared
    with (``reference_agreement``, ``reference_tv``); it must be of the same data set,
    split and task, and is read before sampling. ``{split}`` and ``{seed}`` in it are the
    run's (one sweep over splits, each split against its own reference). It does not change the draws, so a
    checkpoint is resumed whatever it is; so is ``ood`` (:class:`OODConfig`)."""

    reference: str | None = None
    ood: OODConfig | None = None


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
    checkpoint: CheckpointConfig = CheckpointConfig()
    eval: EvalConfig = EvalConfig()


# Values quoted in messages are cut short: a YAML alias can stand for a structure whose
# full repr would be gigabytes (or never end), and a message is one line.
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 80
# A mapping-valued key (a kernel or measurement spec) is plain data; beyond these it is
# a cycle or an alias bomb, which config.yaml could never be written from.
_MAX_DEPTH = 32
_MAX_NODES = 10_000
_SCALARS = (str, int, float, bool, type(None))


def _shown(value: Any) -> str:
    """``repr(value)``, shortened for a one-line message."""
    return _QUOTE.repr(value)


def _check_plain_data(value: Any, key: str) -> None:
    """Refuse a mapping-valued key unless it holds only scalars, lists and mappings, finitely."""
    pending, visited = [(value, 0)], 0
    while pending:
        node, depth = pending.pop()
        visited += 1
        if depth > _MAX_DEPTH or visited > _MAX_NODES:
            raise ConfigError(f"config key '{key}' is nested deeper than {_MAX_DEPTH} levels or holds more than "
                              f"{_MAX_NODES} values (a cycle of YAML aliases?)")
        if isinstance(node, dict):
            if not all(isinstance(child, _SCALARS) for child in node):
                raise ConfigError(f"config key '{key}' has a mapping key that is not a scalar")
            pending.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            pending.extend((child, depth + 1) for child in node)
        elif not isinstance(node, _SCALARS):
            raise ConfigError(f"config key '{key}' must hold only numbers, strings, lists and mappings, "
                              f"got {_shown(node)}")


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
                # A mapping meant for a section: what is wrong inside it says more than the union.
                if isinstance(value, dict) and dataclasses.is_dataclass(option):
                    raise
    elif typing.get_origin(annotation) is Literal:
        if value in typing.get_args(annotation):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:  # an integer beyond the float range: refused below
                pass
    elif annotation is type(None):
        if value is None:
            return None
    elif annotation is dict:
        if isinstance(value, dict):
            _check_plain_data(value, key)
            return value
    elif isinstance(value, annotation) and not (annotation is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"config key '{key}' must be {_type_name(annotation)}, got {_shown(value)}")


def _build(cls: type, values: Any, prefix: str) -> Any:
    """An instance of the dataclass ``cls`` from a mapping, refusing unknown keys."""
    where = f"'{prefix}'" if prefix else "the config"
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping of keys to values, got {_shown(values)}")
    hints = typing.get_type_hints(cls)
    fields = {field.name: field for field in dataclasses.fields(cls)}
    for key in values:
        if key not in fields:
            raise ConfigError(f"unknown config key {_shown(f'{prefix}.{key}' if prefix else key)} "
                              f"(known in {where}: {', '.join(fields)})")
    arguments = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in values:
            arguments[name] = _convert(values[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ConfigError(f"config key '{key}' is required")
    return cls(**arguments)


def _require(holds: bool, key: str, requirement: str, value: Any) -> None:
    """Raise :class:`ConfigError` naming ``key`` unless ``holds``."""
    if not holds:
        raise ConfigError(f"config key '{key}' must be {requirement}, got {_shown(value)}")


def _count(key: str, value: int, minimum: int) -> None:
    """A count or index: at least ``minimum`` and, as JAX counts in 32-bit integers, below 2**31."""
    _require(minimum <= value < 2**31, key, f"an integer in [{minimum}, 2**31)", value)


def _positive(key: str, value: float, *, allow_zero: bool = False) -> None:
    """The samplers' own rule (:func:`samplers.base.check_positive`), naming the config key."""
    try:
        check_positive(f"config key '{key}'", value, allow_zero=allow_zero)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _check_values(config: Config) -> None:
    """Refuse values of the right type but out of range, and settings that cannot go together.

    Everything that can be judged without the data is judged here, so that a bad value
    fails at once rather than after loading data, fitting a prior or compiling.

    Raises:
        ConfigError: naming the first offending key.
    """
    name = config.name
    # The name is a folder of the results directory: one level, never outside it.
    _require(name not in ("", ".", "..") and not any(c in name for c in "/\\\0"), "name",
             "a plain folder name (no '/', backslash or NUL; not empty, '.' or '..')", name)
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
    if sampler.name == "hmc" and sampler.schedule.kind != "constant":
        raise ConfigError("sampler.name=hmc adapts its step size during burn-in and keeps it; "
                          "sampler.schedule.kind must be constant")
    if sampler.name == "hmc" and config.sampling.batch_size is not None:
        raise ConfigError(f"sampler.name=hmc uses the whole data set at every step; set sampling.batch_size: null "
                          f"(got {config.sampling.batch_size})")
    if prior.kind in ("gpig", "gpih") and config.model.kind != "mlp":
        raise ConfigError(f"prior.kind={prior.kind} is fitted on measurement points of flat feature vectors, "
                          f"for model.kind: mlp only (got model.kind={config.model.kind})")
    if sampler.name in ("sa_sgld", "entropy_mcmc", "hmc") and prior.kind in HIERARCHICAL_PRIORS:
        # SA-SGLD's state carries the gradient at the position, which a Gibbs move would
        # leave stale; Entropy-MCMC's position is theta, the anchor or both, not one tree
        # a Gibbs move could update.
        raise ConfigError(f"sampler.name={sampler.name} cannot sample the hierarchical "
                          f"prior.kind={prior.kind} (its Gibbs updates do not fit the sampler's state); "
                          f"use sgld or sghmc")

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


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    """Set ``tree[a][b] = value`` for ``key='a.b'``, creating sections as needed."""
    *sections, leaf = key.split(".")
    node = tree
    for depth, section in enumerate(sections):
        child = node.setdefault(section, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {_shown(key)}: {_shown('.'.join(sections[:depth + 1]))} is not a section")
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
    """A validated :class:`Config` from plain data, ``key=value`` overrides applied.

    Args:
        values: the config as plain data (a mapping, as YAML loads it).
        overrides: ``key=value`` strings by dotted key, applied in order.

    Returns:
        The :class:`Config`, every key and value checked.

    Raises:
        ConfigError: an unknown or missing key, a value of the wrong type or out of
            range, or settings that cannot go together; the message is one line naming
            the key.
    """
    if isinstance(values, dict):
        values = copy.deepcopy(values)  # the overrides change it
        for override in overrides:
            _set_dotted(values, *parse_override(override))
    config = _build(Config, values, "")
    _check_values(config)
    return config


def load(path: str | pathlib.Path, overrides: typing.Iterable[str] = ()) -> Config:
    """Read the YAML file ``path`` and validate it (with overrides) into a :class:`Config`.

    Raises:
        ConfigError: a missing or unreadable file, text that is not UTF-8 or not valid
            YAML, or a config :func:`from_dict` refuses; the message is one line naming
            the cause.
    """
    path = pathlib.Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"config {path} is not UTF-8 text (byte {error.start})") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config {path} is not valid YAML{where}") from None
    except RecursionError:  # PyYAML composes nested collections recursively
        raise ConfigError(f"config {path} is nested too deeply to read") from None
    return from_dict({} if values is None else values, overrides)


def to_dict(config: Config) -> dict:
    """Plain data for ``config.yaml``: every key, defaults included."""
    return dataclasses.asdict(config)
