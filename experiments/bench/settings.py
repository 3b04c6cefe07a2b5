"""What each ``posterior bench`` target can be told, importable without JAX.

The CLI builds its parser, and answers ``--help`` or a usage error, before anything heavy
is imported; so each target's options, their defaults and the problem sizes their help
quotes live here, and the target modules read them from here.
"""

import argparse

from experiments.arguments import positive_int, positive_int_list

DATA_SIZE = 10_000  # rows of the benchmarks' regression data
BATCH_SIZE = 128
BATCHES_PER_EPOCH = DATA_SIZE // BATCH_SIZE  # 78; the 16 rows left over are skipped
BLACKJAX_SGHMC_GRADIENTS_PER_CALL = 10  # blackjax.sghmc's num_integration_steps default
STEP_QUANTUM = BATCHES_PER_EPOCH * BLACKJAX_SGHMC_GRADIENTS_PER_CALL  # 780
HMC_NUM_INTEGRATION_STEPS = 10  # leapfrog steps, i.e. gradient evaluations, per HMC step

SGMCMC_DEFAULTS = {"steps": 12_000, "chains": (1, 16), "repeats": 3, "time_to_result_steps": (1_000, 10_000, 100_000)}
SGMCMC_QUICK = {"steps": STEP_QUANTUM, "chains": (1, 2), "repeats": 1, "time_to_result_steps": (STEP_QUANTUM,)}
HMC_DEFAULTS = {"steps": 300, "chains": 2, "repeats": 5, "scaling_steps": 100, "devices": (1, 2, 4, 8)}
HMC_QUICK = {"steps": 10, "chains": 2, "repeats": 1, "scaling_steps": 5, "devices": (1, 2, 4, 8)}
HMC_CPU_DEVICES = max(HMC_DEFAULTS["devices"])  # the hmc target's default --cpu-devices


def add_sgmcmc_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench sgmcmc``."""
    parser.add_argument("--steps", type=positive_int, default=None, metavar="S",
                        help=f"gradient evaluations per chain, rounded to a multiple of {STEP_QUANTUM} "
                             f"(default {SGMCMC_DEFAULTS['steps']}; --quick: {SGMCMC_QUICK['steps']})")
    parser.add_argument("--chains", type=positive_int_list, default=None, metavar="C1,C2,...",
                        help="chain counts to run (default 1,16; --quick: 1,2)")
    parser.add_argument("--repeats", type=positive_int, default=None, metavar="R",
                        help="timed runs per contender; the best (fastest) is reported, the median beside it, "
                             "and time to result is the median of as many "
                             f"(default {SGMCMC_DEFAULTS['repeats']}; --quick: {SGMCMC_QUICK['repeats']})")
    parser.add_argument("--time-to-result-steps", type=positive_int_list, default=None, metavar="S1,S2,...",
                        help="run lengths of the time-to-result table, each rounded to a multiple of "
                             f"{STEP_QUANTUM} (default 1000,10000,100000; --quick: {STEP_QUANTUM})")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke setting: {SGMCMC_QUICK['steps']} steps, chains 1,2, 1 repeat, time to result at "
                             f"{STEP_QUANTUM} steps (explicit options win)")


def add_hmc_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench hmc`` (and its default of 8 CPU devices)."""
    parser.set_defaults(cpu_devices=HMC_CPU_DEVICES)
    for action in parser._actions:  # the shared help would call the new default "all cores available"
        if action.dest == "cpu_devices":
            action.help = (f"expose N CPU cores as N JAX devices (default here {HMC_CPU_DEVICES}, the largest of "
                           "--devices; more devices than cores is fine for the scaling check)")
    parser.add_argument("--steps", type=positive_int, default=None, metavar="S",
                        help=f"HMC steps per chain in the comparison, {HMC_NUM_INTEGRATION_STEPS} gradient evaluations "
                             f"each (default {HMC_DEFAULTS['steps']}; --quick: {HMC_QUICK['steps']})")
    parser.add_argument("--chains", type=positive_int, default=None, metavar="C",
                        help=f"chains in the comparison (default {HMC_DEFAULTS['chains']}; --quick: {HMC_QUICK['chains']})")
    parser.add_argument("--repeats", type=positive_int, default=None, metavar="R",
                        help="timed runs per contender and per device count; the median is reported, the best "
                             f"beside it (default {HMC_DEFAULTS['repeats']}; --quick: {HMC_QUICK['repeats']})")
    parser.add_argument("--scaling-steps", type=positive_int, default=None, metavar="S",
                        help=f"HMC steps per run in the scaling check (default {HMC_DEFAULTS['scaling_steps']}; "
                             f"--quick: {HMC_QUICK['scaling_steps']})")
    parser.add_argument("--devices", type=positive_int_list, default=None, metavar="K1,K2,...",
                        help="device counts of the scaling check, each dividing the 10,000 rows (default 1,2,4,8); "
                             "needs --cpu-devices at least the largest on CPU")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke setting: {HMC_QUICK['steps']} steps, {HMC_QUICK['chains']} chains, 1 repeat, "
                             f"{HMC_QUICK['scaling_steps']} scaling steps (explicit options win)")


def add_prior_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench prior-fit``."""
    parser.add_argument("--settings", default="uci,toy", metavar="S1,S2",
                        help="which reference settings to run: uci, toy or both (default %(default)s)")
    parser.add_argument("--data-root", default=None, metavar="DIR",
                        help="the UCI folder holding bostonHousing/ (default: $POSTERIOR_DATA, else data/uci)")
    parser.add_argument("--timed-iterations", type=positive_int, default=None, metavar="K",
                        help="outer iterations timed the reference's way per setting (default 10; --quick 2)")
    parser.add_argument("--full", action="store_true",
                        help="also run the 1-D toy's reference-way fit to its end (most of an hour)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke setting: per-step timing only, over 2 iterations, no time-to-quality")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")


def add_toys_arguments(parser: argparse.ArgumentParser) -> None:
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


MEMORY_DEFAULTS = {"config": "configs/quickstart.yaml", "draws": (200, 2_000, 20_000)}


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``posterior bench memory``."""
    parser.add_argument("--config", default=MEMORY_DEFAULTS["config"], metavar="PATH",
                        help="the config run at every number of draws (default %(default)s)")
    parser.add_argument("--draws", type=positive_int_list, default=MEMORY_DEFAULTS["draws"], metavar="D1,D2,...",
                        help="draws per chain of each run, the config's steps after burn-in thinned to give them; "
                             "ratios are to the first (default 200,2000,20000)")
    parser.add_argument("--output", default=None, metavar="PATH", help="also write every number as JSON to PATH")


# target name -> (the module implementing it, its summary (the module's first line), the function adding its options)
TARGETS = {
    "sgmcmc": ("experiments.bench.sgmcmc",
               "SG-MCMC throughput: our SGLD/SGHMC against blackjax and a hand-fused lax.scan loop.",
               add_sgmcmc_arguments),
    "hmc": ("experiments.bench.hmc", "Full-batch HMC throughput: ours against blackjax's, and one step's scaling "
            "over data-sharded devices.", add_hmc_arguments),
    "prior-fit": ("experiments.bench.prior_fit",
                  "GP-matched prior fitting: our time per critic step and time to an equally good prior.",
                  add_prior_fit_arguments),
    "toys": ("experiments.bench.toys", "SGLD against SA-SGLD, and against Entropy-MCMC, on 2-D targets with exact "
             "answers.", add_toys_arguments),
    "memory": ("experiments.bench.memory", "Peak memory of posterior run against the number of draws, which it "
               "does not keep.", add_memory_arguments),
}
