"""The pieces a config names, built from it: likelihood, network, OOD inputs, step size, sampler.

Each function reads one part of a validated :class:`~experiments.config.Config` and
returns the library object a notebook would build by hand (see README), so that a run
from the command line and one from a notebook compose the same pieces.
"""

import dataclasses
from typing import Any, Callable

import numpy as np

import samplers
from experiments.config import Config
from posterior import density, likelihoods, models
from posterior.data import Dataset, load

__all__ = ["build_likelihood", "build_network", "build_optimizer", "build_sampler", "build_schedule",
           "gradient_evaluations", "ood_inputs"]


def build_likelihood(config: Config, dataset: Dataset):
    """The likelihood the config names, checked against the data set's task."""
    name = config.likelihood.name
    if (name == "categorical") != (dataset.task == "classification"):
        raise ValueError(f"likelihood.name={name!r} does not fit {dataset.name}, a {dataset.task} data set")
    if name == "gaussian":
        return likelihoods.Gaussian(noise_std=config.likelihood.noise_std)
    if name == "gaussian_gamma":
        return likelihoods.GaussianGammaPrecision(shape=config.likelihood.precision_shape,
                                                  rate=config.likelihood.precision_rate)
    return likelihoods.Categorical()


def build_network(config: Config, dataset: Dataset) -> models.Network:
    """The network ``model.kind`` names, with one output per class (one for regression)."""
    settings = config.model
    if settings.kind == "mlp":
        output_dim = dataset.num_classes if dataset.task == "classification" else 1
        return models.mlp(width=settings.width, depth=settings.depth, output_dim=output_dim,
                          activation=settings.activation)
    build = models.lenet if settings.kind == "lenet" else models.resnet20_frn
    return build(num_classes=dataset.num_classes, activation=settings.activation)


def ood_inputs(config: Config, dataset: Dataset, held_out: np.ndarray | None, data_root: str | None) -> np.ndarray:
    """The inputs ``eval.ood`` names: the held-out class's test inputs, standard normal
    noise in ``dataset``'s standardised units, or another data set's test inputs
    standardised with that set's own training statistics.

    Raises:
        posterior.data.DataError: when the OOD data set cannot be loaded.
        ValueError: when its inputs are not of the run's input shape.
    """
    ood = config.eval.ood
    if ood.kind == "held_out_class":
        return held_out
    if ood.kind == "noise":
        rng = np.random.default_rng([config.seed, config.data.split])
        return rng.standard_normal((ood.num_points, *dataset.input_shape)).astype(np.float32)
    other = load(ood.name, root=ood.root or data_root, split=0)
    if other.input_shape != dataset.input_shape:
        raise ValueError(f"eval.ood.name={ood.name} has inputs of shape {other.input_shape}, "
                         f"not {dataset.name}'s {dataset.input_shape}")
    return other.x_test


def build_schedule(config: Config) -> float | samplers.schedules.Schedule:
    """The step size the config asks for: a float, or a schedule of the step count."""
    settings = config.sampler
    if settings.schedule.kind == "constant":
        return settings.step_size
    return samplers.schedules.cyclical_cosine(settings.step_size, num_steps=config.sampling.num_steps,
                                              num_cycles=settings.schedule.num_cycles)


def gradient_evaluations(config: Config, result: samplers.SampleResult) -> int:
    """The log density's gradients that ``result``'s chains took: counted in the state by
    the samplers that tune per chain or vary their trajectories (``nuts``, ``mclmc``,
    ``adjusted_mclmc``);
    otherwise chains x steps taken x ``num_integration_steps`` for HMC, x 1 for every
    other sampler (and the optimiser)."""
    counted = getattr(result.state, "gradient_evaluations", None)
    if counted is not None:
        return int(np.sum(samplers.mesh.fetch(counted), dtype=np.int64))
    per_step = config.sampler.num_integration_steps if config.sampler.name == "hmc" else 1
    return config.sampling.num_chains * result.num_steps_taken * per_step


