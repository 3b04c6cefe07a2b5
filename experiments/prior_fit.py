"""The weight prior a config names: fixed, or fitted to a GP once and then reused.

A fitted prior (``gpig``, ``gpih``) is determined by the prior section of the config, the
model, the seed and the training inputs (the measurement set draws from them). Those
are hashed; the fit is saved as ``<results>/prior-cache/<hash>.json`` and every later
run with the same hash loads it instead of fitting again. A saved fit that cannot be used
(not JSON, another config's, a prior for other parameters) stops the run with one line
naming the file, rather than being overwritten by a new fit. The run directory gets its
own copy (``prior.json``), so a run's folder says which prior produced its numbers.
"""

import hashlib
import json
import pathlib
from typing import Any, Callable, NamedTuple

import jax
import numpy as np
import optax

from experiments import rundir
from experiments.config import Config
from experiments.config.identity import identity_hash, prior_fit_identity
from posterior.data import Dataset
from posterior.models import Network
from priors import gp, measurement, wasserstein, weight

__all__ = ["CACHE", "PriorChoice", "fit_hash", "choose_prior"]

CACHE = "prior-cache"
# Bump when a change to the fitting code makes cached fits stale. 3: every output of a
# network is matched (before, only the first).
_FORMAT = 3
_PLOT_POINTS = 200
_PLOT_FUNCTIONS = 12
# What a saved fit must hold (as :func:`_fit` writes it) and the numbers of its report.
_SAVED_FIELDS = {"hash": str, "prior": dict, "report": dict, "hyperparameters": dict, "trace": list}
_REPORT_KEYS = ("w1_initial", "w1_final", "w1_initial_error", "w1_final_error", "judge_steps", "judge_seconds",
                "iterations", "seconds")


class PriorChoice(NamedTuple):
    """The prior for sampling and, for a fitted one, what its fit produced.

    Attributes:
        prior: the prior object (``log_prob``; hierarchical ones also ``gibbs``).
        fit: None for a fixed prior; else the saved record: ``hash``, ``prior`` (as
            ``weight.prior_to_dict``), ``report`` (the judged ``w1_initial`` and
            ``w1_final`` with their standard errors ``w1_initial_error`` and
            ``w1_final_error``, ``judge_steps``, ``judge_seconds``, ``iterations``,
            ``seconds``) and ``trace`` (the W1 estimate per iteration).
        function_draws: for 1-D inputs, ``{"x", "gp", "initial", "fitted"}`` function
            values at a grid for the prior-draws plot; else None.
        cached: whether the fit was loaded rather than computed.
    """

    prior: Any
    fit: dict | None
    function_draws: dict[str, np.ndarray] | None
    cached: bool


def fit_hash(config: Config, dataset: Dataset) -> str:
    """The hash of everything that determines a fitted prior (:func:`identity.prior_fit_identity`
    and the training inputs)."""
    identity = {"format": _FORMAT, **prior_fit_identity(config),
                "x_train": hashlib.sha256(np.ascontiguousarray(dataset.x_train, np.float32).tobytes()).hexdigest()}
    return identity_hash(identity)


def _parameter_draw(prior: Any, key: jax.Array, template: Any) -> Any:
    """Network parameters drawn from ``prior`` (a hierarchical draw also returns its precisions)."""
    draw = prior.sample(key, template)
    return draw[0] if isinstance(draw, tuple) else draw


def _fit(config: Config, dataset: Dataset, network: Network, template: Any, family: Any, target: Any,
         log: Callable[[str], None]) -> dict:
    """Fit ``family`` to the GP ``target``; the record saved in the cache."""
    settings = config.prior.fit
    points = measurement.measurement_from_spec(settings.measurement, x_train=dataset.x_train,
                                               path="prior.fit.measurement")
    fit_key, evaluation_key, points_key = jax.random.split(jax.random.fold_in(jax.random.key(config.seed), 1), 3)
    log(f"fitting the {config.prior.kind} prior to the GP: {settings.num_iterations} iterations, "
        f"{settings.critic_steps} {settings.critic_optimizer} critic steps each "
        f"({'warm' if settings.warm_critic else 're-initialised'} critic)")
    result = wasserstein.fit(
        network.apply, family, target, points, key=fit_key, template=template,
        num_iterations=settings.num_iterations, num_functions=settings.num_functions,
        critic_steps=settings.critic_steps, warm_critic=settings.warm_critic,
        critic_optimizer=getattr(optax, settings.critic_optimizer)(settings.critic_learning_rate),
        prior_optimizer=optax.rmsprop(settings.prior_learning_rate), gradient_penalty=settings.gradient_penalty)
    # The initial and the fitted prior are judged together: fresh critics, the same points
    # and GP draws (see wasserstein.w1_judge).
    judge = wasserstein.w1_judge(network.apply, lambda k, phi: family.sample(k, phi, template), target,
                                 max_steps=settings.evaluation_steps, gradient_penalty=settings.gradient_penalty)
    judged = judge(evaluation_key, [family.init(template), result.hyperparameters], points.sample(points_key))
    report = {"w1_initial": float(judged.estimates[0]), "w1_final": float(judged.estimates[1]),
              "w1_initial_error": float(judged.standard_errors[0]), "w1_final_error": float(judged.standard_errors[1]),
              "judge_steps": int(judged.steps.max()), "judge_seconds": judged.seconds,
              "iterations": settings.num_iterations, "seconds": result.seconds}
    log(f"prior fitted in {result.seconds:.1f} s: W1 {report['w1_initial']:.3f} +- {report['w1_initial_error']:.3f} "
        f"-> {report['w1_final']:.3f} +- {report['w1_final_error']:.3f} (fresh critics, "
        f"{judged.steps[0]} and {judged.steps[1]} steps, judged in {judged.seconds:.1f} s)")
    return {"prior": weight.prior_to_dict(result.prior), "report": report,
            "hyperparameters": family.hyperparameters(result.hyperparameters),
            "trace": [float(value) for value in result.trace]}


