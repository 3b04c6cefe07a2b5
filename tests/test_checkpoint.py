"""Checkpoints of the driver: a resumed run is bit-identical, and other runs' or damaged files are refused."""

import functools
import io
import itertools
import json
import os
import pathlib
import pickle
import shutil
import subprocess
import sys
import textwrap
import zipfile
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from conftest import REPO
from samplers import checkpoint
from test_divergence import poisoned_gaussian

NUM_ROWS, BATCH_SIZE = 60, 10


def regression_data(noise_seed=2):
    x = jax.random.normal(jax.random.key(1), (NUM_ROWS, 3))
    y = x @ jnp.array([1.0, -2.0, 0.5]) + 0.3 * jax.random.normal(jax.random.key(noise_seed), (NUM_ROWS,))
    return x, y


def regression_logdensity(w, batch):
    x, y = batch
    return -0.5 * w @ w - 0.5 * (NUM_ROWS / y.shape[0]) * jnp.sum((x @ w - y) ** 2) / 0.09


def regression_with_intercept_logdensity(w, batch):
    """Another model of the same data: its position has one entry more."""
    x, y = batch
    return -0.5 * w @ w - 0.5 * (NUM_ROWS / y.shape[0]) * jnp.sum((x @ w[:3] + w[3] - y) ** 2) / 0.09


def gaussian_logdensity(x, batch=None):
    del batch
    return -0.5 * x @ x


def gaussian_start(key):
    return jax.random.normal(key, (2,))


SETUPS = {
    # Scale adaptation puts more than position and momentum in the state that must come back.
    "sghmc-minibatches": lambda: dict(
        alg=samplers.sghmc(regression_logdensity, 1e-3, friction=0.1, scale_adaptation_steps=100),
        init_params=jnp.zeros(3), data=regression_data(), batch_size=BATCH_SIZE),
    "sgld-without-data": lambda: dict(
        alg=samplers.sgld(gaussian_logdensity, 0.05), init_params=jnp.zeros(2), data=None, batch_size=None),
    # Each chain's step size and mass matrix, tuned in init, must come back too.
    "nuts-tuned-per-chain": lambda: dict(
        alg=samplers.nuts(gaussian_logdensity, adaptation_steps=50),
        init_params=gaussian_start, data=None, batch_size=None),
    # The state holds a typed key (the one that draws trajectory lengths).
    "adjusted-mclmc-tuned-per-chain": lambda: dict(
        alg=samplers.adjusted_mclmc(gaussian_logdensity, num_steps=300),
        init_params=gaussian_start, data=None, batch_size=None),
}


def moments(position, weight):
    return {"mean": weight * position, "square": weight * position**2}


def run(setup: str, **overrides) -> samplers.SampleResult:
    """``samplers.sample`` on ``SETUPS[setup]``: 4 chains, 300 steps, burn-in, thinning, short chunks."""
    kwargs = dict(key=jax.random.key(3), num_chains=4, num_steps=300, burn_in=50, thin=5, chunk_size=20,
                  on_sample=moments, keep_samples=True, progress=False)
    return samplers.sample(**{**SETUPS[setup](), **kwargs, **overrides})


# Chunks of 20 steps (4 draws) end at 20, 40, 50, 70, 90, .., 290, 300; checkpoints come
# at the first boundary 70 or more steps after the one before: 70, 150, 230 and 300.
CHECKPOINT_EVERY = 70


@functools.cache
def uninterrupted(setup: str) -> samplers.SampleResult:
    return run(setup)


class Interrupted(Exception):
    """Stands for the process being killed right after a checkpoint was written."""


def record_saves(patch: pytest.MonkeyPatch, *, interrupt_after: int | None = None) -> list[int]:
    """Wrap ``checkpoint.save``; returns the list the step of every save is appended to."""
    save, steps = checkpoint.save, []

    def recording_save(*args, **kwargs):
        save(*args, **kwargs)
        steps.append(kwargs["step"])
        if len(steps) == interrupt_after:
            raise Interrupted

    patch.setattr(checkpoint, "save", recording_save)
    return steps


