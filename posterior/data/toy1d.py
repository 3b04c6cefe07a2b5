"""The 1-D regression toy with a gap in the training inputs (Tran et al. 2022).

Training inputs are uniform on ``[-10, 10]`` except on one random interval covering 40%
of that range, where there are none; targets are one draw of a Gaussian process with an
RBF kernel plus Gaussian noise. The test inputs are an even grid over the whole range,
gap included, with targets from the same draw, so that a plot of the posterior
predictive shows what a prior does where there is no data: that is the point of the toy.

The paper gives the kernel's "amplitude" as 1.6 without saying whether that is the
variance or the standard deviation; we read it as the kernel variance,
``k(x, x') = 1.6 exp(-(x - x')^2 / (2 * 1.8^2))``.

The gap's start is uniform over the positions that keep it inside ``[-10, 10]``, as in
the FBNN code the paper's toy descends from; the training inputs are uniform on what is
left (rather than moved out of the gap to one side).

References:
    Tran, Rossi, Milios & Filippone, All you need is a good functional prior for
    Bayesian deep learning, JMLR 2022.
"""

from typing import NamedTuple

import numpy as np

from posterior.data.dataset import REGRESSION, Dataset, check_split, standardised_dataset

__all__ = ["Toy1D", "draw_toy1d", "load_toy1d"]

INPUT_RANGE = (-10.0, 10.0)
NUM_TRAIN = 64
NUM_TEST = 200
GAP_FRACTION = 0.4
KERNEL_VARIANCE = 1.6
LENGTHSCALE = 1.8
NOISE_STD = 0.1
# The RBF kernel matrix on a dense grid is numerically singular; this much on the
# diagonal makes its Cholesky factor exist, at a cost (std 1e-3) far below the noise.
JITTER = 1e-6


class Toy1D(NamedTuple):
    """One draw of the toy in original units (one input feature, shape ``(n,)``).

    Attributes:
        x_train: the ``NUM_TRAIN`` training inputs, none inside ``gap``.
        y_train: their noisy targets.
        x_test: ``NUM_TEST`` evenly spaced inputs from -10 to 10.
        y_test: their noisy targets, from the same function draw.
        gap: ``(start, end)`` of the interval without training inputs.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    gap: tuple[float, float]


def draw_toy1d(seed: int) -> Toy1D:
    """Draw the gap, the inputs, one GP function and the noise, all from ``seed``.

    The function is drawn jointly at the training and test inputs (a Cholesky factor of
    their kernel matrix times standard normal noise), so that both sets see one and the
    same function.

    Args:
        seed: a non-negative integer; the same seed always gives the same toy.

    Returns:
        The :class:`Toy1D` draw in original units.
    """
    rng = np.random.default_rng(seed)
    low, high = INPUT_RANGE
    gap_width = GAP_FRACTION * (high - low)
    gap_start = rng.uniform(low, high - gap_width)
    # Uniform on the range with the gap cut out and the two pieces joined, then the
    # piece after the gap shifted back to where it belongs.
    joined = low + rng.uniform(0.0, (high - low) - gap_width, size=NUM_TRAIN)
    x_train = np.where(joined < gap_start, joined, joined + gap_width)
    x_test = np.linspace(low, high, NUM_TEST)

    inputs = np.concatenate([x_train, x_test])
    squared_distances = np.square(inputs[:, None] - inputs[None, :])
    kernel = KERNEL_VARIANCE * np.exp(-0.5 * squared_distances / LENGTHSCALE**2)
    cholesky = np.linalg.cholesky(kernel + JITTER * np.eye(inputs.size))
    function = cholesky @ rng.standard_normal(inputs.size)
    targets = function + NOISE_STD * rng.standard_normal(inputs.size)

    return Toy1D(
        x_train=x_train,
        y_train=targets[:NUM_TRAIN],
        x_test=x_test,
        y_test=targets[NUM_TRAIN:],
        gap=(float(gap_start), float(gap_start + gap_width)),
    )


def load_toy1d(split: int = 0) -> Dataset:
    """The toy as a standardised :class:`Dataset`, seeded by ``split``.

    Args:
        split: the seed of the draw (a non-negative integer).

    Returns:
        The regression :class:`Dataset`: 64 training and 200 test rows, one feature.
    """
    seed = check_split("toy1d", split)
    toy = draw_toy1d(seed)
    return standardised_dataset(
        name="toy1d",
        task=REGRESSION,
        x_train=toy.x_train,
        y_train=toy.y_train,
        x_test=toy.x_test,
        y_test=toy.y_test,
        test_in_gap=(toy.x_test > toy.gap[0]) & (toy.x_test < toy.gap[1]),
    )
