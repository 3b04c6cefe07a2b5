"""``posterior run`` and ``posterior sweep``: configs in, run directories out.

A run resolves its config (overrides applied), skips itself when its directory already
holds finished results (unless ``--force``), runs the experiment, then writes plots,
``log.txt``, ``config.yaml``, ``prior.json`` (a fitted prior), ``predictive.npz`` (the test
predictive, :mod:`experiments.reference`) and ``metrics.json`` (a directory with
``metrics.json`` is a finished run) into a staging directory that then
takes the run directory's place. While it samples, it checkpoints into the run
directory's ``checkpoint/`` every ``checkpoint.every`` steps, and a run that finds a
checkpoint there resumes from it (``--restart`` discards it; one written under another
config is refused). A sweep is the same for every combination of the values
it is given, every config checked before the first run starts. Both keep XLA's compiled
programs in a cache (``$XDG_CACHE_HOME/posterior/jax``, by default
``~/.cache/posterior/jax``; ``JAX_COMPILATION_CACHE_DIR`` chooses another), so runs that
differ only in data (other splits, seeds) skip most of their compilation. It lives
outside the results folder so that a run refused for bad input writes nothing there.

Exit status: 0 when every run finished (runs that left out diverged chains under
``sampling.on_divergence: drop_chain`` included), 2 for bad input, and
:data:`EXIT_DIVERGED` when a run diverged (``metrics.json`` then says ``status:
diverged`` and which chains failed at which steps, and holds no test metrics). A sweep
goes on past a diverged run, counts it, and exits with :data:`EXIT_DIVERGED` at the end
if any of its runs diverged.
"""

import argparse
import contextlib
import os
import pathlib
import shutil
import sys

import jax
import numpy as np
from jax.experimental import multihost_utils

import samplers
from experiments import config as configs
from experiments import interrupts, prior_fit, report, rundir, runlock
from experiments.config.checks import shown
from experiments.config.identity import differences, run_identity
from experiments.config.sweeps import sweep_configs
from experiments.experiment import INIT_CHECKPOINT, run_experiment
from posterior.data import DataFolderNotFound

DATA_ROOT_VARIABLE = "POSTERIOR_DATA"
EXIT_DIVERGED = 3
CHECKPOINT = report.CHECKPOINT


def data_root(config: configs.Config) -> str | None:
    """The data folder: ``$POSTERIOR_DATA`` when set, else the config's ``data.root``."""
    return os.environ.get(DATA_ROOT_VARIABLE) or config.data.root


def directory_of(results: pathlib.Path, config: configs.Config) -> pathlib.Path:
    return rundir.run_directory(results, experiment=config.name, dataset=config.data.name,
                                split=config.data.split, seed=config.seed)


def use_compilation_cache() -> None:
    """Turn on the persistent compilation cache (:func:`samplers.enable_compilation_cache`)
    before the process compiles anything: JAX reads the setting once."""
    samplers.enable_compilation_cache()


def execute(config: configs.Config, *, results: pathlib.Path, force: bool,
            restart: bool = False) -> tuple[pathlib.Path, dict | None]:
    """Run ``config`` into its run directory; returns the directory and metrics (None: skipped).

    The sampler checkpoints into ``checkpoint/`` of the run directory and a run that
    finds a checkpoint there resumes from it (``restart``: discards it first). Everything
    else is written to a staging directory that replaces the run directory only once
    complete, so a failed or interrupted re-run leaves the earlier results intact; the
    finished run keeps no checkpoint, except a diverged one, which keeps the last one
    written before the divergence. While it runs, the run directory's lock
    (:mod:`experiments.runlock`) keeps other processes out.

    Raises:
        experiments.runlock.RunLocked: another live process is running the directory.
        experiments.runlock.ResultsNotWritable: the results location cannot be written,
            found before anything is read or compiled, or a write failed later (a full
            disk): the message names the path and the checkpoint kept.
        experiments.interrupts.RunInterrupted: SIGINT or SIGTERM arrived; the message
            names the checkpoint kept and the command that goes on from it.
        OtherRunError: the directory holds the finished run of another config.
    """
    directory = directory_of(results, config)
    if not force and rundir.finished_metrics(directory) is not None:
        check_same_run(directory, config)
        print(f"skipped {directory}: finished results of this config exist (--force re-runs)")
        return directory, None
    writer = jax.process_index() == 0  # of several processes, process 0 writes (and prints) for all
    checkpoint_dir = None if config.checkpoint.every is None else directory / CHECKPOINT
    with runlock.holding(directory) if writer else contextlib.nullcontext():
        try:
            return _execute_holding(config, directory, checkpoint_dir, results=results, restart=restart,
                                    writer=writer)
        except OSError as error:
            raise runlock.ResultsNotWritable(f"{error.filename or directory}: {error.strerror or error}; "
                                             f"{_kept(checkpoint_dir)}") from None
        except (KeyboardInterrupt, interrupts.Terminated) as interruption:
            name = interrupts.signal_of(interruption).name
            raise interrupts.RunInterrupted(
                f"interrupted ({name}): {_kept(checkpoint_dir)}; `{interrupts.resume_command()}` goes on",
                interrupts.exit_status(interruption)) from None