def build_optimizer(name: str, learning_rate, *, momentum: float = 0.9, weight_decay: float = 0.0):
    """The optax optimiser a config names (``sgd`` with ``momentum``, ``adam``, ``adamw``
    with ``weight_decay``), at ``learning_rate`` (a number or a schedule)."""
    import optax

    if name == "sgd":
        return optax.sgd(learning_rate, momentum=momentum or None)
    if name == "adamw":
        return optax.adamw(learning_rate, weight_decay=weight_decay)
    return optax.adam(learning_rate)


def build_sampler(config: Config, logdensity_fn: Callable, prior: Any, *, num_train: int
                  ) -> samplers.SamplingAlgorithm:
    """SGLD, SGHMC, SA-SGLD, Entropy-MCMC, full-batch HMC, blackjax's NUTS, MCLMC or
    adjusted MCLMC (each chain tuned before its first step) or an optimiser (``sgd``, whose
    loss is the log posterior over ``num_train``) with the config's hyperparameters.

    A hierarchical prior's parameters are also redrawn from their exact conditional
    every ``prior.gibbs_every`` steps (SGLD and SGHMC only: the config refuses the
    others with such a prior).
    """
    settings = config.sampler
    step_size = build_schedule(config)
    if settings.name == "sgld":
        alg = samplers.sgld(logdensity_fn, step_size, temperature=settings.temperature,
                            max_grad_norm=settings.max_grad_norm)
    elif settings.name == "sa_sgld":
        alg = samplers.sa_sgld(logdensity_fn, step_size, temperature=settings.temperature,
                               max_grad_norm=settings.max_grad_norm, **dataclasses.asdict(settings.clock))
    elif settings.name == "hmc":
        alg = samplers.hmc(logdensity_fn, settings.step_size, settings.num_integration_steps,
                           target_acceptance_rate=settings.target_acceptance_rate,
                           adaptation_steps=config.sampling.burn_in,
                           max_trajectory_length=settings.max_trajectory_length, temperature=settings.temperature,
                           adapt_mass_matrix=bool(settings.mass_adaptation))
    elif settings.name == "nuts":
        alg = samplers.nuts(logdensity_fn, adaptation_steps=settings.adaptation_steps,
                            target_acceptance_rate=settings.target_acceptance_rate,
                            initial_step_size=settings.step_size, max_num_doublings=settings.max_num_doublings)
    elif settings.name == "mclmc":
        alg = samplers.mclmc(logdensity_fn, num_steps=config.sampling.num_steps,
                             desired_energy_variance=settings.desired_energy_variance,
                             diagonal_preconditioning=settings.mass_adaptation is not False)
    elif settings.name == "adjusted_mclmc":
        alg = samplers.adjusted_mclmc(logdensity_fn, num_steps=config.sampling.num_steps,
                                      target_acceptance_rate=settings.target_acceptance_rate,
                                      diagonal_preconditioning=settings.mass_adaptation is not False,
                                      initial_step_size=settings.step_size)
    elif settings.name == "sgd":
        optimizer = build_optimizer(settings.optimizer, step_size, momentum=settings.momentum,
                                    weight_decay=settings.weight_decay)
        alg = samplers.sgd(logdensity_fn, optimizer, scale=1.0 / num_train)
    elif settings.name == "entropy_mcmc":
        alg = samplers.entropy_mcmc(logdensity_fn, step_size, settings.eta, temperature=settings.temperature,
                                    max_grad_norm=settings.max_grad_norm, predict_with=settings.predict_with)
    else:
        alg = samplers.sghmc(logdensity_fn, step_size, friction=settings.friction,
                             temperature=settings.temperature, max_grad_norm=settings.max_grad_norm,
                             scale_adaptation_steps=config.sampling.burn_in if settings.scale_adaptation else 0)
    if not density.is_hierarchical(prior):
        return alg

    def redraw_prior(key, position):
        return {**position, "prior": prior.gibbs(key, position["network"])}

    return samplers.with_gibbs(alg, redraw_prior, every=config.prior.gibbs_every)
