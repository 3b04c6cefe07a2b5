"""Device meshes for sampling: chains along the 'chain' axis, data along 'data'.

The driver runs every chain-local computation under ``jax.shard_map`` over a mesh with
axes ``('chain', 'data')``: each device advances its own slice of the chains, so results
do not depend on how many devices there are, only on the keys. Along 'data', the devices
of a chain share its work: each sees a slice of the rows (of the whole data set, or of
every minibatch) and a log likelihood wrapped in :func:`sum_over_data` adds the slices'
sums and their gradients, so every device of the chain takes the same step.
"""

import functools
import math
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

CHAIN_AXIS = "chain"
DATA_AXIS = "data"


def make_mesh(chain: int | None = None, data: int = 1, *, devices=None) -> Mesh:
    """A ``('chain', 'data')`` mesh over ``devices`` (default: all devices).

    Args:
        chain: devices along the chain axis (default: all devices divided by ``data``).
        data: devices along the data axis.
        devices: the devices to use, in order (default: ``jax.devices()``).

    Returns:
        A :class:`jax.sharding.Mesh` of shape ``(chain, data)``.
    """
    devices = list(jax.devices() if devices is None else devices)
    if data < 1 or len(devices) % data:
        raise ValueError(f"mesh data axis must divide the {len(devices)} devices, got data={data}")
    chain = len(devices) // data if chain is None else chain
    if chain < 1 or chain * data > len(devices):
        raise ValueError(f"mesh chain={chain} x data={data} needs more than the {len(devices)} devices available")
    grid = np.array(devices[: chain * data], dtype=object).reshape(chain, data)
    return Mesh(grid, (CHAIN_AXIS, DATA_AXIS))


def default_mesh(num_chains: int) -> Mesh:
    """The mesh the driver uses when given none: chains spread over the devices.

    Every device is used when the number of chains allows it; otherwise the largest
    number of devices that divides ``num_chains`` (one chain runs on one device). With
    several processes (``jax.distributed``) the mesh spans all of them, the same number
    of devices from each, so that every process samples its share of one run.

    Raises:
        ValueError: with several processes, when ``num_chains`` cannot be shared
            equally among them.
    """
    processes = jax.process_count()
    chain = math.gcd(num_chains, jax.device_count())
    if chain % processes:
        raise ValueError(f"num_chains={num_chains} cannot be shared by the {processes} processes' "
                         f"{jax.device_count()} devices; use a multiple of {processes} chains or give a mesh")
    per_process = chain // processes
    devices = [device for index in range(processes)
               for device in [d for d in jax.devices() if d.process_index == index][:per_process]]
    return make_mesh(chain, 1, devices=devices)


def on_cpus(mesh: Mesh) -> bool:
    """Whether every device of ``mesh`` is a CPU."""
    return all(device.platform == "cpu" for device in mesh.devices.flat)


def check_mesh(mesh: Mesh, num_chains: int) -> None:
    """Raise ``ValueError`` unless ``mesh`` can carry ``num_chains`` chains."""
    if tuple(mesh.axis_names) != (CHAIN_AXIS, DATA_AXIS):
        raise ValueError(f"mesh must have axes ('chain', 'data'), got {tuple(mesh.axis_names)}; use samplers.make_mesh")
    if num_chains % mesh.shape[CHAIN_AXIS]:
        raise ValueError(f"num_chains={num_chains} is not a multiple of the mesh's chain axis ({mesh.shape[CHAIN_AXIS]} devices)")


def _zero_cotangent(leaf: Any) -> Any:
    """The cotangent of an input nothing is differentiated for (float0 for integers)."""
    leaf = jnp.asarray(leaf)
    if jnp.issubdtype(leaf.dtype, jnp.inexact):
        return jnp.zeros_like(leaf)
    return np.zeros(leaf.shape, jax.dtypes.float0)