def interrupted_run(setup: str, directory, **overrides) -> list[int]:
    """Run ``setup`` with checkpoints in ``directory`` until its second save; returns the steps saved."""
    with pytest.MonkeyPatch.context() as patch:
        steps = record_saves(patch, interrupt_after=2)
        with pytest.raises(Interrupted):
            run(setup, checkpoint_dir=directory, **overrides)
    return steps


def key_bits(leaf: jax.Array) -> np.ndarray:
    """A state leaf as NumPy numbers; a typed key as its bits (NumPy cannot hold it)."""
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.asarray(leaf)


def assert_same_result(result: samplers.SampleResult, expected: samplers.SampleResult) -> None:
    """Every draw, weight, info field, ``on_sample`` sum and state leaf equal, bit for bit."""
    assert np.all(np.isfinite(expected.samples)), "NaN would never compare equal"
    assert np.array_equal(result.samples, expected.samples)
    assert np.array_equal(result.weights, expected.weights)
    assert result.info.keys() == expected.info.keys()
    for name in expected.info:
        assert np.array_equal(result.info[name], expected.info[name]), name
    assert result.online.keys() == expected.online.keys()
    for name in expected.online:
        assert np.array_equal(result.online[name], expected.online[name]), name
    assert jax.tree.structure(result.state) == jax.tree.structure(expected.state)
    for leaf, expected_leaf in zip(jax.tree.leaves(result.state), jax.tree.leaves(expected.state)):
        assert np.array_equal(key_bits(leaf), key_bits(expected_leaf))
    assert np.array_equal(result.diverged_at, expected.diverged_at)
    assert result.num_steps_taken == expected.num_steps_taken


class Resumed(NamedTuple):
    setup: str
    result: samplers.SampleResult
    directory: pathlib.Path
    steps_saved_before: list[int]
    steps_saved_after: list[int]


@pytest.fixture(scope="module", params=list(SETUPS))
def resumed(request, tmp_path_factory) -> Resumed:
    """A run interrupted after its second checkpoint, then resumed by the same call."""
    directory = tmp_path_factory.mktemp(request.param)
    before = interrupted_run(request.param, directory, checkpoint_every=CHECKPOINT_EVERY)
    with pytest.MonkeyPatch.context() as patch:
        after = record_saves(patch)
        result = run(request.param, checkpoint_dir=directory, checkpoint_every=CHECKPOINT_EVERY)
    return Resumed(request.param, result, directory, before, after)


def test_a_resumed_run_is_bit_identical_to_an_uninterrupted_one(resumed):
    # The later saves show that the second call went on from step 150 rather than starting over.
    assert (resumed.steps_saved_before, resumed.steps_saved_after) == ([70, 150], [230, 300])
    assert_same_result(resumed.result, uninterrupted(resumed.setup))


def test_calling_again_after_the_last_step_returns_the_same_draws_and_steps_no_more(resumed):
    files = {path.name: path.read_bytes() for path in resumed.directory.iterdir()}
    with pytest.MonkeyPatch.context() as patch:
        saves = record_saves(patch)
        again = run(resumed.setup, checkpoint_dir=resumed.directory, checkpoint_every=CHECKPOINT_EVERY)
    assert again.num_steps_taken == 300
    assert_same_result(again, uninterrupted(resumed.setup))
    # Nothing left to run: no program is compiled and the finished checkpoint is left as it was.
    assert again.timings["compile_seconds"] == 0.0
    assert saves == []
    assert {path.name: path.read_bytes() for path in resumed.directory.iterdir()} == files


# 300 steps, burn-in 50, thin 5: 50 draws per chain, 4 to a chunk of 20 steps.
NUM_DRAWS = 50


def record_draw(state, position, weight, draw):
    """Fold in a draw by writing down its index and weight in the next slot: a fold, not a
    sum, so the order the draws came in shows."""
    del position
    return {"indices": state["indices"].at[state["count"]].set(draw),
            "weights": state["weights"].at[state["count"]].set(weight), "count": state["count"] + 1}