def _function_draws(config: Config, dataset: Dataset, network: Network, template: Any, family: Any, target: Any,
                    fitted: Any) -> dict:
    """GP, initial-family and fitted-prior function draws on a grid over the 1-D inputs."""
    low, high = float(np.min(dataset.x_train)), float(np.max(dataset.x_train))
    if config.prior.fit.measurement.get("kind") == "grid":
        low, high = config.prior.fit.measurement["low"], config.prior.fit.measurement["high"]
    x = np.linspace(low, high, _PLOT_POINTS, dtype=np.float32)[:, None]
    initial = family.prior(family.init(template))
    gp_key, initial_key, fitted_key = jax.random.split(jax.random.key(config.seed), 3)

    def draws(prior, key):
        return wasserstein.function_draws(key, network.apply, lambda k: _parameter_draw(prior, k, template),
                                          x, _PLOT_FUNCTIONS)

    return {"x": x[:, 0], "gp": np.asarray(gp.sample_functions(gp_key, target, x, _PLOT_FUNCTIONS)),
            "initial": np.asarray(draws(initial, initial_key)), "fitted": np.asarray(draws(fitted, fitted_key))}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_saved_fit(path: pathlib.Path, digest: str, family: Any, template: Any) -> tuple[dict, Any] | None:
    """The fit saved at ``path`` and its prior, or None when nothing is saved there.

    A saved fit that cannot be used is an error, not a reason to fit again: it was not
    written by this code for this config (every write is atomic), so someone should
    look at it before it is replaced.

    Args:
        path: the cache file, ``<hash>.json``.
        digest: the hash of the config and data asking for it.
        family: the prior family the config fits (the saved prior must be one of its).
        template: the network parameters the prior is over.

    Returns:
        ``(record, prior)``, or None if ``path`` does not exist.

    Raises:
        ValueError: one line naming ``path`` and the problem: unreadable, not JSON, a
            field missing or of the wrong type, another config's hash, or a prior of
            another family or for other parameters.
    """
    def refuse(problem: str) -> ValueError:
        return ValueError(f"saved prior fit {path} {problem}; delete it to fit again")

    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except OSError as error:
        raise refuse(f"cannot be read ({error.strerror})") from None
    except (ValueError, RecursionError):  # also text that is not UTF-8, or nested beyond Python's stack
        raise refuse("is not valid JSON") from None
    if not isinstance(record, dict):
        raise refuse("is not a JSON object")
    for field, kind in _SAVED_FIELDS.items():
        if not isinstance(record.get(field), kind):
            raise refuse(f"lacks '{field}' (a {kind.__name__})")
    if record["hash"] != digest:
        raise refuse(f"holds the fit for hash {record['hash']!r}, not {digest!r}")
    if not all(_is_number(record["report"].get(key)) for key in _REPORT_KEYS):
        raise refuse(f"has a 'report' without the numbers {', '.join(_REPORT_KEYS)}")
    if not all(_is_number(value) for value in record["trace"]):
        raise refuse("has a 'trace' that is not a list of numbers")
    try:
        prior = weight.prior_from_dict(record["prior"], template)
    except ValueError as error:
        raise refuse(f"holds an unusable prior: {error}") from None
    # The hash covers prior.kind, so a prior of the other family was not written here.
    expected = type(family.prior(family.init(template)))
    if type(prior) is not expected:
        raise refuse(f"holds a {type(prior).__name__} prior, not a {expected.__name__}")
    return record, prior


def choose_prior(config: Config, dataset: Dataset, network: Network, *, cache: pathlib.Path | None,
                 log: Callable[[str], None] = print) -> PriorChoice:
    """The prior of ``config``; a GP-matched one is fitted or loaded from ``cache``.

    Args:
        config: the run's config.
        dataset: its data (the measurement set and the hash read the training inputs).
        network: the network the prior is over.
        cache: the folder of saved fits (None: always fit, save nothing).
        log: where progress lines go.

    Returns:
        A :class:`PriorChoice`.

    Raises:
        ValueError: naming the file, when ``cache`` holds a saved fit for this hash
            that cannot be used.
    """
    kind = config.prior.kind
    if kind == "fg":
        return PriorChoice(weight.FanInGaussian(config.prior.scale, config.prior.bias_scale), None, None, False)
    if kind == "isotropic":
        return PriorChoice(weight.IsotropicGaussian(config.prior.scale), None, None, False)
    template = network.init(jax.random.key(0), dataset.input_shape)
    if kind == "fh":
        return PriorChoice(weight.fixed_prior("fh", template), None, None, False)
    family = weight.family_from_kind(kind)
    target = gp.kernel_from_spec(config.prior.target.kernel, path="prior.target.kernel", input_dim=dataset.input_dim)
    digest = fit_hash(config, dataset)
    path = None if cache is None else cache / f"{digest}.json"
    saved = None if path is None else _read_saved_fit(path, digest, family, template)
    cached = saved is not None
    if cached:
        log(f"reusing the fitted {kind} prior {path}")
        record, prior = saved
    else:
        record = {"hash": digest, **_fit(config, dataset, network, template, family, target, log)}
        if path is not None:
            rundir.write_json(path, record)
        prior = weight.prior_from_dict(record["prior"], template)
    draws = None
    if dataset.input_dim == 1:
        draws = _function_draws(config, dataset, network, template, family, target, prior)
    return PriorChoice(prior, record, draws, cached)
