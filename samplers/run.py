"""The driver: many chains, compiled once, run long.

``sample`` advances ``num_chains`` chains of any :class:`SamplingAlgorithm` for
``num_steps`` steps. Chains are a leading array axis split over the 'chain' axis of a
device mesh; steps run inside two compiled programs (advance without recording, and
record thinned draws), each called once per chunk so that the Python loop only moves
between chunks (progress, checkpoints). Trip counts are runtime arguments, so
the number of compilations does not depend on ``num_steps``, ``burn_in`` or ``thin``.

Randomness is a pure function of the key: chain ``c`` uses ``split(key, num_chains)[c]``,
its step ``t`` uses ``fold_in`` of that with ``t``, and its minibatches come from a
permutation of the data drawn afresh for each epoch. The draws therefore do not depend
on the mesh, the chunking or how a run was split into calls.

Divergence is watched inside the compiled loop: every step checks, per chain, that the new
position and the step's ``info.logdensity`` are finite, and the carry keeps the first step
at which a chain failed (``SampleResult.diverged_at``). A diverged chain keeps stepping
(its state stays non-finite, which touches no other chain), so the check changes no draw
and costs one reduction over the position per step.
"""

import functools
import inspect
import json
import os
import pathlib
import time
import warnings
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from samplers import checkpoint, minibatch, programs
from samplers.base import ArrayTree, Fold, PRNGKey, SamplingAlgorithm
from samplers.progress import Progress
from samplers.mesh import (CHAIN_AXIS, DATA_AXIS, chain_sharding, check_mesh, default_mesh, fetch, on_cpus, put,
                           replicated)
from samplers.validation import check_integer

__all__ = ["SampleResult", "Starts", "sample"]


class Starts(NamedTuple):
    """One start per chain, for :func:`sample`'s ``init_params``.

    Attributes:
        positions: a parameter pytree whose leaves have a leading axis of ``num_chains``:
            chain ``c`` starts at row ``c`` (e.g. the last draws of an optimisation run,
            ``jax.tree.map(lambda x: x[:, -1], result.samples)``). Every device receives
            all the rows and keeps its own chains'.
    """

    positions: ArrayTree


class SampleResult(NamedTuple):
    """What :func:`sample` returns (host NumPy arrays, chain axis first).

    Attributes:
        samples: the kept positions, leaves of shape ``(chain, draw, ...)``; None when
            ``keep_samples`` is off.
        weights: ``(chain, draw)``, the weight of each draw in expectations.
        info: per-draw scalar diagnostics from the step that produced each draw, a dict
            of ``(chain, draw)`` arrays (e.g. ``logdensity``, ``grad_norm``,
            ``step_size``; ``acceptance_rate`` for Metropolis kernels).
        online: per chain, the state ``on_sample`` folded over the kept draws (a
            :class:`~samplers.base.Fold`'s, or for a function ``on_sample(position,
            weight)`` the sum of its values); None without ``on_sample``; leaves of shape
            ``(chain, ...)``.
        state: the sampler states after the last step, leading axis ``chain``, on device.
        timings: ``compile_seconds`` (what this call spent tracing and compiling its
            programs), ``sampling_seconds`` (the rest of the call) and ``compilations``
            (how many programs it compiled: 0 when an earlier call's programs fit).
        diverged_at: ``(chain,)`` int, the first step ``t`` (1 .. ``num_steps``) after
            which the chain's position, or the ``info.logdensity`` its step reported, was
            not finite; 0 when the starting position was not; -1 for a chain that stayed
            finite throughout.
        num_steps_taken: the steps every chain took: ``num_steps``, or fewer when
            ``stop_on_divergence`` ended the run early.
    """

    samples: ArrayTree | None
    weights: np.ndarray
    info: dict[str, np.ndarray]
    online: ArrayTree | None
    state: Any
    timings: dict[str, float]
    diverged_at: np.ndarray
    num_steps_taken: int


class _Carry(NamedTuple):
    """Everything a chunk advances. Leading axis ``chain`` except ``step``."""

    states: Any
    step_keys: jax.Array
    batch_keys: jax.Array
    permutations: jax.Array | None
    step: jax.Array
    diverged_at: jax.Array  # per chain: see SampleResult.diverged_at


def _data_size(data: ArrayTree) -> int:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("data must hold at least one array (or be None)")
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else -1 for leaf in leaves}
    if len(sizes) != 1 or -1 in sizes:
        raise ValueError(f"data arrays must share a leading axis, got leading sizes {sorted(sizes)}")
    size = sizes.pop()
    if size == 0:
        raise ValueError("data has no rows")
    return size