# A slot more than there are draws, to show that none is folded in twice.
INDEX_RECORDER = samplers.Fold(
    init=lambda position: {"indices": jnp.full(NUM_DRAWS + 1, -1, jnp.int32),
                           "weights": jnp.zeros(NUM_DRAWS + 1, jnp.float32), "count": jnp.zeros((), jnp.int32)},
    update=record_draw)


def test_a_fold_sees_the_draws_in_order_across_chunks_and_a_resumed_run(tmp_path):
    before = interrupted_run("sghmc-minibatches", tmp_path, on_sample=INDEX_RECORDER, checkpoint_every=CHECKPOINT_EVERY)
    assert before == [70, 150], "the premise: interrupted with 20 of the 50 draws taken"
    result = run("sghmc-minibatches", on_sample=INDEX_RECORDER, checkpoint_dir=tmp_path,
                 checkpoint_every=CHECKPOINT_EVERY)
    assert result.weights.shape == (4, NUM_DRAWS)
    np.testing.assert_array_equal(result.online["count"], [NUM_DRAWS] * 4)
    expected = np.append(np.arange(NUM_DRAWS), -1)  # each draw once, in order; the spare slot untouched
    np.testing.assert_array_equal(result.online["indices"], np.broadcast_to(expected, (4, NUM_DRAWS + 1)))
    np.testing.assert_array_equal(result.online["weights"][:, :NUM_DRAWS], result.weights)


