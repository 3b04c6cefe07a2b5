"""SGLD against SA-SGLD, and against Entropy-MCMC, on 2-D targets with exact answers.

For each target (``posterior.toy_targets``: star, funnel, two-mode mixture) and each base
step size of a log-spaced grid, both samplers run the same chains for the same number of
steps (one gradient per step for both), started from exact draws of the target so that
what is measured is the accuracy of the stationary chain, not the burn-in. The draws
(time-weighted for SA-SGLD) are compared with fresh exact draws: MMD (RBF kernel, the
median heuristic on the truth), sliced 2-Wasserstein and the errors of mean and
covariance. A chain whose position leaves a box of 1e4 or becomes non-finite counts as
diverged, and so does the run. The table shows the whole sweep; the figure shows each
sampler's draws at its best step size over the target's density, and MMD against the
step size.

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
    "star": np.geomspace(1e-4, 3e-2, 8),
    "funnel": np.geomspace(1e-3, 0.3, 8),
    "mixture": np.geomspace(1e-3, 0.3, 8),
}
SHARP_FLAT = "sharp-flat"
SHARP_FLAT_STEP, SHARP_FLAT_ETA = 0.002, 1.0
DIVERGED_BEYOND = 1e4
JUDGED_DRAWS = 4096  # MMD and sliced W2 on this many draws (evenly thinned) and exact ones


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench toys``."""
    parser.add_argument("--targets", default="star,funnel,mixture,sharp-flat", metavar="T1,T2",
                        help="which targets (default %(default)s)")
    parser.add_argument("--chains", type=positive_int, default=64, help="chains per run (default %(default)s)")
    parser.add_argument("--steps", type=positive_int, default=20_000,
                        help="steps (= gradient evaluations) per chain (default %(default)s)")
    parser.add_argument("--figure", default="bench-toys.png", metavar="PATH",
                        help="where the figure goes (default %(default)s)")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the exact draws (starts and reference) and of the chains (default 0)")
    parser.add_argument("--quick", action="store_true", help="smoke setting: 8 chains, 2,000 steps, 3 step sizes")


def _start_from(pool: np.ndarray) -> Callable[[jax.Array], jax.Array]:
    """``init_params`` for the driver: each chain starts at a random one of ``pool``
    (exact draws, many more than chains)."""
    pool = jnp.asarray(pool, jnp.float32)

    def start(key):
        return pool[jax.random.randint(key, (), 0, len(pool))]

    return start


