"""Epoch permutations: every row once, and uniformly random (chi-square at fixed seeds)."""

import jax
import numpy as np
import pytest
from scipy import stats

from samplers import minibatch


@pytest.mark.parametrize("num_rows", [1, 2, 7, 500, 4095, 4096, 4097, 10_000, 16_384])
def test_every_row_appears_once(num_rows):
    order = np.asarray(minibatch.permutation(jax.random.key(num_rows), num_rows))
    np.testing.assert_array_equal(np.sort(order), np.arange(num_rows))


def test_all_permutations_of_four_rows_are_equally_likely():
    keys = jax.random.split(jax.random.key(0), 48_000)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: minibatch.permutation(k, 4)))(keys))
    _, counts = np.unique(orders @ np.array([64, 16, 4, 1]), return_counts=True)
    assert len(counts) == 24
    assert stats.chisquare(counts).pvalue > 1e-3


@pytest.mark.parametrize("num_rows", [3_000, 4_097, 10_000])
def test_large_permutations_are_unbiased(num_rows):
    """Rows land at uniform positions, pairs in random order and at uniform distances.

    3,000 rows take two sort rounds, where ties would favour keeping rows 0 and 1 in order;
    4,097 and 10,000 rows go through the Feistel network (4,097 walks most cycles: three
    quarters of its 2^14 domain lies outside the rows).
    """
    draws = 2_000
    keys = jax.random.split(jax.random.key(1), draws)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: minibatch.permutation(k, num_rows)))(keys))
    where = np.argsort(orders, axis=1)  # where[d, row] = the position of row in draw d
    in_order = np.mean(where[:, 0] < where[:, 1])
    assert abs(in_order - 0.5) < 4 * np.sqrt(0.25 / draws)
    for row in (0, 1, num_rows // 2, num_rows - 1):
        counts = np.bincount(where[:, row] * 10 // num_rows, minlength=10)
        assert stats.chisquare(counts).pvalue > 1e-3, row
    distances = (where[:, 1] - where[:, 0]) % num_rows
    assert stats.chisquare(np.bincount(distances * 10 // num_rows, minlength=10)).pvalue > 1e-3
