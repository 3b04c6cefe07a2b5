"""Random permutations of data rows, for minibatches without replacement within an epoch.

Small data sets are shuffled by sorting: each round sorts one ``uint32`` array whose high
bits are random and whose low bits are the row's position, and reads the positions back
from the low bits (XLA's CPU sort of one integer array is several times faster than the
key-value sort behind ``jax.random.permutation``). Equal random bits keep their rows in
order, so rounds are composed until ``2 log2(n)`` random bits leave fewer than half a pair
of rows per permutation in a non-random order.

From ``2^12`` rows on, a sort per chain and epoch costs a sizeable share of a small
network's step (18% of a 16-chain SGHMC step on a 2x50 MLP with 10,000 rows), so rows are
instead mapped through a keyed four-round Feistel network on the smallest even number of
bits that covers them, with cycle walking (an output at or beyond ``n`` is fed through the
network again until it lands inside) so that the result is a bijection of ``[0, n)``. It
needs no sort and costs a quarter as much. Four rounds with pseudo-random round functions
make a pseudo-random permutation (Luby and Rackoff): every row lands at a uniformly
distributed position and pairs of rows in a random relative order, which is all that
unbiased minibatches need. It does not reach every one of the ``n!`` orders (Feistel
networks give even permutations only), and on a few bits its round functions are too few
to be random, which is why small data sets keep the sort.

References:
    Luby & Rackoff, How to construct pseudorandom permutations from pseudorandom
    functions, SIAM J. Computing 17(2), 1988.
    Black & Rogaway, Ciphers with arbitrary finite domains, CT-RSA 2002 (cycle walking).
"""

import math

import jax
import jax.numpy as jnp

__all__ = ["permutation"]

_FEISTEL_MIN_ROWS = 1 << 12
_FEISTEL_ROUNDS = 4


def permutation(key: jax.Array, num_rows: int) -> jax.Array:
    """A random permutation of ``range(num_rows)`` as int32 (see the module docstring).

    Args:
        key: the key the permutation is a function of.
        num_rows: the length (a Python int).

    Returns:
        An int32 array holding every integer in ``[0, num_rows)`` once.
    """
    if num_rows < _FEISTEL_MIN_ROWS:
        return _sorted_permutation(key, num_rows)
    return _feistel_permutation(key, num_rows)


def _sorted_permutation(key: jax.Array, num_rows: int) -> jax.Array:
    index_bits = max(1, (num_rows - 1).bit_length())
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


def _mix32(x: jax.Array) -> jax.Array:
    """An avalanching 32-bit integer hash (Wellons' "lowbias32"), the Feistel round function."""
    x = (x ^ (x >> 16)) * jnp.uint32(0x7FEB352D)
    x = (x ^ (x >> 15)) * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _feistel_permutation(key: jax.Array, num_rows: int) -> jax.Array:
    if num_rows >= 1 << 31:
        raise ValueError(f"cannot shuffle {num_rows} rows: int32 row indices hold fewer than 2^31")
    half_bits = ((num_rows - 1).bit_length() + 1) // 2
    half_mask = jnp.uint32((1 << half_bits) - 1)
    round_keys = jax.random.bits(key, (_FEISTEL_ROUNDS,), jnp.uint32)

    def encrypt(index: jax.Array) -> jax.Array:
        left, right = index >> half_bits, index & half_mask
        for round_key in round_keys:
            left, right = right, left ^ (_mix32(right ^ round_key) & half_mask)
        return (left << half_bits) | right

    def walk_outside_rows(order: jax.Array) -> jax.Array:
        return jnp.where(order >= num_rows, encrypt(order), order)

    order = encrypt(jnp.arange(num_rows, dtype=jnp.uint32))
    order = jax.lax.while_loop(lambda order: jnp.any(order >= num_rows), walk_outside_rows, order)
    return order.astype(jnp.int32)