def sum_over_data(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """``fn(params, rows)``, a sum over data rows, summed over the mesh's 'data' axis too.

    Under the driver, each device along 'data' holds a slice of the rows: the wrapped
    function returns the sum of every slice's ``fn`` (a pytree of floats, e.g. a
    log-likelihood sum and a row count), and its gradient with respect to ``params`` is
    the sum of every slice's gradient, so the devices of a chain all see the full-data
    value and gradient. The gradient's sum is explicit (a custom VJP) rather than left to
    JAX's transpose of ``psum``, which only sums the gradients of inputs that JAX knows
    to be the same on every device. Called where there is no 'data' axis (outside the
    driver, or in a notebook), it is ``fn``.

    Args:
        fn: ``fn(params, rows) -> pytree of float arrays``, a sum over ``rows``.

    Returns:
        The function summed over 'data', with the same signature.
    """

    def summed(params, rows):
        try:
            jax.lax.axis_size(DATA_AXIS)
        except NameError:  # not under a mesh: nothing to add up
            return fn(params, rows)
        return _summed_over_data(fn, params, rows)

    return summed


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _summed_over_data(fn, params, rows):
    return jax.tree.map(lambda value: jax.lax.psum(value, DATA_AXIS), fn(params, rows))


def _summed_over_data_forward(fn, params, rows):
    values, pullback = jax.vjp(lambda params: fn(params, rows), params)
    return jax.tree.map(lambda value: jax.lax.psum(value, DATA_AXIS), values), (pullback, rows)


def _summed_over_data_backward(fn, residuals, cotangents):
    pullback, rows = residuals
    (params_cotangent,) = pullback(cotangents)
    params_cotangent = jax.tree.map(lambda grad: jax.lax.psum(grad, DATA_AXIS), params_cotangent)
    return params_cotangent, jax.tree.map(_zero_cotangent, rows)


_summed_over_data.defvjp(_summed_over_data_forward, _summed_over_data_backward)


def _is_key(leaf: Any) -> bool:
    return jnp.issubdtype(getattr(leaf, "dtype", np.float32), jax.dtypes.prng_key)


def put(tree: Any, shardings: Any) -> Any:
    """``tree`` (the same host values in every process) as arrays laid out by
    ``shardings`` (one ``NamedSharding``, or a pytree of them that is a prefix of ``tree``).

    With one process this is ``jax.device_put``. With several (``jax.distributed``), a
    mesh spans devices that this process cannot address, so each process builds only its
    own shards, from its copy of the values; PRNG keys travel as their key data.
    """
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)

    def one(leaf, sharding):
        if _is_key(leaf):
            impl = str(jax.random.key_impl(leaf))
            data = one(np.asarray(jax.random.key_data(leaf)), sharding)
            return jax.jit(functools.partial(jax.random.wrap_key_data, impl=impl))(data)
        host = np.asarray(leaf)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    def subtree(sharding, values):
        return jax.tree.map(lambda leaf: one(leaf, sharding), values)

    return jax.tree.map(subtree, shardings, tree, is_leaf=lambda node: isinstance(node, NamedSharding))


def fetch(tree: Any) -> Any:
    """Every array of ``tree`` whole, on the host of every process (keys as host key arrays).

    With several processes the shards of other processes come over the collectives
    (``process_allgather``), so every process must call this at the same point.
    """
    if jax.process_count() == 1:
        return jax.tree.map(lambda leaf: leaf if _is_key(leaf) else np.asarray(leaf), jax.device_get(tree))
    from jax.experimental import multihost_utils

    def one(leaf):
        if _is_key(leaf):
            impl = str(jax.random.key_impl(leaf))
            return jax.random.wrap_key_data(one(jax.random.key_data(leaf)), impl=impl)
        return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))

    return jax.tree.map(one, tree)


def chain_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays with a leading chain axis, split over the mesh's 'chain' devices."""
    return NamedSharding(mesh, PartitionSpec(CHAIN_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Arrays every device holds whole."""
    return NamedSharding(mesh, PartitionSpec())


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Join this process to a multi-process run (JAX's own multi-controller runtime).

    Every process runs the same program; ``jax.devices()`` then lists the devices of all
    of them, so :func:`make_mesh` spans them and the driver's chains (and data) are spread
    over every process. On TPU pods and Slurm the arguments are found by JAX; elsewhere
    give all three. CPU devices talk over gloo. Call before JAX's first computation.

    Args:
        coordinator: ``host:port`` of process 0's coordination service.
        num_processes: how many processes take part.
        process_id: this process's index, ``0 .. num_processes - 1``.
    """
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes, process_id=process_id)


def use_cpu_cores(count: int | None = None) -> int:
    """Expose each CPU core as its own JAX device, so chains can be spread over cores.

    On CPU one XLA device runs the small operations of a sampler step on one core at a
    time; several chains split over one device per core run up to twice as fast on two
    cores (see ``posterior bench sgmcmc``). Call this before JAX creates its devices (the
    first computation); afterwards it raises ``RuntimeError``.

    Args:
        count: how many CPU devices (default: the cores this process may use).

    Returns:
        The number of CPU devices requested.
    """
    count = count or len(os.sched_getaffinity(0))
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError as error:
        raise RuntimeError(f"use_cpu_cores must run before JAX's first computation ({error})") from None
    return count
