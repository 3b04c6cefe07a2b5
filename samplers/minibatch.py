"""Random permutations of data rows, for minibatches without replacement within an epoch.

Each round sorts one ``uint32`` array whose high bits are random and whose low bits are
the row's position, then reads the positions back from the low bits. XLA's CPU sort of a
single integer array is several times faster than the key-value sort behind
``jax.random.permutation`` (4.8 ms against 48 ms for 16 x 10,000 rows on 2 cores), and
the sort dominates the cost of an epoch's shuffle. Equal random bits are ordered by
position, so a pair of rows keeps a non-random relative order only if it ties in every
round: with ``b`` random bits in all, that happens to ``n^2 2^-(b+1)`` of the ``n^2/2``
pairs on average. Rounds are composed until ``b >= 2 log2(n)``, so fewer than half a
pair per permutation is affected (``jax.random.permutation`` asks for ``3 log2(n)``
bits, which costs a third more sorting here for no visible gain).
"""

import math

import jax
import jax.numpy as jnp

__all__ = ["permutation"]

# Above this many index bits too few random bits remain per round; use JAX's own.
_MAX_INDEX_BITS = 22


def permutation(key: jax.Array, num_rows: int) -> jax.Array:
    """A uniformly random permutation of ``range(num_rows)`` as int32.

    Args:
        key: the key the permutation is a function of.
        num_rows: the length (a Python int).

    Returns:
        An int32 array holding every integer in ``[0, num_rows)`` once.
    """
    index_bits = max(1, (num_rows - 1).bit_length())
    if index_bits > _MAX_INDEX_BITS:
        return jax.random.permutation(key, num_rows).astype(jnp.int32)
    random_bits = 32 - index_bits
    rounds = max(1, math.ceil(2 * math.log2(max(num_rows, 2)) / random_bits))
    index_mask = jnp.uint32((1 << index_bits) - 1)
    positions = jnp.arange(num_rows, dtype=jnp.uint32)
    order = positions
    for round_key in jax.random.split(key, rounds):
        random = jax.random.bits(round_key, (num_rows,), jnp.uint32)
        packed = (random & ~index_mask) | positions
        order = order[jnp.sort(packed) & index_mask]
    return order.astype(jnp.int32)
