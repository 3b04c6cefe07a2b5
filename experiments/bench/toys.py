"""SGLD against SA-SGLD, and against Entropy-MCMC, on 2-D targets with exact answers.

For each target (``posterior.toy_targets``: star, funnel, two-mode mixture) and each base
step size of a log-spaced grid, every sampler runs the same chains for the same number
of steps (one gradient per step for all), started from exact draws of the target so that
what is measured is the accuracy of the stationary chain, not the burn-in. The draws
(time-weighted for SA-SGLD) are compared with fresh exact draws: the unbiased squared
MMD (RBF kernel, the median heuristic on the truth; zero on average for exact draws, so
samplers near the truth are told apart), sliced 2-Wasserstein and the errors of mean and
covariance. Every setting is repeated with independent exact draws and keys, and the
table gives means and standard errors over repeats, beside the same numbers for fresh
exact draws (the floor). A chain whose position leaves a box of 1e4 or becomes
non-finite counts as diverged, and so does the setting. The table shows the whole sweep;
the figure shows each sampler's draws at its best step size over the target's density,
and MMD against the step size.

On the star, SA-SGLD also runs with a clock made for ridges (:data:`RIDGE_CLOCK`) beside
the default one (docs/algorithms.md#sa-sgld).

On the sharp/flat mixture, SGLD and Entropy-MCMC (``eta`` = 1) run with the same keys
from the same exact draws, and the table gives the fraction of draws in the flat basin
(beyond the density barrier) for SGLD, for Entropy-MCMC's ``theta`` and for its anchor,
beside the exact fractions under the target and under the target smoothed by ``eta``.
"""

import argparse
import json
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from experiments.arguments import positive_int
from experiments.bench import log

STEP_SIZES = {
    "star": np.geomspace(3e-5, 0.3, 13),
    "funnel": np.geomspace(1e-3, 0.3, 8),
    "mixture": np.geomspace(1e-3, 0.3, 8),
}
# On a ridge of transverse curvature k the mean monitor |grad U|^2 / Omega is about
# k / Omega, and with r = 1 the factor psi ~ m M / zeta falls as 1 / k: the step that
# gives every part of the ridge the same Euler-Maruyama bias (dt k / 2). m = 1e-3 lets
# psi follow k over four decades (the star's run from ~2 at the centre to thousands at
# the ends of its arms), and Omega = 200 puts the middle of that range where its mass is.
RIDGE_CLOCK = {"exponent": 1.0, "omega": 200.0, "smallest": 1e-3}
SAMPLERS = {"SGLD": None, "SA-SGLD": {}, "SA-SGLD, ridge clock": RIDGE_CLOCK}  # None: SGLD; else SA-SGLD's clock
CONTENDERS = {"star": ("SGLD", "SA-SGLD", "SA-SGLD, ridge clock"), "funnel": ("SGLD", "SA-SGLD"),
              "mixture": ("SGLD", "SA-SGLD")}
