"""The toy1d prior configs end to end: GP-matched priors fitted, cached and reused, hierarchical
priors sampled with their Gibbs updates, and bad prior settings refused with one line.

Tiny settings throughout (the overrides below): a 1x16 network instead of 3x50, a
5-iteration fit, 4 kept draws per chain. No burn-in, so that the sampler compiles one
program fewer (its compilation, not the sampling, is what these runs cost; a hierarchical
prior's program takes about three times as long as a Gaussian one's). Without a burn-in
SGHMC adapts no preconditioner, and the configs' step size 1e-4 then diverges, hence a
smaller one with the adaptation switched off.
"""

import json
import math
import pathlib

import numpy as np
import pytest

from conftest import REPO, run_posterior
from experiments import build, cli, prior_fit, runs
from experiments import config as configs
from posterior import models
from posterior.data import load
from priors import wasserstein, weight

TINY = [
    "model.width=16", "model.depth=1",
    "sampling.num_chains=2", "sampling.num_steps=200", "sampling.burn_in=0", "sampling.thin=50",
    "sampler.scale_adaptation=false", "sampler.step_size=1e-6",
    "prior.fit.num_iterations=5", "prior.fit.critic_steps=2", "prior.fit.num_functions=16",
    "prior.fit.evaluation_steps=20", "prior.fit.measurement.num_points=20",
]
DRAWS_PER_CHAIN = 4  # 200 steps, one kept every 50


def toy_config(kind: str) -> pathlib.Path:
    return REPO / "configs" / f"toy1d_{kind}.yaml"


def posterior_run(config: pathlib.Path, results: pathlib.Path, *arguments: str) -> int:
    """``posterior run`` in this process: the real argument parser and handler, no subprocess."""
    args = cli.build_parser().parse_args(["run", str(config), *TINY, *arguments, "--results", str(results)])
    return cli.handler(args.handler)(args)


def run_directory(results: pathlib.Path, kind: str) -> pathlib.Path:
    return results / f"toy1d-{kind}" / "toy1d" / "split-0" / "seed-0"


def read_json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def gpig_results(tmp_path_factory) -> pathlib.Path:
    """The results folder after one gpig run (the fit is then in its prior cache)."""
    results = tmp_path_factory.mktemp("gpig") / "results"
    assert posterior_run(toy_config("gpig"), results) == 0
    return results


@pytest.fixture(scope="module")
def first_gpig_run(gpig_results) -> dict:
    """What the first gpig run wrote (read before a later test runs it again)."""
    directory = run_directory(gpig_results, "gpig")
    return {"metrics": read_json(directory / "metrics.json"), "prior": read_json(directory / "prior.json"),
            "plots": {path.name: path.stat().st_size for path in (directory / "plots").iterdir()},
            "log": (directory / "log.txt").read_text()}


def test_a_gpig_run_reports_and_keeps_its_fit(gpig_results, first_gpig_run):
    metrics = first_gpig_run["metrics"]
    assert metrics["status"] == "ok" and metrics["draws_per_chain"] == DRAWS_PER_CHAIN
    fit = metrics["prior_fit"]
    assert set(fit) == {"w1_initial", "w1_final", "w1_initial_error", "w1_final_error", "judge_steps",
                        "judge_seconds", "iterations", "seconds", "hash", "reused"}
    assert fit["iterations"] == 5 and fit["reused"] is False and fit["seconds"] > 0.0
    assert all(isinstance(fit[key], float) for key in ("w1_initial", "w1_final", "w1_initial_error", "w1_final_error"))
    assert 0 < fit["judge_steps"] <= 20 and fit["w1_initial_error"] > 0.0 and fit["judge_seconds"] > 0.0
    assert math.isfinite(metrics["test_nll_gap"])  # the toy has a gap in its training inputs

    record = first_gpig_run["prior"]
    assert record["hash"] == fit["hash"] and record["report"] == {k: fit[k] for k in record["report"]}
    assert len(record["trace"]) == 5 and record["prior"]["kind"] == "layerwise_gaussian"
    assert set(record["prior"]["scales"]) == {"hidden_0/kernel", "hidden_0/bias", "output/kernel", "output/bias"}
    assert read_json(gpig_results / prior_fit.CACHE / f"{fit['hash']}.json") == record
    for plot in ("prior_fit_trace.png", "prior_functions.png"):
        assert first_gpig_run["plots"][plot] > 1000
    assert "fitting the gpig prior" in first_gpig_run["log"]


def test_a_second_run_reuses_the_cached_fit(gpig_results, first_gpig_run):
    directory = run_directory(gpig_results, "gpig")
    first = first_gpig_run["metrics"]["prior_fit"]
    # The sampler's step size is not part of the fit's hash (the seed would be).
    assert posterior_run(toy_config("gpig"), gpig_results, "sampler.step_size=5e-7", "--force") == 0
    again = read_json(directory / "metrics.json")
    assert again["status"] == "ok" and configs.load(directory / "config.yaml").sampler.step_size == 5e-7
    assert again["prior_fit"] == {**first, "reused": True}  # the same hash, and the first fit's report
    assert "reusing the fitted gpig prior" in (directory / "log.txt").read_text()
    assert read_json(directory / "prior.json")["hash"] == first["hash"]