def _validate(num_chains, num_steps, burn_in, thin, batch_size, data, chunk_size) -> int | None:
    check_integer("num_chains", num_chains, 1)
    check_integer("num_steps", num_steps, 1)
    check_integer("burn_in", burn_in, 0)
    check_integer("thin", thin, 1)
    check_integer("chunk_size", chunk_size, 1)
    if burn_in >= num_steps:
        raise ValueError(f"burn_in={burn_in} must be smaller than num_steps={num_steps}")
    if thin > num_steps - burn_in:
        raise ValueError(f"thin={thin} is larger than the {num_steps - burn_in} steps after burn-in: no draw would be kept")
    data_size = None if data is None else _data_size(data)
    if batch_size is not None:
        check_integer("batch_size", batch_size, 1)
        if data is None:
            raise ValueError("batch_size was given but data is None")
        if batch_size > data_size:
            raise ValueError(f"batch_size={batch_size} is larger than the data ({data_size} rows)")
    return data_size


def _check_starts(alg: SamplingAlgorithm, init_params: Any, batch_size: int | None, num_chains: int) -> None:
    """Refuse minibatches for a full-batch kernel and :class:`Starts` without a row per
    chain; warn when every chain starts at one point."""
    # A blackjax MCMC kernel steps as step(key, state): it has nowhere to take a batch.
    try:
        parameters = inspect.signature(alg.step).parameters.values()
        takes_no_batch = len(parameters) == 2 and all(
            parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD) for parameter in parameters)
    except (TypeError, ValueError):  # Python cannot tell (a builtin): assume it can
        takes_no_batch = False
    if batch_size is not None and (getattr(alg, "full_batch", False) or takes_no_batch):
        raise ValueError(f"batch_size={batch_size}: this sampler steps on the whole data set (a Metropolis test on "
                         f"minibatches compares different targets); leave batch_size None")
    if isinstance(init_params, Starts):
        sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) else None for leaf in jax.tree.leaves(init_params.positions)}
        if sizes != {num_chains}:
            raise ValueError(f"init_params=Starts(...) needs one row per chain: leading sizes {sorted(sizes, key=str)}, "
                             f"num_chains={num_chains}")
    elif num_chains > 1 and not callable(init_params):
        warnings.warn(f"all {num_chains} chains start from the one init_params position, so R-hat cannot see "
                      f"whether they reach the same distribution; pass a function key -> params to start them "
                      f"apart", stacklevel=3)