EXACT = "exact draws"
SHARP_FLAT = "sharp-flat"
SHARP_FLAT_STEP, SHARP_FLAT_ETA = 0.002, 1.0
DIVERGED_BEYOND = 1e4
JUDGED_DRAWS = 8192  # draws kept per run (evenly thinned) and judged
REFERENCE_DRAWS = 16384  # exact draws they are judged against


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench toys``."""
    parser.add_argument("--targets", default="star,funnel,mixture,sharp-flat", metavar="T1,T2",
                        help="which targets (default %(default)s)")
    parser.add_argument("--chains", type=positive_int, default=256, help="chains per run (default %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=20_000,
                        help="steps (= gradient evaluations) per chain (default %(default)s)")
    parser.add_argument("--figure", default="bench-toys.png", metavar="PATH",
                        help="where the figure goes (default %(default)s)")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="independent repeats of every setting (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the first repeat's exact draws (starts and reference) and chains (default 0)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke setting: 8 chains, 2,000 steps, 3 step sizes, one repeat")


def _start_from(pool: np.ndarray) -> Callable[[jax.Array], jax.Array]:
    """``init_params`` for the driver: each chain starts at a random one of ``pool``
    (exact draws, many more than chains)."""
    pool = jnp.asarray(pool, jnp.float32)

    def start(key):
        return pool[jax.random.randint(key, (), 0, len(pool))]

    return start


def _run_one(target: Any, clock: dict | None, step_size: float, *, chains: int, steps: int, starts: np.ndarray,
             key: jax.Array) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(chains, draws, 2)`` and weights of SGLD (``clock`` None) or SA-SGLD with
    ``clock`` at one step size; each chain starts at a random one of ``starts``."""
    import samplers

    if clock is None:
        algorithm = samplers.sgld(target.logdensity, float(step_size))
    else:
        algorithm = samplers.sa_sgld(target.logdensity, float(step_size), **clock)
    burn_in = steps // 10
    thin = max(1, (steps - burn_in) * chains // JUDGED_DRAWS)
    result = samplers.sample(algorithm, key, _start_from(starts), None, num_chains=chains, num_steps=steps,
                             burn_in=burn_in, thin=thin, progress=False)
    return np.asarray(result.samples, np.float64), np.asarray(result.weights, np.float64)


def _judge(target: Any, draws: np.ndarray, weights: np.ndarray, reference: np.ndarray,
           squared_mmd_to_reference: Callable[..., float]) -> dict[str, Any]:
    """Distances of weighted ``(chain, draw)`` draws to the exact reference draws (the
    MMD by ``distances.squared_mmd_to(reference)``) and moments, every chain counting
    equally (its weights rescaled to the same sum)."""
    from posterior import distances
    from posterior.predictive import chain_balanced

    if not np.all(np.isfinite(draws)) or np.max(np.abs(draws)) > DIVERGED_BEYOND:
        return {"diverged": True}
    weights = chain_balanced(weights)
    judged = {"diverged": False,
              "squared_mmd": squared_mmd_to_reference(draws, weights),
              "sliced_w2": distances.sliced_wasserstein(draws, reference, weights=weights)}
    judged.update(distances.moment_errors(draws, target.mean, target.cov, weights=weights))
    return judged


METRICS = ("squared_mmd", "sliced_w2", "mean_error", "cov_error")


def _standard_error(values: np.ndarray) -> float:
    """The standard error of the mean of ``values`` (NaN for fewer than two)."""
    return float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else np.nan


def _summary(step_size: float, repeats: list[dict]) -> dict[str, Any]:
    """One row of the sweep: the mean and standard error of each metric over repeats
    (diverged if any repeat diverged)."""
    row: dict[str, Any] = {"step_size": float(step_size), "diverged": any(r["diverged"] for r in repeats)}
    if not row["diverged"]:
        for metric in METRICS:
            values = np.array([r[metric] for r in repeats])
            row[metric] = float(values.mean())
            row[f"{metric}_se"] = _standard_error(values)
        row["per_repeat"] = [r["squared_mmd"] for r in repeats]
    return row


PLOT_BOX = {"star": (-1.5, 1.5), "funnel": (-6.0, 6.0), "mixture": (-9.0, 9.0)}
PLOT_DRAWS = 2000


def _panel(name: str, target: Any, rows: dict[str, list]) -> dict:
    """What :func:`experiments.plots.toy_sweep` draws for one target."""
    low, high = PLOT_BOX[name]
    x = np.linspace(low, high, 200)
    y = np.linspace(low, high, 200) if name == "star" else np.linspace(-4.0, 4.0, 200)
    grid = jnp.asarray(np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2), jnp.float32)
    logdensity = np.asarray(jax.vmap(target.logdensity)(grid)).reshape(len(y), len(x))
    panel_best, sweep_lines = {}, {}
    for sampler in CONTENDERS[name]:
        row = best_row(rows[sampler])
        if row is None:
            panel_best[sampler] = None
        else:
            draws, weights = row["draws"].reshape(-1, 2), row["weights"].reshape(-1)
            keep = np.linspace(0, len(draws) - 1, min(PLOT_DRAWS, len(draws))).astype(int)
            panel_best[sampler] = (row["step_size"], draws[keep], weights[keep])
        sweep_lines[sampler] = (np.array([row["step_size"] for row in rows[sampler]]),
                                *(np.array([np.nan if row["diverged"] else row[column] for row in rows[sampler]])
                                  for column in ("squared_mmd", "squared_mmd_se")))
    return {"name": name, "x": x, "y": y, "logdensity": logdensity, "best": panel_best, "sweep": sweep_lines,
            "floor": rows[EXACT][0]["squared_mmd"]}


