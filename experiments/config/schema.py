"""The config schema: a tree of frozen dataclasses, :class:`Config` at the root.

Each section's docstring says what its keys mean; the field types and defaults are the
schema that :mod:`experiments.config.loading` checks plain data against, and
:mod:`experiments.config.checks` holds the rules the types cannot express.
"""

import copy
import dataclasses
from typing import Any, Literal


class ConfigError(ValueError):
    """A config that does not fit the schema; the message names the key."""


def config_key(field: dataclasses.Field) -> str:
    """The key a field is written as in a config (``from`` cannot be a Python name)."""
    return field.metadata.get("key", field.name)


def as_plain_data(section: Any) -> Any:
    """A config, or a section of one, as plain data by config key, defaults included."""
    if dataclasses.is_dataclass(section):
        return {config_key(field): as_plain_data(getattr(section, field.name)) for field in dataclasses.fields(section)}
    return copy.deepcopy(section)


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
    reference's way. ``measurement`` is a ``priors.measurement.measurement_from_spec``
    mapping: ``grid`` (1-D inputs), ``training`` (training inputs; with ``noise_std``
    Gaussian noise added, with ``crop_padding`` images shifted by up to that many pixels),
    ``box``, ``mixture`` (training inputs and uniform points in their box, per pixel for
    images) or ``union`` (``parts``, a list of these, concatenated); its keys are checked
    when the run starts, against the training inputs. Every output of the network (each
    logit of a classifier) is matched to its own GP function; ``num_functions`` counts
    network draws. The W1 values reported in ``metrics.json`` come from fresh critics
    judging the initial and the fitted prior together (``priors.wasserstein.w1_judge``),
    each trained until its objective settles, for at most ``evaluation_steps`` steps.
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
    """The GP a fitted prior matches: ``kernel`` is a ``priors.gp.kernel_from_spec`` mapping,
    on the flattened pixels for images; ``lengthscale_unit: sqrt_dim`` reads its lengthscale
    in units of the square root of the input dimension."""

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
    """SA-SGLD's time rescaling (the names of docs/algorithms.md#sa-sgld: alpha, s, Omega, m, M, r), with
    the sampler's own defaults (``samplers.sa_sgld.DEFAULT_CLOCK``, written out so that a config is
    checked without importing JAX; a test keeps the two equal)."""

    alpha: float = 1.0
    power: float = 2.0
    omega: float = 1.0
    smallest: float = 0.1
    largest: float = 10.0
    exponent: float = 0.25


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
    """The sampler and its hyperparameters (see docs/algorithms.md).

    ``scale_adaptation`` (SGHMC) adapts the preconditioner during burn-in and then
    freezes it. ``max_grad_norm`` clips the stochastic gradient's global norm. ``clock``
    is read by SA-SGLD only; ``eta`` (the coupling variance) and ``predict_with`` (which
    of ``theta``, ``anchor`` or ``both`` the draws are) by Entropy-MCMC only.
    ``num_integration_steps``, ``target_acceptance_rate`` (its step size adapts toward it
    during burn-in), ``max_trajectory_length`` and ``mass_adaptation`` (a diagonal mass
    matrix adapted in windows during burn-in, frozen after) by full-batch HMC only, which
    needs ``sampling.batch_size: null``.

    ``nuts``, ``mclmc`` and ``adjusted_mclmc`` are blackjax's, full batch
    (``sampling.batch_size: null``), each chain tuned by blackjax before the first step
    (and before the burn-in): ``nuts`` by window adaptation for ``adaptation_steps``
    steps toward ``target_acceptance_rate`` (step size and a diagonal mass matrix;
    ``step_size`` is where it starts), its trajectories doubling at most
    ``max_num_doublings`` times; ``mclmc`` by blackjax's three-phase tuning of ``L`` and
    the step size toward an energy error variance of ``desired_energy_variance`` per
    dimension, sized for ``sampling.num_steps`` steps (it takes about a third as many);
    ``adjusted_mclmc`` (Metropolis-adjusted, random trajectory lengths) by two passes of
    dual averaging of the step size toward ``target_acceptance_rate`` (the key nuts
    reads; its default 0.8 applies here too, where blackjax tunes toward 0.9) from
    ``step_size``, sized for ``sampling.num_steps`` steps (it takes 30% as many). ``mass_adaptation``: null means
    each sampler's default (``hmc``: off; ``nuts``, ``mclmc``, ``adjusted_mclmc``: on,
    and ``nuts`` cannot turn it off).

    ``sgd`` is no sampler: each chain optimises the log posterior (MAP, the log prior as
    the regulariser) with optax's ``optimizer`` (``sgd`` with ``momentum``, ``adam``, or
    ``adamw`` with decoupled ``weight_decay`` on top of the prior), its learning rate
    ``step_size`` per datum (the loss is the log posterior divided by the number of
    training rows) under ``schedule``. The last iterate of every chain is one member of
    a deep ensemble of ``sampling.num_chains``; the draws kept before it only trace the
    optimisation.
    """

    name: Literal["sgld", "sghmc", "sa_sgld", "entropy_mcmc", "hmc", "nuts", "mclmc", "adjusted_mclmc", "sgd"] = "sghmc"
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
    mass_adaptation: bool | None = None
    adaptation_steps: int = 1000
    max_num_doublings: int = 10
    desired_energy_variance: float = 5.0e-4
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0


@dataclasses.dataclass(frozen=True)
class InitConfig:
    """Where each chain starts: ``from: prior``, a draw from the prior (the default), or
    ``from: map``: every chain first optimises its own prior draw for ``steps`` steps of
    optax's ``optimizer`` (``sgd`` with momentum 0.9, ``adam``, ``adamw``) at
    ``learning_rate`` per datum (the loss is the log posterior over the training rows),
    on the run's minibatches (the whole data set when ``sampling.batch_size`` is null),
    and samples from where it ended. The optimisation is checkpointed and resumed like
    the sampling; a chain that diverges while optimising fails the run as a diverged
    chain does."""

    source: Literal["prior", "map"] = dataclasses.field(default="prior", metadata={"key": "from"})
    steps: int | None = None
    optimizer: Literal["sgd", "adam", "adamw"] = "adam"
    learning_rate: float = 1.0e-3


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
    init: InitConfig = InitConfig()
    sampling: SamplingConfig = SamplingConfig()
    mesh: MeshConfig = MeshConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    eval: EvalConfig = EvalConfig()