def _parameters(function: Callable) -> tuple[str, ...]:
    """The parameter names of ``function`` (none when Python cannot tell, e.g. a builtin)."""
    try:
        return tuple(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return ()


def _summed(function: Callable[[ArrayTree, jax.Array], ArrayTree]) -> Fold:
    """A function ``on_sample(position, weight)`` as a :class:`Fold`: the sum of its
    values over the kept draws, starting from zeros."""
    def init(position):
        values = jax.eval_shape(function, position, jax.ShapeDtypeStruct((), jnp.float32))
        return jax.tree.map(lambda value: jnp.zeros(value.shape, value.dtype), values)

    def update(total, position, weight, draw):
        del draw  # a sum does not depend on the order
        return jax.tree.map(jnp.add, total, function(position, weight))

    return Fold(init, update)


def _finite(position: ArrayTree, info: Any = None) -> jax.Array:
    """Per chain, whether every entry of its position and its ``info.logdensity`` (when
    the info has one) is finite: ``(chains,)`` booleans."""
    logdensity = getattr(info, "logdensity", None)
    leaves = jax.tree.leaves(position) + ([] if logdensity is None else [logdensity])
    per_leaf = [jnp.isfinite(leaf).all(axis=tuple(range(1, jnp.ndim(leaf)))) for leaf in leaves]
    return functools.reduce(jnp.logical_and, per_leaf)


def _scalar_info(info: Any) -> dict[str, jax.Array]:
    """The per-chain scalar fields of a (vmapped) info NamedTuple."""
    fields = info._asdict() if hasattr(info, "_asdict") else {}
    return {name: value for name, value in fields.items() if getattr(value, "ndim", None) == 1}


# Steps per static-length loop when every step sees the whole data (there is no epoch).
_FULL_BATCH_BLOCK = 64


def _static_blocks(mesh: Mesh) -> bool:
    """Whether whole blocks of steps run as loops of static length: off CPUs only, where a
    loop of run-time length reads its condition back to the host every iteration."""
    return not on_cpus(mesh)


class _Stepper(NamedTuple):
    """How every chain on a device takes one step: keys, minibatches and the kernel, vmapped.

    Runs inside ``shard_map``: the arrays it sees hold the device's own chains.
    """

    alg: SamplingAlgorithm
    data_size: int | None
    batch_size: int | None
    data_shards: int = 1  # devices on the mesh's 'data' axis, each taking a slice of every minibatch
    static_blocks: bool = True  # whole blocks as static-length loops (accelerators; see run_chunk)

    @property
    def steps_per_epoch(self) -> int:
        return self.data_size // self.batch_size

    def permutations(self, batch_keys: jax.Array, epoch: jax.Array) -> jax.Array:
        """Each chain's order of the rows for ``epoch``: ``(chains, data_size)``."""
        return jax.vmap(lambda k: minibatch.permutation(jax.random.fold_in(k, epoch), self.data_size))(batch_keys)

    def initial_carry(self, chain_keys: jax.Array, data, *, init_params) -> _Carry:
        """Keys, starting states and first permutations of the device's chains."""
        init_keys, step_keys, batch_keys = jax.vmap(lambda k: jax.random.split(k, 3))(chain_keys).swapaxes(0, 1)
        if isinstance(init_params, Starts):
            positions, here = init_params.positions, len(chain_keys)
            if any(jnp.shape(leaf)[0] != here for leaf in jax.tree.leaves(positions)):  # inside the mesh
                first = jax.lax.axis_index(CHAIN_AXIS) * here
                positions = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, first, here), positions)
        elif callable(init_params):
            positions = jax.vmap(init_params)(init_keys)
        else:
            positions = jax.tree.map(lambda x: jnp.broadcast_to(x, (len(chain_keys),) + jnp.shape(x)), init_params)
        permutations = None if self.batch_size is None else self.permutations(batch_keys, 0)
        tuning_keys = jax.vmap(jax.random.fold_in, (0, None))(init_keys, 1)
        states = self.initial_states(positions, permutations, data, tuning_keys)
        diverged_at = jnp.where(_finite(positions) & _finite(states.position), -1, 0).astype(jnp.int32)
        return _Carry(states, step_keys, batch_keys, permutations, jnp.zeros((), jnp.int32), diverged_at)

    def initial_states(self, positions, permutations, data, keys):
        """``alg.init`` of every chain; an ``init`` with a ``batch`` parameter (a state that
        holds a gradient) gets the chain's first minibatch, the one its first step uses,
        and one with a ``key`` parameter (a kernel tuned per chain) the chain's own key."""
        parameters = _parameters(self.alg.init)

        def init(position, key, *batch):
            return self.alg.init(position, *batch, **({"key": key} if "key" in parameters else {}))

        if data is None or "batch" not in parameters:
            return jax.vmap(init)(positions, keys)
        if self.batch_size is None:
            return jax.vmap(init, (0, 0, None))(positions, keys, data)
        return jax.vmap(init)(positions, keys, self.batch(permutations, 0, data))

    def batch(self, permutations: jax.Array, offset: jax.Array, data):
        """Every chain's ``offset``-th minibatch of the epoch: rows ``offset * batch_size``
        onwards of its permutation; on a 'data' axis, this device's slice of those rows."""
        start, rows_here = offset * self.batch_size, self.batch_size // self.data_shards
        if self.data_shards > 1:
            start = start + jax.lax.axis_index(DATA_AXIS) * rows_here
        rows = jax.lax.dynamic_slice_in_dim(permutations, start, rows_here, axis=1)
        return jax.tree.map(lambda x: x[rows], data)

    def refresh_permutations(self, carry: _Carry) -> _Carry:
        """At the first step of an epoch (after the first), draw every chain's next permutation."""
        epoch, offset = jnp.divmod(carry.step, self.steps_per_epoch)
        permutations = jax.lax.cond((offset == 0) & (carry.step > 0),
                                    lambda: self.permutations(carry.batch_keys, epoch),
                                    lambda: carry.permutations)
        return carry._replace(permutations=permutations)

    def step_within_epoch(self, carry: _Carry, data) -> tuple[_Carry, Any]:
        """One step of every chain, its batch taken from the current permutations."""
        keys = jax.vmap(jax.random.fold_in, (0, None))(carry.step_keys, carry.step)
        if data is None:
            # Called without a batch argument, which is how blackjax MCMC kernels step.
            states, info = jax.vmap(lambda k, s: self.alg.step(k, s))(keys, carry.states)
        elif self.batch_size is None:
            states, info = jax.vmap(self.alg.step, (0, 0, None))(keys, carry.states, data)
        else:
            batch = self.batch(carry.permutations, carry.step % self.steps_per_epoch, data)
            states, info = jax.vmap(self.alg.step)(keys, carry.states, batch)
        step = carry.step + 1
        diverged_at = jnp.where((carry.diverged_at < 0) & ~_finite(states.position, info), step, carry.diverged_at)
        return carry._replace(states=states, step=step, diverged_at=diverged_at), info

    def step(self, carry: _Carry, data) -> tuple[_Carry, Any]:
        """One step of every chain; returns the new carry and the vmapped info."""
        if self.batch_size is not None:
            carry = self.refresh_permutations(carry)
        return self.step_within_epoch(carry, data)

    @staticmethod
    def draw(carry: _Carry, info: Any, *, keep_samples: bool) -> tuple[Any, jax.Array, dict[str, jax.Array]]:
        """What is kept of every chain after a step: ``(position or None, weight, scalar info)``."""
        weight = getattr(info, "weight", None)
        weight = jnp.ones(carry.step_keys.shape[:1], jnp.float32) if weight is None else weight
        return carry.states.position if keep_samples else None, jnp.asarray(weight, jnp.float32), _scalar_info(info)

    def draw_shapes(self, carry: _Carry, data, *, keep_samples: bool) -> Any:
        """The shapes of :meth:`draw` for the chains of ``carry`` (leading axis ``chain``)."""
        return jax.eval_shape(lambda c: self.draw(*self.step(c, data), keep_samples=keep_samples), carry)

    def run_chunk(self, carry: _Carry, online, data, end: jax.Array, burn_in: jax.Array, thin: jax.Array,
                  kept_before: jax.Array, *, buffer_size: int, keep_samples: bool,
                  fold: Fold | None) -> tuple[_Carry, Any, Any]:
        """Steps until ``carry.step == end``, keeping the draws after steps ``burn_in + k thin``.

        Draw ``k`` goes to row ``k - 1 - kept_before`` of buffers of ``buffer_size`` rows
        (the caller ends the chunk before they overflow), and is folded into ``online``
        by ``fold`` as draw ``k - 1``. Returns the carry, the folded states and
        ``(positions or None, weights, scalar info)`` buffers with a leading draw axis.

        The steps run in pieces that end at block boundaries (epochs, with minibatches) and
        at draws. A whole block runs as a loop of static length: on GPUs a loop whose trip
        count is only known at run time reads its condition back to the host every
        iteration, which costs more than a small model's step. Only pieces cut short by a
        draw or the chunk's end have run-time lengths. The step is written into the
        program twice there (once per kind of loop); on CPUs, where a loop's condition costs
        nothing, once (``static_blocks`` off), which halves the time the chunk takes to
        compile. Nothing else repeats it: a draw reads the state and the info the last
        step left in the loop's carry.
        """
        block = _FULL_BATCH_BLOCK if self.batch_size is None else self.steps_per_epoch
        weight_and_info = functools.partial(self.draw, keep_samples=False)
        template = self.draw_shapes(carry, data, keep_samples=keep_samples)
        buffers = jax.tree.map(lambda x: jnp.zeros((buffer_size,) + x.shape, x.dtype), template)

        def stepped(_, loop):
            carry, info = self.step_within_epoch(loop[0], data)
            return carry, weight_and_info(carry, info)[1:]

        def record(carry, last, online, buffers):
            row = (carry.step - burn_in) // thin - 1 - kept_before
            draw = (carry.states.position if keep_samples else None, *last)
            buffers = jax.tree.map(lambda b, x: jax.lax.dynamic_update_index_in_dim(b, x, row, 0), buffers, draw)
            if fold is not None:  # every chain's draw has the one index: shared, not mapped
                online = jax.vmap(fold.update, (0, 0, 0, None))(online, carry.states.position, last[0],
                                                                 row + kept_before)
            return online, buffers

        def piece(loop):
            carry, last, online, buffers = loop
            if self.batch_size is not None:
                carry = self.refresh_permutations(carry)
            past_burn_in = jnp.maximum(carry.step - burn_in, 0)
            next_draw = burn_in + (past_burn_in // thin + 1) * thin
            length = jnp.minimum(jnp.minimum(end, next_draw) - carry.step, block - carry.step % block)
            if self.static_blocks:
                carry, last = jax.lax.cond(length == block,
                                           lambda loop: jax.lax.fori_loop(0, block, stepped, loop),
                                           lambda loop: jax.lax.fori_loop(0, length, stepped, loop), (carry, last))
            else:
                carry, last = jax.lax.fori_loop(0, length, stepped, (carry, last))
            online, buffers = jax.lax.cond(carry.step == next_draw, record, lambda c, l, o, b: (o, b),
                                           carry, last, online, buffers)
            return carry, last, online, buffers

        last = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), tuple(template[1:]))  # weight, scalar info
        carry, _, online, buffers = jax.lax.while_loop(lambda loop: loop[0].step < end, piece,
                                                       (carry, last, online, buffers))
        return carry, online, buffers