def test_changing_the_fit_settings_refits(gpig_results, monkeypatch):
    dataset = load("toy1d", root=None, split=0)

    def digest(*overrides):
        return prior_fit.fit_hash(configs.load(toy_config("gpig"), [*TINY, *overrides]), dataset)

    assert digest() == digest("sampler.step_size=5e-5") == digest("prior.gibbs_every=3")
    assert len({digest(), digest("seed=1"), digest("prior.fit.num_iterations=6"),
                digest("prior.target.kernel.lengthscale=0.5"), digest("model.width=17")}) == 5

    # The fit itself runs; its two judging W1 estimates (checked for the first gpig run) are
    # stubbed, as they would cost more than the fit.
    def judged(key, hyperparameters, points):
        ones = np.ones(len(hyperparameters))
        return wasserstein.Judgement(ones, 0.1 * ones, np.full(len(hyperparameters), 100), 0.1)

    monkeypatch.setattr(wasserstein, "w1_judge", lambda *args, **kwargs: judged)
    config = configs.load(toy_config("gpig"), [*TINY, "prior.fit.num_iterations=6"])
    network = models.mlp(width=16, depth=1, output_dim=1, activation=config.model.activation)
    choice = prior_fit.choose_prior(config, dataset, network, cache=gpig_results / prior_fit.CACHE, log=lambda _: None)
    assert not choice.cached and isinstance(choice.prior, weight.LayerwiseGaussian)
    assert choice.fit["hash"] == digest("prior.fit.num_iterations=6") != digest()
    assert choice.fit["report"]["iterations"] == 6 and len(choice.fit["trace"]) == 6
    cached = sorted(path.stem for path in (gpig_results / prior_fit.CACHE).iterdir())
    assert cached == sorted([digest(), choice.fit["hash"]])


@pytest.mark.parametrize("kind", ["gpih", "fh"])
def test_hierarchical_priors_sample_with_gibbs_updates(tmp_path, monkeypatch, kind):
    seen = {}
    with_gibbs = build.samplers.with_gibbs

    def spy(algorithm, update_fn, *, every):
        seen["every"] = every

        def recording_update(key, position):
            seen["position"] = sorted(position)
            return update_fn(key, position)

        return with_gibbs(algorithm, recording_update, every=every)

    monkeypatch.setattr(build.samplers, "with_gibbs", spy)
    config = configs.load(toy_config(kind), [*TINY, "prior.gibbs_every=5"])
    directory, metrics = runs.execute(config, results=tmp_path, force=False)
    assert metrics["status"] == "ok" and metrics["draws_per_chain"] == DRAWS_PER_CHAIN
    assert seen == {"every": 5, "position": ["likelihood", "network", "prior"]}
    if kind == "gpih":
        assert metrics["prior_fit"]["iterations"] == 5 and metrics["prior_fit"]["reused"] is False
        stored = read_json(directory / "prior.json")["prior"]
        assert stored["kind"] == "gamma_precision"
        assert all(value > 0.0 for field in ("shape", "rate") for value in stored[field].values())
    else:
        assert "prior_fit" not in metrics and not (directory / "prior.json").exists()


def test_the_fixed_toy_priors_need_no_fit():
    dataset = load("toy1d", root=None, split=0)
    network = models.mlp(width=16, depth=1, output_dim=1)
    fg = prior_fit.choose_prior(configs.load(toy_config("fg"), TINY), dataset, network, cache=None)
    assert fg.prior == weight.FanInGaussian() and fg.fit is None and not fg.cached
    fh = prior_fit.choose_prior(configs.load(toy_config("fh"), TINY), dataset, network, cache=None)
    assert isinstance(fh.prior, weight.GammaPrecision) and fh.fit is None
    assert set(fh.prior.shape["hidden_0"].values()) == set(fh.prior.rate["output"].values()) == {1.0}


@pytest.mark.parametrize("override, message", [
    ("prior.target.kernel.kind=nope", "prior.target.kernel.kind must be one of"),
    ("prior.fit.nope=1", "unknown config key 'prior.fit.nope'"),
    ("prior.fit.measurement={kind: training, num_points: 20, noise_std: -1}",
     "prior.fit.measurement.noise_std must be a finite number >= 0, got -1.0"),
])
def test_bad_prior_settings_exit_2_with_one_line(tmp_path, override, message):
    results = tmp_path / "results"
    done = run_posterior("run", str(toy_config("gpig")), *TINY, override, "--results", str(results), timeout=120)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("posterior: error: "), done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not results.exists()  # nothing written, not even a prior cache