def _run_one(target: Any, sampler: str, step_size: float, *, chains: int, steps: int, starts: np.ndarray,
             seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws ``(chains, draws, 2)`` and weights of one sampler at one step size; each chain
    starts at a random one of ``starts`` (exact draws, many more than chains)."""
    import samplers

    if sampler == "sgld":
        algorithm = samplers.sgld(target.logdensity, float(step_size))
    else:
        algorithm = samplers.sa_sgld(target.logdensity, float(step_size))
    burn_in = steps // 10
    thin = max(1, (steps - burn_in) * chains // (4 * JUDGED_DRAWS))
    result = samplers.sample(algorithm, jax.random.key(seed), _start_from(starts), None,
                             num_chains=chains, num_steps=steps, burn_in=burn_in, thin=thin, progress=False)
    return np.asarray(result.samples, np.float64), np.asarray(result.weights, np.float64)


def _judge(target: Any, draws: np.ndarray, weights: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    """Distances of weighted draws to the exact reference draws and moments."""
    from posterior import distances

    if not np.all(np.isfinite(draws)) or np.max(np.abs(draws)) > DIVERGED_BEYOND:
        return {"diverged": True}
    flat, flat_weights = draws.reshape(-1, 2), weights.reshape(-1)
    keep = np.linspace(0, len(flat) - 1, min(JUDGED_DRAWS, len(flat))).astype(int)
    judged = {"diverged": False,
              "mmd": distances.mmd(flat[keep], reference, weights=flat_weights[keep]),
              "sliced_w2": distances.sliced_wasserstein(flat[keep], reference, weights=flat_weights[keep])}
    judged.update(distances.moment_errors(flat, target.mean, target.cov, weights=flat_weights))
    return judged


PLOT_BOX = {"star": (-1.5, 1.5), "funnel": (-6.0, 6.0), "mixture": (-9.0, 9.0)}
PLOT_DRAWS = 2000


def _panel(name: str, target: Any, rows: dict[str, list], best: dict) -> dict:
    """What :func:`experiments.plots.toy_sweep` draws for one target."""
    low, high = PLOT_BOX[name]
    x = np.linspace(low, high, 200)
    y = np.linspace(low, high, 200) if name == "star" else np.linspace(-4.0, 4.0, 200)
    grid = jnp.asarray(np.stack(np.meshgrid(x, y), axis=-1).reshape(-1, 2), jnp.float32)
    logdensity = np.asarray(jax.vmap(target.logdensity)(grid)).reshape(len(y), len(x))
    panel_best = {}
    for sampler in ("sgld", "sa_sgld"):
        row = best[(name, sampler)]
        if row is None:
            panel_best[sampler] = None
            continue
        draws, weights = row["draws"].reshape(-1, 2), row["weights"].reshape(-1)
        keep = np.linspace(0, len(draws) - 1, min(PLOT_DRAWS, len(draws))).astype(int)
        panel_best[sampler] = (row["step_size"], draws[keep], weights[keep])
    sweep = {sampler: (np.array([row["step_size"] for row in rows[sampler]]),
                       np.array([np.nan if row["diverged"] else row["mmd"] for row in rows[sampler]]))
             for sampler in ("sgld", "sa_sgld")}
    return {"name": name, "x": x, "y": y, "logdensity": logdensity, "best": panel_best, "sweep": sweep}


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
        lines.append(f"| {name} | {per_chain.mean():.3f} ± {per_chain.std(ddof=1) / np.sqrt(chains):.3f} | "
                     f"{exact[name]:.3f} |")
    lines += ["", f"Anchor minus SGLD, chain by chain: {excess.mean():+.3f} ± "
                  f"{excess.std(ddof=1) / np.sqrt(chains):.3f}."]
    return lines


def sweep(name: str, target: Any, *, chains: int, steps: int, quick: bool, seed: int) -> dict[str, list[dict]]:
    """Both samplers over the step-size grid of ``name``: per sampler, a row per step size."""
    rng = np.random.default_rng(seed)
    reference = target.sample(rng, JUDGED_DRAWS)
    # Common random numbers: every run starts from the same pool with the same key, so
    # the chains begin in the same places (on the mixture, in the same modes), and the
    # differences between runs are the samplers' and step sizes', not the starts'.
    starts = target.sample(rng, 100 * chains)
    grid = STEP_SIZES[name][::3] if quick else STEP_SIZES[name]
    rows: dict[str, list[dict]] = {}
    for sampler in ("sgld", "sa_sgld"):
        rows[sampler] = []
        for step_size in grid:
            log(f"{name}: {sampler} at step size {step_size:.3g}")
            draws, weights = _run_one(target, sampler, step_size, chains=chains, steps=steps, starts=starts,
                                      seed=seed + 1)
            rows[sampler].append({"step_size": float(step_size), **_judge(target, draws, weights, reference),
                                  "draws": draws, "weights": weights})
    return rows


def best_row(rows: list[dict]) -> dict | None:
    """The stable row with the smallest MMD (None: every step size diverged)."""
    stable = [row for row in rows if not row["diverged"]]
    return min(stable, key=lambda row: row["mmd"]) if stable else None


def sweep_table(results: dict[str, dict[str, list[dict]]], *, chains: int, steps: int) -> list[str]:
    """The whole sweep and the best of each sampler, as markdown lines."""
    lines = [f"{chains} chains x {steps:,} steps (= gradient evaluations) per chain and run, started from exact "
             f"draws (the same ones, with the same keys, for every run); SA-SGLD with ALGORITHMS.md's default "
             f"clock, its draws time-weighted. MMD and sliced W2 against {JUDGED_DRAWS} exact draws; mean error in "
             f"standard deviations, covariance error relative (Frobenius).", "",
             "| target | sampler | step size | MMD | sliced W2 | mean error | cov error |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, by_sampler in results.items():
        for sampler, rows in by_sampler.items():
            best = best_row(rows)
            for row in rows:
                mark = " (best)" if row is best else ""
                if row["diverged"]:
                    lines.append(f"| {name} | {sampler} | {row['step_size']:.3g} | diverged | | | |")
                else:
                    lines.append(f"| {name} | {sampler} | {row['step_size']:.3g}{mark} | {row['mmd']:.4f} | "
                                 f"{row['sliced_w2']:.4f} | {row['mean_error']:.3f} | {row['cov_error']:.3f} |")
    lines += ["", "| target | SGLD best MMD | SA-SGLD best MMD | ratio | largest stable step: SGLD | SA-SGLD |",
              "|---|---:|---:|---:|---:|---:|"]

    def mmd(row):
        return "-" if row is None else f"{row['mmd']:.4f}"

    for name, by_sampler in results.items():
        sgld, sa = best_row(by_sampler["sgld"]), best_row(by_sampler["sa_sgld"])
        largest = {sampler: max((row["step_size"] for row in rows if not row["diverged"]), default=None)
                   for sampler, rows in by_sampler.items()}
        shown = {sampler: "none" if value is None else f"{value:.3g}" for sampler, value in largest.items()}
        ratio = "-" if sgld is None or sa is None else f"{sgld['mmd'] / sa['mmd']:.2f}x"
        lines.append(f"| {name} | {mmd(sgld)} | {mmd(sa)} | {ratio} | {shown['sgld']} | {shown['sa_sgld']} |")
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
    chains, steps = (8, 2_000) if args.quick else (args.chains, args.steps)
    targets = {name: toy_targets.TARGETS[name]() for name in names}
    results = {name: sweep(name, targets[name], chains=chains, steps=steps, quick=args.quick, seed=args.seed)
               for name in names}
    lines = ["# posterior bench toys", ""]
    if names:
        lines += sweep_table(results, chains=chains, steps=steps)
    if SHARP_FLAT in requested:
        lines += sharp_flat(chains=chains, steps=3 * steps)
    print("\n".join(lines), flush=True)
    if names:
        from experiments import plots

        best = {(name, sampler): best_row(rows) for name in names for sampler, rows in results[name].items()}
        plots.toy_sweep(args.figure, panels=[_panel(name, targets[name], results[name], best) for name in names])
        log(f"wrote {args.figure}")
    if args.output:
        summary = {name: {sampler: [{k: v for k, v in row.items() if k not in ("draws", "weights")} for row in rows]
                          for sampler, rows in results[name].items()} for name in names}
        with open(args.output, "w") as file:
            json.dump({"chains": chains, "steps": steps, "results": summary}, file, indent=2)
        log(f"wrote {args.output}")
    return 0