def _kept(checkpoint_dir: pathlib.Path | None) -> str:
    """What an interrupted or failed run leaves to resume from, in words; a checkpoint
    folder holding no whole checkpoint (of the sampling, or of the start's optimisation
    with ``init.from: map``) is removed."""
    step = None if checkpoint_dir is None else samplers.checkpoint.saved_step(checkpoint_dir)
    init_step = None if checkpoint_dir is None else samplers.checkpoint.saved_step(checkpoint_dir / INIT_CHECKPOINT)
    if step is None and init_step is None:
        if checkpoint_dir is not None and jax.process_index() == 0:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        return "no checkpoint was kept"
    if step is None:
        where = checkpoint_dir / INIT_CHECKPOINT
        return f"the checkpoint of the starts' optimisation at step {init_step} in {where} is kept"
    return f"the checkpoint at step {step} in {checkpoint_dir} is kept"


def _execute_holding(config: configs.Config, directory: pathlib.Path, checkpoint_dir: pathlib.Path | None, *,
                     results: pathlib.Path, restart: bool, writer: bool) -> tuple[pathlib.Path, dict]:
    """:func:`execute` once the run directory is this process's."""
    if checkpoint_dir is not None:
        if restart and writer:
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        if jax.process_count() > 1:  # no process may read the checkpoint before it is gone
            multihost_utils.sync_global_devices("checkpoint discarded")
    log = rundir.Log(echo=writer)
    log(f"run {directory}")
    try:
        outcome = run_experiment(config, data_root=data_root(config), prior_cache=results / prior_fit.CACHE,
                                 checkpoint_dir=checkpoint_dir, log=log)
    except samplers.checkpoint.CheckpointError as error:
        raise samplers.checkpoint.CheckpointError(f"{error}; --restart discards it and starts afresh") from None
    except DataFolderNotFound as error:
        raise DataFolderNotFound(f"{error}; the data folder is the config's data.root (eval.ood.root for an OOD "
                                 f"set) unless ${DATA_ROOT_VARIABLE} is set") from None
    if not writer:
        return directory, outcome.metrics
    with rundir.staging(directory) as staged:
        report.write_run(staged, config, outcome, log, log_text=log.text, checkpoint_dir=checkpoint_dir)
    return directory, outcome.metrics


class OtherRunError(ValueError):
    """A run directory that holds the finished results of another config."""


def check_same_run(directory: pathlib.Path, config: configs.Config) -> None:
    """Refuse to reuse ``directory`` unless its finished run had ``config``'s identity
    (:func:`experiments.config.identity.run_identity`).

    Raises:
        OtherRunError: naming the keys that differ and their two values, or the
            directory's unreadable ``config.yaml``.
    """
    try:
        finished = configs.load(directory / rundir.CONFIG)
    except configs.ConfigError as error:
        raise OtherRunError(f"{directory} holds finished results whose {rundir.CONFIG} cannot be read ({error}); "
                            f"--force replaces them") from None
    differing = differences(run_identity(finished), run_identity(config))
    if differing:
        listed = "; ".join(f"{key} is {shown(there)} there, {shown(here)} here"
                          for key, there, here in differing[:4])
        more = f" and {len(differing) - 4} more keys" if len(differing) > 4 else ""
        raise OtherRunError(f"{directory} holds the finished run of another config: {listed}{more}; give this run "
                            f"another name (name=...) or --force to replace it")


def divergence_message(directory: pathlib.Path, config: configs.Config, metrics: dict) -> str:
    """The one line ``posterior`` prints on stderr for a diverged run: the chain that
    became non-finite first, at which step, and what to try."""
    divergences = metrics["divergences"]
    first = min(divergences, key=lambda divergence: divergence["step"])
    hint = "try a smaller sampler.step_size"
    if len(divergences) < config.sampling.num_chains:
        hint += " or sampling.on_divergence=drop_chain"
    return (f"posterior: diverged: chain {first['chain']} became non-finite at step {first['step']} "
            f"({len(divergences)} of {config.sampling.num_chains} chains diverged; "
            f"sampler.step_size={config.sampler.step_size:g}); metrics in {directory}; {hint}")


def run(args: argparse.Namespace) -> int:
    """``posterior run``: one config; exit status 0, :data:`EXIT_DIVERGED` if it diverged."""
    config = configs.load(args.config, args.overrides)
    use_compilation_cache()
    directory, metrics = execute(config, results=args.results, force=args.force, restart=args.restart)
    if metrics is not None and metrics["status"] != "ok":
        print(divergence_message(directory, config, metrics), file=sys.stderr)
        return EXIT_DIVERGED
    return 0


def sweep(args: argparse.Namespace) -> int:
    """``posterior sweep``: every combination, going on past diverged runs; exit status 0,
    :data:`EXIT_DIVERGED` if any run diverged."""
    runs = sweep_configs(args.config, args.overrides, args.over)
    print(f"sweep: {len(runs)} run(s)")
    use_compilation_cache()
    diverged = []
    for index, config in enumerate(runs, 1):
        print(f"--- run {index}/{len(runs)}")
        directory, metrics = execute(config, results=args.results, force=args.force, restart=args.restart)
        if metrics is not None and metrics["status"] != "ok":
            diverged.append(divergence_message(directory, config, metrics))
    finished = [rundir.finished_metrics(directory_of(args.results, config)) for config in runs]
    wall = np.nansum([metrics.get("wall_seconds", np.nan) for metrics in finished if metrics])
    print(f"sweep: {len(runs)} run(s) finished, {len(diverged)} diverged; {wall:.0f} s of run time in total")
    for message in diverged:
        print(message, file=sys.stderr)
    return EXIT_DIVERGED if diverged else 0
