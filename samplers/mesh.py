"""Device meshes for sampling: chains along the 'chain' axis, data along 'data'.

The driver runs every chain-local computation under ``jax.shard_map`` over a mesh with
axes ``('chain', 'data')``: each device advances its own slice of the chains, so results
do not depend on how many devices there are, only on the keys. The 'data' axis (data
parallelism inside a chain) has size 1 until data-sharded likelihoods arrive.
"""

import math
import os

import jax
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
    """The mesh the driver uses when given none: chains spread over local devices.

    Every local device is used when the number of chains allows it; otherwise the
    largest number of local devices that divides ``num_chains`` (one chain runs on one
    device).
    """
    devices = jax.local_devices()
    return make_mesh(math.gcd(num_chains, len(devices)), 1, devices=devices)


def check_mesh(mesh: Mesh, num_chains: int) -> None:
    """Raise ``ValueError`` unless ``mesh`` can carry ``num_chains`` chains."""
    if tuple(mesh.axis_names) != (CHAIN_AXIS, DATA_AXIS):
        raise ValueError(f"mesh must have axes ('chain', 'data'), got {tuple(mesh.axis_names)}; use samplers.make_mesh")
    if num_chains % mesh.shape[CHAIN_AXIS]:
        raise ValueError(f"num_chains={num_chains} is not a multiple of the mesh's chain axis ({mesh.shape[CHAIN_AXIS]} devices)")
    if mesh.shape[DATA_AXIS] != 1:
        raise ValueError("mesh: a 'data' axis larger than 1 is not supported yet; use data=1")


def chain_sharding(mesh: Mesh) -> NamedSharding:
    """Arrays with a leading chain axis, split over the mesh's 'chain' devices."""
    return NamedSharding(mesh, PartitionSpec(CHAIN_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """Arrays every device holds whole."""
    return NamedSharding(mesh, PartitionSpec())


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