_CHAINS = PartitionSpec(CHAIN_AXIS)
_WHOLE = PartitionSpec()
_CARRY_SPECS = _Carry(_CHAINS, _CHAINS, _CHAINS, _CHAINS, _WHOLE, _CHAINS)


def _identity(key: PRNGKey, data: ArrayTree, given: dict[str, Any] | None, **sizes) -> dict:
    """What a run resuming from a checkpoint must share with the run that wrote it: the
    sizes, the key, a hash of the data, and the entries of ``given``."""
    key_data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    identity = {**sizes, "key": np.asarray(key_data).tolist(),
                "data": None if data is None else checkpoint.data_fingerprint(data)}
    clashes = sorted(identity.keys() & (given or {}).keys())
    if clashes:
        raise ValueError(f"checkpoint_identity may not name {', '.join(clashes)}: the driver records those itself")
    # As it reads back from the file: lists, not tuples.
    return json.loads(json.dumps({**identity, **(given or {})}))


def sample(
    alg: SamplingAlgorithm,
    key: PRNGKey,
    init_params: ArrayTree | Callable[[PRNGKey], ArrayTree],
    data: ArrayTree = None,
    *,
    num_chains: int = 1,
    num_steps: int,
    burn_in: int = 0,
    thin: int = 1,
    batch_size: int | None = None,
    mesh: Mesh | None = None,
    on_sample: Fold | Callable[[ArrayTree, jax.Array], ArrayTree] | None = None,
    keep_samples: bool | None = None,
    chunk_size: int = 1000,
    progress: bool | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    checkpoint_identity: dict[str, Any] | None = None,
    stop_on_divergence: bool = False,
) -> SampleResult:
    """Run ``num_chains`` chains of ``alg`` and keep thinned draws.

    Step ``t = 1 .. num_steps`` of every chain is taken in lockstep. The draws kept are
    the states after steps ``burn_in + k * thin`` for ``k = 1 .. (num_steps - burn_in) //
    thin``; the remaining steps still run, so ``result.state`` is after ``num_steps``.
    A chain that becomes non-finite runs on to the end too (unless
    ``stop_on_divergence``); ``result.diverged_at`` says which did and at which step, so
    that the caller decides whether to drop such chains or discard the run.

    With ``checkpoint_dir``, the driver saves its whole state (every chain's sampler state
    and keys, the step reached, the ``on_sample`` states, the draws kept so far) there
    between chunks, at least ``checkpoint_every`` steps apart and after the last step
    (:mod:`samplers.checkpoint`). A later call with the same arguments resumes from it
    and returns bit-for-bit what one uninterrupted call would have, on any mesh. The
    checkpoint records the sizes, the key, a hash of the data and ``checkpoint_identity``,
    and a call that differs in those is refused. The driver cannot see the sampler's
    hyperparameters: pass them in ``checkpoint_identity`` (``posterior run`` passes its
    whole config) so that a call with another ``alg`` cannot resume the wrong run.

    Compilation: a call runs two programs, one that starts the chains and one that takes
    a chunk of steps, and keeps them for the rest of the process
    (:mod:`samplers.programs`). A later call compiles again only when something the
    programs are built from differs: the sampler's kind and its functions (the same
    ``logdensity_fn`` object, not an equal one), its static settings (HMC's
    ``num_integration_steps``, whether a gradient is clipped or a scale adapted), a
    callable ``init_params`` or ``on_sample`` (again the same object; for a
    :class:`~samplers.base.Fold`, the same ``init`` and ``update``), the shapes and
    dtypes of the start and the data, ``num_chains``, ``batch_size``, ``keep_samples``,
    the draws per chunk (``min(num_draws, chunk_size // thin)``) and the mesh. Numbers
    (step sizes, friction, temperature, the constants of :mod:`samplers.schedules`,
    SA-SGLD's clock, Entropy-MCMC's ``eta``, an array ``init_params``) are run-time
    arguments, as are ``num_steps``, ``burn_in`` and ``thin``: a sweep over them compiles
    once. ``result.timings["compilations"]`` counts what this call compiled. The two
    compile side by side (the start in a thread while the chunk is traced and compiled),
    and ``result.timings["compile_seconds"]`` is the time the call waited for them.

    Args:
        alg: the sampler; ``alg.step(key, state, batch)`` (or ``alg.step(key, state)``
            when ``data`` is None, which is how blackjax MCMC kernels are called).
            ``alg.init(position)``, or ``alg.init(position, batch)`` with the chain's
            first batch when ``init`` has a parameter named ``batch``.
        key: the one key everything random derives from.
        init_params: a parameter pytree every chain starts from (a warning says so
            when there are several chains), a function ``key -> params`` called with
            a distinct key for each chain, or :class:`Starts`, one position per chain.
        data: a pytree of arrays sharing a leading axis (e.g. ``(X, y)``), or None for
            targets without data (their steps get no batch).
        num_chains: how many independent chains.
        num_steps: steps per chain, burn-in included.
        burn_in: steps run before any draw is kept.
        thin: keep one draw every ``thin`` steps after burn-in.
        batch_size: rows per minibatch, drawn on device without replacement within each
            epoch: each chain draws a fresh permutation of the rows every epoch and takes
            ``len(data) // batch_size`` batches from it in order; the rows left over are
            skipped that epoch (each row equally likely). None: every step gets the whole
            ``data``.
        mesh: a ``('chain', 'data')`` mesh from :func:`samplers.make_mesh`; default:
            devices on the chain axis (see :func:`samplers.mesh.default_mesh`).
        on_sample: a :class:`~samplers.base.Fold`, whose state every chain carries on
            device through its kept draws (``init`` at the start, ``update`` at every
            draw) into ``result.online``; or a function ``on_sample(position, weight) ->
            pytree`` evaluated for every kept draw and summed per chain. Either way
            memory stays constant however many draws are taken.
        keep_samples: return the draws themselves (default: only when ``on_sample`` is
            None).
        chunk_size: steps per compiled call; the Python loop (progress, checkpoints)
            only runs between chunks.
        progress: report progress on stderr (:class:`samplers.progress.Progress`): a bar
            on a terminal, elsewhere a line every tenth of the steps, with steps per second
            and the time left, compilation left out. None (the default) and True report;
            False is silent.
        checkpoint_dir: where to save checkpoints and resume from (None: no checkpoints).
        checkpoint_every: steps between checkpoints (None: after every chunk); chunks
            are shortened to fit.
        checkpoint_identity: JSON data (a mapping) that a call resuming from the
            checkpoint must give too, e.g. the sampler's hyperparameters.
        stop_on_divergence: end the run at the first chunk boundary after any chain
            became non-finite, keeping the draws up to there; no checkpoint is written
            after that, so the last one holds finite chains only.

    Returns:
        A :class:`SampleResult`.

    Raises:
        ValueError: naming the argument, for bad sizes or counts, before compiling, and
            for a ``batch_size`` given to a full-batch kernel (``alg.full_batch``, as
            :func:`samplers.hmc` sets it, or a step without a batch argument, as
            blackjax's MCMC kernels have).
        samplers.checkpoint.CheckpointError: naming the file, for a checkpoint that is
            unreadable or was written by another run or for another model.
    """
    data_size = _validate(num_chains, num_steps, burn_in, thin, batch_size, data, chunk_size)
    _check_starts(alg, init_params, batch_size, num_chains)
    if checkpoint_every is not None:
        check_integer("checkpoint_every", checkpoint_every, 1)
        chunk_size = min(chunk_size, checkpoint_every)
    mesh = default_mesh(num_chains) if mesh is None else mesh
    check_mesh(mesh, num_chains)
    data_shards = mesh.shape[DATA_AXIS]
    # The whole data set is split over the 'data' devices; minibatches are drawn from all
    # of it (every device holds it) and split instead.
    split_data = data_shards > 1 and batch_size is None
    if data_shards > 1:
        if data is None:
            raise ValueError(f"the mesh's 'data' axis ({data_shards} devices) needs data to split")
        rows, what = (data_size, "the data's rows") if split_data else (batch_size, "batch_size")
        if rows % data_shards:
            raise ValueError(f"{what} ({rows}) must be a multiple of the mesh's 'data' axis ({data_shards} devices)")
    data_spec = PartitionSpec(DATA_AXIS) if split_data else _WHOLE
    if keep_samples is None:
        keep_samples = on_sample is None
    fold = on_sample if on_sample is None or isinstance(on_sample, Fold) else _summed(on_sample)
    num_draws = (num_steps - burn_in) // thin
    draws_per_chunk = max(1, min(num_draws, chunk_size // thin))
    start = time.perf_counter()
    stepper = _Stepper(alg, data_size, batch_size, data_shards, static_blocks=_static_blocks(mesh))
    # The sampler's and the start's numbers are arguments of the programs, not constants in them.
    algorithm, start_from = programs.split((alg.init, alg.step)), programs.split(init_params)
    program_key = None if algorithm.key is None or start_from.key is None else (
        algorithm.key, start_from.key, on_sample, data_size, batch_size, data_shards, stepper.static_blocks,
        keep_samples, draws_per_chunk)
    try:
        hash(program_key)
    except TypeError:  # an on_sample that cannot be hashed
        program_key = None
    compiled = programs.Programs(mesh, program_key)
    if checkpoint_dir is not None:  # hashed on the host, before the data goes to the devices
        identity = _identity(key, data, checkpoint_identity, num_chains=num_chains, num_steps=num_steps,
                             burn_in=burn_in, thin=thin, batch_size=batch_size, keep_samples=keep_samples)

    chain_keys = put(jax.random.split(key, num_chains), chain_sharding(mesh))
    data = None if data is None else put(data, NamedSharding(mesh, data_spec))
    algorithm_numbers = put(algorithm.numbers, replicated(mesh))
    start_numbers = put(start_from.numbers, replicated(mesh))

    def with_numbers(numbers) -> _Stepper:
        init, step = algorithm.rebuild(numbers)
        return stepper._replace(alg=alg._replace(init=init, step=step))

    def shapes(chain_keys, data):
        """The shapes of the carry, the ``on_sample`` states and the draws. They are
        taken outside the mesh, where there is no 'data' axis to slice batches by
        (slicing changes no shape a chain carries or keeps)."""
        outside_mesh = stepper._replace(data_shards=1)
        carry = jax.eval_shape(functools.partial(outside_mesh.initial_carry, init_params=init_params),
                               chain_keys, data)
        online = None if fold is None else jax.eval_shape(jax.vmap(fold.init), carry.states.position)
        return carry, online, outside_mesh.draw_shapes(carry, data, keep_samples=keep_samples)

    carry_shapes, online_shapes, draw_shapes = compiled.shapes("shapes", shapes, (chain_keys, data))

    def initialise(numbers, start_numbers, chain_keys, data):
        carry = with_numbers(numbers).initial_carry(chain_keys, data, init_params=start_from.rebuild(start_numbers))
        return carry, None if fold is None else jax.vmap(fold.init)(carry.states.position)

    def run_chunk(carry, online, numbers, data, end, burn_in, thin, kept_before):
        return with_numbers(numbers).run_chunk(carry, online, data, end, burn_in, thin, kept_before,
                                               buffer_size=draws_per_chunk, keep_samples=keep_samples, fold=fold)

    saved = None
    if checkpoint_dir is not None:
        checkpoint_dir = pathlib.Path(checkpoint_dir)
        saved = checkpoint.load(checkpoint_dir, identity=identity, draw_template=draw_shapes,
                                state_template={"carry": carry_shapes, "online": online_shapes})
    scalars = [jnp.int32(value) for value in (burn_in, thin)]

    def chunk_program(carry, online, end: int, kept: int) -> tuple:
        """``Programs.run``'s name, function, arguments and specs for the chunk from ``carry``."""
        return ("chunk", run_chunk, (carry, online, algorithm_numbers, data, jnp.int32(end), *scalars, jnp.int32(kept)),
                (_CARRY_SPECS, _CHAINS, _WHOLE, data_spec, _WHOLE, _WHOLE, _WHOLE, _WHOLE),
                (_CARRY_SPECS, _CHAINS, PartitionSpec(None, CHAIN_AXIS)))

    if saved is None:
        start_program = ("initialise", initialise, (algorithm_numbers, start_numbers, chain_keys, data),
                         (_WHOLE, _WHOLE, _CHAINS, data_spec), (_CARRY_SPECS, _CHAINS))
        once = dict(donate_first=False, run_once="key" not in _parameters(alg.init))  # a tuning init runs long
        started = compiled.prepare(*start_program, **once)
        compiled.prepare(*chunk_program(*started, 0, 0))  # traced while the start compiles
        carry, online = compiled.run(*start_program, **once)
        step, kept, kept_before, earlier_seconds, draw_files = 0, 0, 0, 0.0, []
        chunks = []
    else:
        carry = put(saved.state["carry"], _Carry(*[chain_sharding(mesh)] * 4, replicated(mesh), chain_sharding(mesh)))
        online = put(saved.state["online"], chain_sharding(mesh))
        step, kept, kept_before, earlier_seconds = saved.step, saved.num_kept, saved.num_kept, saved.sampling_seconds
        draw_files = list(saved.draw_files)
        chunks = [saved.draws]

    def draws_by(step: int) -> int:
        """How many draws are kept once ``step`` steps are taken."""
        return min(max(step - burn_in, 0) // thin, num_draws)

    def chunk_end(step: int) -> int:
        """Where the chunk from ``step`` ends: ``chunk_size`` steps into the burn-in (at most
        to its end), then after ``draws_per_chunk`` draws, then ``chunk_size`` steps on."""
        if step < burn_in:
            return min(step + chunk_size, burn_in)
        if draws_by(step) < num_draws:
            return burn_in + min(draws_by(step) + draws_per_chunk, num_draws) * thin
        return min(step + chunk_size, num_steps)

    def save_checkpoint():
        """The draws kept since the last checkpoint, then the state that lists them."""
        nonlocal kept_before, saved_chunks, last_checkpoint
        if kept > kept_before:
            new_draws = jax.tree.map(lambda *parts: np.concatenate(parts), *chunks[saved_chunks:])
            name = checkpoint.draws_name(kept_before, kept)
            if jax.process_index() == 0:
                checkpoint.save_draws(checkpoint_dir, new_draws, first=kept_before, identity=identity)
            draw_files.append(name)
        seconds = earlier_seconds + time.perf_counter() - start - compiled.compile_seconds
        state = fetch({"carry": carry, "online": online})  # every process takes part in gathering
        if jax.process_index() == 0:  # one writer, on a file system every process reads
            checkpoint.save(checkpoint_dir, state, identity=identity, step=step, draw_files=draw_files,
                            num_kept=kept, sampling_seconds=seconds)
        kept_before, saved_chunks, last_checkpoint = kept, len(chunks), step

    bar = Progress(num_steps, initial=step, show=progress)
    compiled_before_bar = compiled.compile_seconds  # the bar's clock starts after those
    last_checkpoint, saved_chunks = step, len(chunks)
    try:
        while step < num_steps:
            end = chunk_end(step)
            carry, online, buffers = compiled.run(*chunk_program(carry, online, end, kept))
            draws = draws_by(end) - kept
            if draws:
                chunks.append(jax.tree.map(lambda b, n=draws: b[:n], fetch(buffers)))
                kept += draws
            step = end
            # Reading the flags back also waits for the chunk, so the bar keeps time.
            diverged = (fetch(carry.diverged_at) >= 0).any()
            bar.update(step, excluded_seconds=compiled.compile_seconds - compiled_before_bar)
            if stop_on_divergence and diverged:
                break
            if checkpoint_dir is not None and (step == num_steps or checkpoint_every is None
                                               or step - last_checkpoint >= checkpoint_every):
                save_checkpoint()
        jax.block_until_ready(carry)
    finally:
        bar.close()

    if chunks:
        samples, weights, info = jax.tree.map(lambda *parts: np.swapaxes(np.concatenate(parts), 0, 1), *chunks)
    else:
        samples, weights, info = jax.tree.map(lambda s: np.zeros((s.shape[0], 0) + s.shape[1:], s.dtype), draw_shapes)
    sampling_seconds = earlier_seconds + time.perf_counter() - start - compiled.compile_seconds
    return SampleResult(
        samples=samples,
        weights=weights,
        info=info,
        online=None if online is None else fetch(online),
        state=carry.states,
        timings={"compile_seconds": compiled.compile_seconds, "sampling_seconds": sampling_seconds,
                 "compilations": compiled.compilations},
        diverged_at=fetch(carry.diverged_at),
        num_steps_taken=step,
    )
