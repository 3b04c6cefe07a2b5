"""The flat-basin comparison of ``posterior bench toys``: SGLD against Entropy-MCMC on a sharp/flat mixture.

:func:`flat_basin_fractions` runs both with the same keys from the same exact draws and
gives each chain's fraction of draws in the flat basin, for SGLD, Entropy-MCMC's
``theta`` and its anchor; :func:`sharp_flat` sets them against the exact fractions, as
the report's table.
"""

import jax
import numpy as np

from experiments.bench import log
from experiments.bench.toys_sweep import standard_error, start_from

SHARP_FLAT = "sharp-flat"
SHARP_FLAT_STEP, SHARP_FLAT_ETA = 0.002, 1.0


def flat_basin_fractions(*, chains: int, steps: int) -> dict[str, np.ndarray]:
    """SGLD and Entropy-MCMC on the sharp/flat mixture, with the same keys from the same
    exact draws: each chain's fraction of draws in the flat basin, for SGLD, ``theta``
    and the anchor."""
    import samplers
    from posterior import toy_targets

    target = toy_targets.sharp_flat_mixture()
    start = start_from(target.sample(np.random.default_rng(7), 100 * chains))
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
        lines.append(f"| {name} | {per_chain.mean():.3f} ± {standard_error(per_chain):.3f} | "
                     f"{exact[name]:.3f} |")
    lines += ["", f"Anchor minus SGLD, chain by chain: {excess.mean():+.3f} ± {standard_error(excess):.3f}."]
    return lines
