"""Epoch permutations: every row once, and uniformly random (chi-square at fixed seeds)."""

import jax
import numpy as np
import pytest
from scipy import stats

from samplers import minibatch


@pytest.mark.parametrize("num_rows", [1, 2, 7, 500, 10_000])
def test_every_row_appears_once(num_rows):
    order = np.asarray(minibatch.permutation(jax.random.key(num_rows), num_rows))
    np.testing.assert_array_equal(np.sort(order), np.arange(num_rows))


def test_all_permutations_of_four_rows_are_equally_likely():
    keys = jax.random.split(jax.random.key(0), 48_000)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: minibatch.permutation(k, 4)))(keys))
    _, counts = np.unique(orders @ np.array([64, 16, 4, 1]), return_counts=True)
    assert len(counts) == 24
    assert stats.chisquare(counts).pvalue > 1e-3


def test_large_permutations_composed_over_rounds_are_unbiased():
    """10,000 rows take two sort rounds; ties would favour keeping rows 0 and 1 in order."""
    num_rows, draws = 10_000, 2_000
    keys = jax.random.split(jax.random.key(1), draws)
    orders = np.asarray(jax.jit(jax.vmap(lambda k: minibatch.permutation(k, num_rows)))(keys))
    where = np.argsort(orders, axis=1)  # where[d, row] = the position of row in draw d
    in_order = np.mean(where[:, 0] < where[:, 1])
    assert abs(in_order - 0.5) < 4 * np.sqrt(0.25 / draws)
    counts = np.bincount(where[:, 0] * 10 // num_rows, minlength=10)
    assert stats.chisquare(counts).pvalue > 1e-3