def flat_basin_fractions(*, chains: int, steps: int) -> dict[str, np.ndarray]:
    """SGLD and Entropy-MCMC on the sharp/flat mixture, with the same keys from the same
    exact draws: each chain's fraction of draws in the flat basin, for SGLD, ``theta``
    and the anchor."""
    import samplers
    from posterior import toy_targets

    target = toy_targets.sharp_flat_mixture()
    start = _start_from(target.sample(np.random.default_rng(7), 100 * chains))
    common = dict(num_chains=chains, num_steps=steps, burn_in=steps // 6, thin=50, progress=False)
    log(f"{SHARP_FLAT}: SGLD and Entropy-MCMC at step size {SHARP_FLAT_STEP}, eta {SHARP_FLAT_ETA}")
    sgld = samplers.sample(samplers.sgld(target.logdensity, SHARP_FLAT_STEP), jax.random.key(3), start, None, **common)
    joint = samplers.sample(samplers.entropy_mcmc(target.logdensity, SHARP_FLAT_STEP, SHARP_FLAT_ETA,
                                                  predict_with="both"), jax.random.key(3), start, None, **common)
    return {name: toy_targets.flat_region(np.asarray(draws)).mean(axis=1)
            for name, draws in (("SGLD", sgld.samples), ("Entropy-MCMC theta", joint.samples[0]),
                                ("Entropy-MCMC anchor", joint.samples[1]))}


def sharp_flat(*, chains: int, steps: int) -> list[str]:
    """:func:`flat_basin_fractions` against the exact fractions, as table lines."""
    from posterior import toy_targets

    fractions = flat_basin_fractions(chains=chains, steps=steps)
    exact = {"SGLD": toy_targets.flat_mass(), "Entropy-MCMC theta": toy_targets.flat_mass(),
             "Entropy-MCMC anchor": toy_targets.flat_mass(smoothing=SHARP_FLAT_ETA)}
    excess = fractions["Entropy-MCMC anchor"] - fractions["SGLD"]
    lines = ["", f"## Flat basin: sharp/flat mixture (barrier at x = {toy_targets.flat_boundary():.2f})", "",
             f"{chains} chains x {steps:,} steps from the same exact draws and keys; fraction of draws in the flat "
             f"basin, mean ± standard error over chains (chains keep their starting mode over this run).", "",
             "| draws | flat-basin fraction | exact for their distribution |", "|---|---:|---:|"]
    for name, per_chain in fractions.items():
        lines.append(f"| {name} | {per_chain.mean():.3f} ± {_standard_error(per_chain):.3f} | "
                     f"{exact[name]:.3f} |")
    lines += ["", f"Anchor minus SGLD, chain by chain: {excess.mean():+.3f} ± {_standard_error(excess):.3f}."]
    return lines


def sweep(name: str, target: Any, *, chains: int, steps: int, quick: bool, seed: int,
          repeats: int) -> dict[str, list[dict]]:
    """The samplers of ``CONTENDERS[name]`` over the step-size grid of ``name``, each
    setting ``repeats`` times: per sampler, a row per step size (see :func:`_summary`;
    the first repeat's draws and weights kept for the figure), and under :data:`EXACT`
    one row for fresh exact draws judged the same way."""
    from posterior import distances

    grid = STEP_SIZES[name][::3] if quick else STEP_SIZES[name]
    judged: dict[tuple[str, int], list[dict]] = {}
    kept: dict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = {}
    for repeat in range(repeats):
        rng = np.random.default_rng(seed + repeat)
        reference = target.sample(rng, REFERENCE_DRAWS)
        squared_mmd_to_reference = distances.squared_mmd_to(reference)
        # Common random numbers: within a repeat every run starts from the same pool with
        # the same key, so the chains begin in the same places (on the mixture, in the
        # same modes), and the differences between runs are the samplers' and step
        # sizes', not the starts'.
        starts = target.sample(rng, 100 * chains)
        key = jax.random.key(seed + repeat)
        exact = target.sample(rng, JUDGED_DRAWS)
        judged.setdefault((EXACT, 0), []).append(_judge(target, exact[None], np.ones((1, len(exact))), reference,
                                                        squared_mmd_to_reference))
        for sampler in CONTENDERS[name]:
            for index, step_size in enumerate(grid):
                log(f"{name} (repeat {repeat + 1}/{repeats}): {sampler} at step size {step_size:.3g}")
                draws, weights = _run_one(target, SAMPLERS[sampler], step_size, chains=chains, steps=steps,
                                          starts=starts, key=key)
                judged.setdefault((sampler, index), []).append(_judge(target, draws, weights, reference,
                                                                      squared_mmd_to_reference))
                if repeat == 0:
                    kept[(sampler, index)] = draws, weights
    rows = {EXACT: [_summary(np.nan, judged[(EXACT, 0)])]}
    for sampler in CONTENDERS[name]:
        rows[sampler] = [{**_summary(step_size, judged[(sampler, index)]),
                          "draws": kept[(sampler, index)][0], "weights": kept[(sampler, index)][1]}
                         for index, step_size in enumerate(grid)]
    return rows


def best_row(rows: list[dict]) -> dict | None:
    """The row with the smallest mean squared MMD among those that never diverged (None:
    every step size diverged)."""
    stable = [row for row in rows if not row["diverged"]]
    return min(stable, key=lambda row: row["squared_mmd"]) if stable else None


def _mean_se(row: dict, metric: str, scale: float = 1.0, digits: int = 2) -> str:
    se = row[f"{metric}_se"]
    shown = f"{scale * row[metric]:.{digits}f}"
    return shown if np.isnan(se) else f"{shown} ± {scale * se:.{digits}f}"


def sweep_table(results: dict[str, dict[str, list[dict]]], *, chains: int, steps: int, repeats: int) -> list[str]:
    """The whole sweep and the best of each sampler, as markdown lines."""
    lines = [f"{chains} chains x {steps:,} steps (= gradient evaluations) per chain and run, started from exact "
             f"draws; {repeats} independent repeats of every setting, with fresh exact draws and keys (within a "
             f"repeat, the same starts and keys for every run); mean ± standard error over repeats. SA-SGLD's "
             f"draws are time-weighted; its clock is the default of docs/algorithms.md#sa-sgld, or the ridge clock "
             f"{RIDGE_CLOCK}. MMD² is the "
             f"unbiased estimate (x 1e4) of {JUDGED_DRAWS} draws against {REFERENCE_DRAWS} exact ones, zero on "
             f"average for exact draws; mean error in standard deviations, covariance error relative (Frobenius).",
             "", "| target | sampler | step size | MMD² x 1e4 | sliced W2 | mean error | cov error |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, by_sampler in results.items():
        for sampler, rows in by_sampler.items():
            best = None if sampler == EXACT else best_row(rows)
            for row in rows:
                step = "" if sampler == EXACT else f"{row['step_size']:.3g}" + (" (best)" if row is best else "")
                if row["diverged"]:
                    lines.append(f"| {name} | {sampler} | {step} | diverged | | | |")
                else:
                    lines.append(f"| {name} | {sampler} | {step} | {_mean_se(row, 'squared_mmd', 1e4)} | "
                                 f"{row['sliced_w2']:.4f} | {row['mean_error']:.3f} | {row['cov_error']:.3f} |")
    lines += ["", "Best step size of each sampler; the paired difference takes each repeat's SGLD-best MMD² minus "
                  "this sampler's (same reference and starts), so a positive difference favours this sampler.", "",
              "| target | sampler | best step | MMD² x 1e4 | SGLD's minus this, paired | largest stable step |",
              "|---|---|---:|---:|---:|---:|"]
    for name, by_sampler in results.items():
        sgld = best_row(by_sampler["SGLD"])
        for sampler, rows in by_sampler.items():
            if sampler == EXACT:
                lines.append(f"| {name} | {EXACT} | | {_mean_se(rows[0], 'squared_mmd', 1e4)} | | |")
                continue
            best = best_row(rows)
            largest = max((row["step_size"] for row in rows if not row["diverged"]), default=None)
            if best is None:
                lines.append(f"| {name} | {sampler} | none stable | | | none |")
                continue
            paired = ""
            if sgld is not None and sampler != "SGLD":
                difference = 1e4 * (np.array(sgld["per_repeat"]) - np.array(best["per_repeat"]))
                se = _standard_error(difference)
                paired = f"{difference.mean():+.2f}" + ("" if np.isnan(se) else f" ± {se:.2f}")
            lines.append(f"| {name} | {sampler} | {best['step_size']:.3g} | {_mean_se(best, 'squared_mmd', 1e4)} | "
                         f"{paired} | {largest:.3g} |")
    return lines


def run(args: argparse.Namespace) -> int:
    """``posterior bench toys``: the sweeps and the flat-basin comparison, their tables
    (stdout), the figure and optional JSON."""
    from posterior import toy_targets

    requested = [name.strip() for name in args.targets.split(",") if name.strip()]
    unknown = sorted(set(requested) - set(STEP_SIZES) - {SHARP_FLAT})
    if unknown or not requested:
        raise ValueError(f"--targets takes {', '.join([*STEP_SIZES, SHARP_FLAT])}, got {args.targets!r}")
    names = [name for name in requested if name != SHARP_FLAT]
    chains, steps, repeats = (8, 2_000, 1) if args.quick else (args.chains, args.steps, args.repeats)
    targets = {name: toy_targets.TARGETS[name]() for name in names}
    results = {name: sweep(name, targets[name], chains=chains, steps=steps, quick=args.quick, seed=args.seed,
                           repeats=repeats) for name in names}
    lines = ["# posterior bench toys", ""]
    if names:
        lines += sweep_table(results, chains=chains, steps=steps, repeats=repeats)
    if SHARP_FLAT in requested:
        lines += sharp_flat(chains=chains, steps=3 * steps)
    print("\n".join(lines), flush=True)
    if names:
        from experiments import plots

        plots.toy_sweep(args.figure, panels=[_panel(name, targets[name], results[name]) for name in names])
        log(f"wrote {args.figure}")
    if args.output:
        summary = {name: {sampler: [{k: v for k, v in row.items() if k not in ("draws", "weights")} for row in rows]
                          for sampler, rows in results[name].items()} for name in names}
        with open(args.output, "w") as file:
            json.dump({"chains": chains, "steps": steps, "repeats": repeats, "results": summary}, file, indent=2,
                      default=float)
        log(f"wrote {args.output}")
    return 0