@pytest.mark.parametrize("checkpoint_every, steps", [
    # Chunks of 16 steps: burn-in ends 16, 25; draws of 4 steps, 4 a chunk: 41, 57, 73, 89, then 2 draws to
    # 97 and the 3 steps left over to 100.
    (None, [16, 25, 41, 57, 73, 89, 97, 100]),
    (30, [41, 73, 100]),
    # checkpoint_every shortens chunks to 10 steps: burn-in ends 10, 20, 25; then 2 draws (8 steps) a chunk.
    (10, [10, 20, 33, 49, 65, 81, 97, 100]),
], ids=["every chunk", "every 30 steps", "every 10 steps"])
def test_checkpoints_fall_on_chunk_boundaries_checkpoint_every_apart_and_after_the_last_step(
        tmp_path, monkeypatch, checkpoint_every, steps):
    burn_in, thin = 25, 4
    saves = record_saves(monkeypatch)
    run("sgld-without-data", num_chains=1, num_steps=100, burn_in=burn_in, thin=thin, chunk_size=16,
        checkpoint_dir=tmp_path, checkpoint_every=checkpoint_every)
    assert saves == steps
    # Each checkpoint adds one file with the draws kept since the one before, none when there were none.
    kept = [max(0, (step - burn_in) // thin) for step in steps]
    expected_files = [f"draws-{first:09d}-{stop:09d}.npz" for first, stop in itertools.pairwise([0] + kept)
                      if stop > first]
    assert sorted(path.name for path in tmp_path.glob("draws-*")) == expected_files


# The checkpoint the refusals start from: interrupted at its second save (step 20, after
# burn-in and 2 draws), so that it lists one draws file.
REFUSED_RUN = dict(num_chains=2, num_steps=60, burn_in=10, thin=5, chunk_size=10,
                   checkpoint_identity={"step_size": 1e-3, "friction": 0.1})


@pytest.fixture(scope="module")
def refused_checkpoint(tmp_path_factory):
    directory = tmp_path_factory.mktemp("refused")
    assert interrupted_run("sghmc-minibatches", directory, **REFUSED_RUN) == [10, 20]
    assert sorted(path.name for path in directory.iterdir()) == ["draws-000000000-000000002.npz", "state.npz"]
    return directory


def state_file(directory):
    return directory / checkpoint.STATE


def draws_file(directory):
    return directory / "draws-000000000-000000002.npz"


def truncated(path):
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def garbled(path):
    path.write_bytes(b"not a checkpoint\n" * 64)
    return path


def deleted(path):
    path.unlink()
    return path


def with_every_member(path, offset, value):
    """``path`` with the 2-byte field at ``offset`` of each of its zip central-directory entries set to ``value``."""
    content = bytearray(path.read_bytes())
    start = content.find(b"PK\x01\x02")
    while start != -1:
        content[start + offset:start + offset + 2] = value.to_bytes(2, "little")
        start = content.find(b"PK\x01\x02", start + 1)
    path.write_bytes(bytes(content))
    return path


# Fields of a central-directory entry: the flag bits (bit 0: encrypted) and the compression method.
FLAG_BITS, METHOD = 8, 10


def holding_an_object_array(path):
    # Loading this with allow_pickle=True would run pickle on whatever the file holds.
    with open(path, "wb") as file:
        np.savez(file, metadata=np.array([{}], dtype=object))
    return path


@pytest.mark.parametrize("change, damage, cause", [
    pytest.param({"key": jax.random.key(4)}, state_file, r"written by another run: its key is", id="another key"),
    pytest.param({"data": regression_data(noise_seed=5)}, state_file, r"written by another run: its data is",
                 id="other data"),
    pytest.param({"num_steps": 80}, state_file, r"written by another run: its num_steps is 60, this run's is 80",
                 id="other num_steps"),
    pytest.param({"alg": samplers.sghmc(regression_with_intercept_logdensity, 1e-3, friction=0.1,
                                        scale_adaptation_steps=100), "init_params": jnp.zeros(4)},
                 state_file, r"position as float32 \[2, 3\], this run needs float32 \[2, 4\].*another model",
                 id="another model"),
    pytest.param({"checkpoint_identity": {"step_size": 2e-3, "friction": 0.1}}, state_file,
                 r"written by another run: its step_size is 0\.001, this run's is 0\.002",
                 id="another checkpoint_identity"),
    pytest.param({}, lambda d: truncated(state_file(d)), r"is unreadable", id="state truncated"),
    pytest.param({}, lambda d: garbled(state_file(d)), r"is unreadable \(not an \.npz archive\)", id="state garbage"),
    pytest.param({}, lambda d: deleted(draws_file(d)), r"is missing", id="draws deleted"),
    pytest.param({}, lambda d: truncated(draws_file(d)), r"is unreadable", id="draws truncated"),
    pytest.param({}, lambda d: holding_an_object_array(state_file(d)), r"is unreadable \(.*allow_pickle=False",
                 id="object array"),
    pytest.param({}, lambda d: with_every_member(state_file(d), FLAG_BITS, 1), r"is unreadable \(.*encrypted",
                 id="flagged encrypted"),
    pytest.param({}, lambda d: with_every_member(draws_file(d), METHOD, 8), r"is unreadable", id="said deflated"),
    pytest.param({}, lambda d: with_every_member(draws_file(d), METHOD, 14), r"is unreadable", id="said lzma"),
    pytest.param({}, lambda d: with_every_member(draws_file(d), METHOD, 99), r"is unreadable \(.*compression",
                 id="unknown compression"),
])
def test_a_checkpoint_of_another_run_or_a_damaged_one_is_refused_naming_the_file_and_cause(
        refused_checkpoint, tmp_path, monkeypatch, change, damage, cause):
    directory = tmp_path / "checkpoint"
    shutil.copytree(refused_checkpoint, directory)
    path = damage(directory)
    files = {file.name: file.read_bytes() for file in directory.iterdir()}

    def unpickle(*args, **kwargs):
        raise AssertionError("a checkpoint was unpickled")

    monkeypatch.setattr(pickle, "load", unpickle)
    monkeypatch.setattr(pickle, "loads", unpickle)
    with pytest.raises(checkpoint.CheckpointError) as refused:
        run("sghmc-minibatches", checkpoint_dir=directory, **{**REFUSED_RUN, **change})
    message = str(refused.value)
    assert message.startswith(f"checkpoint file {path} ") and "\n" not in message
    assert refused.match(cause)
    # A refused call must not overwrite the checkpoint it refused: the run that wrote it may still want it.
    assert {file.name: file.read_bytes() for file in directory.iterdir()} == files


def test_checkpoint_identity_may_not_rename_what_the_driver_records(tmp_path):
    with pytest.raises(ValueError, match="checkpoint_identity may not name key: the driver records those itself"):
        run("sghmc-minibatches", checkpoint_dir=tmp_path, checkpoint_identity={"key": 1})


def test_a_failed_atomic_write_leaves_the_earlier_file_and_no_temporary_one(tmp_path):
    path = tmp_path / "state.npz"
    path.write_bytes(b"the earlier checkpoint")
    temporaries = []

    def write_part_then_fail(temporary):
        temporary.write_bytes(b"half of the new")
        temporaries.append(temporary)
        raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        checkpoint.write_atomic(path, write_part_then_fail)
    assert len(temporaries) == 1 and temporaries[0] != path
    assert path.read_bytes() == b"the earlier checkpoint"
    assert list(tmp_path.iterdir()) == [path]


# Chunks of 16 steps: burn-in ends 16 and 20, then 8 draws of 2 steps a chunk: 36, 52, .., 196, then 200.
DIVERGING_RUN = dict(num_chains=4, num_steps=200, burn_in=20, thin=2, chunk_size=16, progress=False)
DIVERGING_BOUNDARIES = [16, *range(20, 197, 16), 200]


def diverging_run(**kwargs) -> samplers.SampleResult:
    # Threshold 1.5: with this key, one chain crosses it mid-chunk well before the end, others later or never.
    alg = samplers.sgld(poisoned_gaussian(1.5, "gradient"), 0.05)
    return samplers.sample(alg, jax.random.key(17), jnp.zeros(2), **DIVERGING_RUN, **kwargs)


@pytest.fixture(scope="module")
def run_to_the_end():
    return diverging_run()


def test_without_stop_on_divergence_a_diverging_run_goes_to_num_steps(run_to_the_end):
    result = run_to_the_end
    diverged = result.diverged_at >= 0
    assert diverged.any() and not diverged.all()
    assert result.num_steps_taken == 200
    np.testing.assert_array_equal(np.asarray(result.state.step), 200)
    assert result.samples.shape == (4, 90, 2)
    assert not np.isfinite(result.samples[diverged, -1]).any()


def test_stop_on_divergence_ends_at_the_next_chunk_boundary_and_keeps_the_last_finite_checkpoint(
        run_to_the_end, tmp_path):
    first = run_to_the_end.diverged_at[run_to_the_end.diverged_at >= 0].min()
    stop = next(boundary for boundary in DIVERGING_BOUNDARIES if boundary >= first)
    assert 20 < first < stop < 200, "the divergence should fall inside a recording chunk, mid-run"

    result = diverging_run(stop_on_divergence=True, checkpoint_dir=tmp_path)
    assert result.num_steps_taken == stop
    np.testing.assert_array_equal(np.asarray(result.state.step), stop)
    np.testing.assert_array_equal(result.diverged_at, np.where(run_to_the_end.diverged_at <= stop,
                                                               run_to_the_end.diverged_at, -1))
    num_kept = (stop - 20) // 2
    np.testing.assert_array_equal(result.samples, run_to_the_end.samples[:, :num_kept])

    # The last checkpoint is the boundary before the divergence, and holds finite chains only.
    last = DIVERGING_BOUNDARIES[DIVERGING_BOUNDARIES.index(stop) - 1]
    assert checkpoint.saved_step(tmp_path) == last < first
    with np.load(tmp_path / checkpoint.STATE, allow_pickle=False) as stored:
        layout = json.loads(stored["metadata"].tobytes().decode())["layout"]
        leaves = {entry["path"]: stored[f"leaf_{index}"] for index, entry in enumerate(layout)}
    assert any(np.issubdtype(leaf.dtype, np.floating) for leaf in leaves.values())
    for path, leaf in leaves.items():
        if np.issubdtype(leaf.dtype, np.floating):
            assert np.isfinite(leaf).all(), path
    np.testing.assert_array_equal(leaves["['carry'].diverged_at"], -1)


RESUME_ON_FOUR_DEVICES = textwrap.dedent(
    """
    import sys
    import jax
    import numpy as np
    from test_checkpoint import CHECKPOINT_EVERY, run

    directory, out = sys.argv[1:]
    result = run("sghmc-minibatches", checkpoint_dir=directory, checkpoint_every=CHECKPOINT_EVERY)
    np.savez(out, devices=len(jax.devices()), shards=len(result.state.position.sharding.device_set),
             samples=result.samples, weights=result.weights, num_steps_taken=result.num_steps_taken,
             **{f"info.{name}": value for name, value in result.info.items()},
             **{f"online.{name}": value for name, value in result.online.items()},
             **{f"state.{index}": np.asarray(leaf) for index, leaf in enumerate(jax.tree.leaves(result.state))})
    """
)


def test_a_checkpoint_written_on_one_device_resumes_on_four_with_the_same_draws(tmp_path):
    directory, out = tmp_path / "checkpoint", tmp_path / "resumed.npz"
    assert interrupted_run("sghmc-minibatches", directory, checkpoint_every=CHECKPOINT_EVERY) == [70, 150]
    # The device count is fixed when JAX starts, so the resuming run needs a process of its own;
    # virtual devices are CPU devices, so keep it off any GPU the machine has.
    path = os.pathsep.join(filter(None, [str(REPO / "tests"), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONPATH=path, JAX_PLATFORMS="cpu", XLA_FLAGS="--xla_force_host_platform_device_count=4")
    subprocess.run([sys.executable, "-c", RESUME_ON_FOUR_DEVICES, str(directory), str(out)], env=env, check=True,
                   capture_output=True, timeout=120)

    expected = uninterrupted("sghmc-minibatches")
    with np.load(out, allow_pickle=False) as resumed:
        assert (int(resumed["devices"]), int(resumed["shards"])) == (4, 4), "the chains must be split over 4 devices"
        assert int(resumed["num_steps_taken"]) == 300
        assert np.array_equal(resumed["samples"], expected.samples)
        assert np.array_equal(resumed["weights"], expected.weights)
        for name, value in expected.info.items():
            assert np.array_equal(resumed[f"info.{name}"], value), name
        for name, value in expected.online.items():
            assert np.array_equal(resumed[f"online.{name}"], value), name
        for index, leaf in enumerate(jax.tree.leaves(expected.state)):
            assert np.array_equal(resumed[f"state.{index}"], np.asarray(leaf)), index



def _archive_claiming(path: pathlib.Path, shape: tuple[int, ...]) -> None:
    """A well-formed zip (true sizes and checksums) of one .npy member holding ten float64
    numbers under a header that claims ``shape``."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": shape})
    member.write(np.zeros(10).tobytes())
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("leaf_0.npy", member.getvalue())


@pytest.mark.parametrize("claimed, reason", [
    ((10**7,), r"leaf_0.npy claims shape \(10000000,\) of float64 \(80,000,000 bytes\) but holds 80 bytes"),
    ((11,), r"leaf_0.npy claims shape \(11,\) of float64 \(88 bytes\) but holds 80 bytes"),
])
def test_an_archive_whose_header_claims_more_than_it_holds_is_refused_before_allocating(tmp_path, claimed, reason):
    path = tmp_path / "tree.npz"
    _archive_claiming(path, (10,))
    assert checkpoint.read_archive(path)["leaf_0"].shape == (10,)
    _archive_claiming(path, claimed)
    with pytest.raises(checkpoint.UnreadableArchive, match=reason):
        checkpoint.read_archive(path)
    with pytest.raises(checkpoint.CheckpointError, match=f"checkpoint file {path} is unreadable .*claims shape"):
        checkpoint._read_npz(path)


def test_an_archive_claiming_more_than_the_machines_memory_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "tree.npz"
    checkpoint.write_tree(path, {"leaf": np.zeros(10)}, {})
    monkeypatch.setattr(checkpoint, "_physical_memory", lambda: 100)
    with pytest.raises(checkpoint.UnreadableArchive, match="claim .* bytes, more than this machine's 100 bytes"):
        checkpoint.read_archive(path)
