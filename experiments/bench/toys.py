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

The sweep is in :mod:`experiments.bench.toys_sweep`, the flat-basin comparison in
:mod:`experiments.bench.toys_flat_basin`; this module holds the options, the sweep's
tables and figure, and the command.
"""

import argparse
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from experiments.bench import log, write_json
from experiments.bench.toys_flat_basin import SHARP_FLAT, sharp_flat
from experiments.bench.toys_sweep import (CONTENDERS, EXACT, JUDGED_DRAWS, REFERENCE_DRAWS, RIDGE_CLOCK, STEP_SIZES,
                                          standard_error, sweep)


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
                se = standard_error(difference)
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
        write_json(args.output, {"chains": chains, "steps": steps, "repeats": repeats, "results": summary},
                   default=float)
    return 0
