"""Measurement sets: shapes, where the points come from, and config errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from priors.measurement import (Grid, MeasurementUnion, Mixture, PerturbedTraining, TrainingSubset, UniformBox,
                                measurement_from_spec)

# 120 distinct rows (the row index is recoverable from the first feature).
X_TRAIN = np.column_stack([np.arange(120.0), np.sin(np.arange(120.0)), np.linspace(-2.0, 5.0, 120)]).astype(np.float32)
TRAIN_ROWS = {tuple(row) for row in X_TRAIN.tolist()}


def test_grid_is_linspace_and_ignores_the_key():
    grid = Grid(-6.0, 6.0, 200)
    points = grid.sample(jax.random.key(0))
    assert points.shape == (200, 1) and points.dtype == jnp.float32
    np.testing.assert_allclose(points[:, 0], np.linspace(-6.0, 6.0, 200), atol=1e-6)
    np.testing.assert_array_equal(points, grid.sample(jax.random.key(1)))


def test_training_subset_draws_distinct_training_rows():
    subset = TrainingSubset(jnp.asarray(X_TRAIN), 100)
    points = np.asarray(jax.jit(subset.sample)(jax.random.key(0)))
    assert points.shape == (100, 3) and points.dtype == np.float32
    rows = [tuple(row) for row in points.tolist()]
    assert len(set(rows)) == 100 and set(rows) <= TRAIN_ROWS
    other = np.asarray(subset.sample(jax.random.key(1)))
    assert not np.array_equal(points, other)  # afresh for each key


def test_training_subset_can_take_every_row():
    points = np.asarray(TrainingSubset(X_TRAIN, 120).sample(jax.random.key(2)))
    np.testing.assert_array_equal(np.sort(points[:, 0]), X_TRAIN[:, 0])


def test_training_subset_refuses_more_rows_than_there_are():
    with pytest.raises(ValueError, match="at most the 120 rows of x_train, got 121"):
        TrainingSubset(X_TRAIN, 121)


def test_uniform_box_is_inside_the_box_and_uniform():
    """20,000 points in a 2-D box, binned 5 x 5: chi-square with 24 degrees of freedom
    below its 0.999 quantile (about 51; a fixed seed), every point inside."""
    low, high = np.array([-1.0, 2.0]), np.array([3.0, 2.5])
    points = np.asarray(UniformBox(jnp.asarray(low), jnp.asarray(high), 20_000).sample(jax.random.key(3)))
    assert points.shape == (20_000, 2) and points.dtype == np.float32
    assert np.all(points >= low) and np.all(points <= high)
    counts, _, _ = np.histogram2d(points[:, 0], points[:, 1], bins=5, range=[[-1.0, 3.0], [2.0, 2.5]])
    expected = 20_000 / 25
    chi_square = float(np.sum((counts - expected) ** 2 / expected))
    assert chi_square < stats.chi2.ppf(0.999, df=24)


def test_uniform_box_accepts_scalars_for_one_dimension():
    points = UniformBox(-2.0, 1.0, 50).sample(jax.random.key(4))
    assert points.shape == (50, 1)
    assert float(points.min()) >= -2.0 and float(points.max()) <= 1.0


def test_mixture_has_70_training_rows_then_30_box_points():
    mixture = Mixture(jnp.asarray(X_TRAIN), 100)
    assert mixture.data_fraction == 0.7 and mixture.num_data == 70
    points = np.asarray(jax.jit(mixture.sample)(jax.random.key(5)))
    assert points.shape == (100, 3)
    data_rows = [tuple(row) for row in points[:70].tolist()]
    assert len(set(data_rows)) == 70 and set(data_rows) <= TRAIN_ROWS
    box = points[70:]
    assert not {tuple(row) for row in box.tolist()} & TRAIN_ROWS
    assert np.all(box >= X_TRAIN.min(0)) and np.all(box <= X_TRAIN.max(0))


@pytest.mark.parametrize("fraction, num_data", [(0.0, 0), (1.0, 10), (0.33, 3)])
def test_mixture_fraction_extremes_and_rounding(fraction, num_data):
    points = Mixture(X_TRAIN, 10, fraction).sample(jax.random.key(6))
    assert points.shape == (10, 3)
    in_train = [tuple(row) in TRAIN_ROWS for row in np.asarray(points).tolist()]
    assert in_train == [True] * num_data + [False] * (10 - num_data)


def test_mixture_refuses_bad_fractions_and_too_few_rows():
    with pytest.raises(ValueError, match=r"data_fraction must be in \[0, 1\], got 1.5"):
        Mixture(X_TRAIN, 10, 1.5)
    with pytest.raises(ValueError, match="at most the 120 rows of x_train, got 140"):
        Mixture(X_TRAIN, 200, 0.7)


def test_strategies_survive_pytree_round_trips():
    """vmap's axis specs and device_put rebuild the tuples with placeholders or arrays."""
    subset = TrainingSubset(X_TRAIN, 5)
    draws = jax.vmap(lambda s, k: s.sample(k), in_axes=(None, 0))(subset, jax.random.split(jax.random.key(7), 3))
    assert draws.shape == (3, 5, 3)
    assert isinstance(jax.device_put(Mixture(X_TRAIN, 10)), Mixture)


# -- images -----------------------------------------------------------------------------

# 50 distinct 6x5 RGB images; image i is the constant i + 1 except one bright pixel, so
# it is recognisable after a shift (the pixel moves, the constant stays).
IMAGES = np.repeat(np.arange(1.0, 51.0, dtype=np.float32)[:, None, None, None], 3, axis=3) * np.ones((1, 6, 5, 3),
                                                                                                     np.float32)
IMAGES[:, 2, 2, :] += 1000.0


def test_training_images_keep_their_shape():
    points = np.asarray(TrainingSubset(IMAGES, 8).sample(jax.random.key(0)))
    assert points.shape == (8, 6, 5, 3) and points.dtype == np.float32
    assert len(set(points[:, 0, 0, 0].tolist())) == 8


def test_perturbed_training_images_are_noised_training_images():
    """Noise only: each point is a training image plus N(0, 0.5^2) entries (a KS test on
    the 20 x 90 differences, below its 0.001 critical value)."""
    points = np.asarray(jax.jit(PerturbedTraining(IMAGES, 20, noise_std=0.5).sample)(jax.random.key(1)))
    assert points.shape == (20, 6, 5, 3)
    source = np.rint(np.median(points, axis=(1, 2, 3))).astype(int) - 1  # the constant says which image
    assert len(set(source.tolist())) == 20
    differences = (points - IMAGES[source]).ravel()
    assert stats.kstest(differences / 0.5, "norm").pvalue > 0.001


def test_perturbed_training_images_shift_by_at_most_the_crop_padding():
    points = np.asarray(PerturbedTraining(IMAGES, 50, crop_padding=1).sample(jax.random.key(2)))
    bright = [np.argwhere(image[..., 0] > 500.0) for image in points]
    # Shifted by at most one pixel each way, the bright pixel stays in view.
    offsets = {tuple(where[0] - (2, 2)) for where in bright}
    assert all(len(where) == 1 for where in bright) and offsets <= {(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1)}
    assert len(offsets) > 3  # and the shifts vary
    # The border a shift uncovers is zero (the padding), the rest the image's constant.
    values = set(np.unique(np.where(points > 500.0, 0.0, points)).tolist())
    assert 0.0 in values and len(values) > 2


def test_box_and_mixture_draw_images_in_the_per_pixel_range():
    low, high = IMAGES.min(0), IMAGES.max(0)
    points = np.asarray(UniformBox(low, high, 30).sample(jax.random.key(3)))
    assert points.shape == (30, 6, 5, 3) and np.all(points >= low) and np.all(points <= high)
    mixed = np.asarray(Mixture(IMAGES, 10, 0.5).sample(jax.random.key(4)))
    assert mixed.shape == (10, 6, 5, 3)
    assert set(mixed[:5, 0, 0, 0].tolist()) <= set(IMAGES[:, 0, 0, 0].tolist())


def test_a_union_concatenates_its_parts_points():
    union = MeasurementUnion((TrainingSubset(IMAGES, 4), PerturbedTraining(IMAGES, 3, noise_std=1.0)))
    assert union.num_points == 7
    points = np.asarray(jax.jit(union.sample)(jax.random.key(5)))
    assert points.shape == (7, 6, 5, 3)
    assert set(points[:4, 0, 0, 0].tolist()) <= set(IMAGES[:, 0, 0, 0].tolist())  # clean first
    assert not set(points[4:, 0, 0, 0].tolist()) & set(IMAGES[:, 0, 0, 0].tolist())  # then noisy


def test_perturbations_are_refused_by_name():
    with pytest.raises(ValueError, match="PerturbedTraining noise_std must be a finite number >= 0, got -1.0"):
        PerturbedTraining(IMAGES, 3, noise_std=-1.0)
    with pytest.raises(ValueError, match=r"PerturbedTraining crop_padding needs images .* shape \(120, 3\)"):
        PerturbedTraining(X_TRAIN, 3, crop_padding=2)


# -- measurement_from_spec --------------------------------------------------------------

X_1D = np.linspace(-3.0, 3.0, 40, dtype=np.float32)[:, None]


def test_specs_build_the_strategies():
    grid = measurement_from_spec({"kind": "grid", "low": -6, "high": 6, "num_points": 200}, x_train=X_1D)
    assert grid == Grid(-6.0, 6.0, 200)
    training = measurement_from_spec({"kind": "training", "num_points": 100}, x_train=X_TRAIN)
    assert isinstance(training, TrainingSubset) and training.num_points == 100
    np.testing.assert_array_equal(training.x_train, X_TRAIN)
    box = measurement_from_spec({"kind": "box", "num_points": 100}, x_train=X_TRAIN)
    assert isinstance(box, UniformBox) and box.num_points == 100
    np.testing.assert_array_equal(box.low, X_TRAIN.min(0))
    np.testing.assert_array_equal(box.high, X_TRAIN.max(0))
    mixture = measurement_from_spec({"kind": "mixture", "num_points": 100, "data_fraction": 0.7}, x_train=X_TRAIN)
    assert isinstance(mixture, Mixture) and (mixture.num_points, mixture.data_fraction) == (100, 0.7)
    default = measurement_from_spec({"kind": "mixture", "num_points": 100}, x_train=X_TRAIN)
    assert default.data_fraction == 0.7
    for strategy in (grid, training, box, mixture):
        assert strategy.sample(jax.random.key(8)).shape[0] == strategy.num_points


def test_image_specs_build_the_image_strategies():
    plain = measurement_from_spec({"kind": "training", "num_points": 10}, x_train=IMAGES)
    assert isinstance(plain, TrainingSubset)
    perturbed = measurement_from_spec({"kind": "training", "num_points": 10, "noise_std": 0.5, "crop_padding": 2},
                                      x_train=IMAGES)
    assert isinstance(perturbed, PerturbedTraining) and (perturbed.noise_std, perturbed.crop_padding) == (0.5, 2)
    assert measurement_from_spec({"kind": "training", "num_points": 10, "crop_padding": 1},
                                 x_train=IMAGES).noise_std == 0.0
    union = measurement_from_spec({"kind": "union", "parts": [
        {"kind": "training", "num_points": 7}, {"kind": "training", "num_points": 3, "noise_std": 1.0},
        {"kind": "mixture", "num_points": 4}]}, x_train=IMAGES)
    assert isinstance(union, MeasurementUnion) and union.num_points == 14
    assert [type(part) for part in union.parts] == [TrainingSubset, PerturbedTraining, Mixture]
    for strategy in (plain, perturbed, union):
        assert strategy.sample(jax.random.key(9)).shape == (strategy.num_points, 6, 5, 3)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "sobol", "num_points": 10}, "prior.fit.measurement.kind must be one of grid, training, box, mixture"),
        ({"num_points": 10}, "prior.fit.measurement.kind is missing"),
        ([1, 2], "prior.fit.measurement must be a mapping"),
        ({"kind": "box", "num_points": 10, "low": 0.0}, "prior.fit.measurement.low is not a key of a 'box'"),
        ({"kind": "training", "num_points": 10, "data_fraction": 0.5},
         "prior.fit.measurement.data_fraction is not a key of a 'training'"),
        ({"kind": "box"}, "prior.fit.measurement.num_points is missing"),
        ({"kind": "box", "num_points": 0}, "prior.fit.measurement.num_points must be a positive integer, got 0"),
        ({"kind": "box", "num_points": 10.0}, "prior.fit.measurement.num_points must be a positive integer, got 10.0"),
        ({"kind": "training", "num_points": 121},
         "prior.fit.measurement.num_points must be at most the 120 rows of x_train, got 121"),
        ({"kind": "mixture", "num_points": 100, "data_fraction": 1.5},
         "prior.fit.measurement.data_fraction must be in [0, 1], got 1.5"),
        ({"kind": "mixture", "num_points": 100, "data_fraction": -0.1},
         "prior.fit.measurement.data_fraction must be in [0, 1], got -0.1"),
        ({"kind": "mixture", "num_points": 100, "data_fraction": "most"},
         "prior.fit.measurement.data_fraction must be a number, got 'most'"),
        ({"kind": "mixture", "num_points": 200}, "prior.fit.measurement.num_points * data_fraction"),
        ({"kind": "grid", "low": -6, "high": 6, "num_points": 50}, "prior.fit.measurement.kind 'grid' needs 1-D inputs"),
        ({"kind": "training", "num_points": 10, "noise_std": -0.5},
         "prior.fit.measurement.noise_std must be a finite number >= 0, got -0.5"),
        ({"kind": "training", "num_points": 10, "noise_std": "some"},
         "prior.fit.measurement.noise_std must be a number, got 'some'"),
        ({"kind": "training", "num_points": 10, "crop_padding": 1.5},
         "prior.fit.measurement.crop_padding must be a non-negative integer, got 1.5"),
        ({"kind": "training", "num_points": 10, "crop_padding": 2},
         "prior.fit.measurement.crop_padding needs images (n, height, width, channels), but x_train has shape (120, 3)"),
        ({"kind": "box", "num_points": 10, "noise_std": 1.0}, "prior.fit.measurement.noise_std is not a key of a 'box'"),
        ({"kind": "union", "parts": []}, "prior.fit.measurement.parts must be a non-empty list of measurement specs"),
        ({"kind": "union"}, "prior.fit.measurement.parts is missing"),
        ({"kind": "union", "num_points": 10, "parts": [{"kind": "box", "num_points": 1}]},
         "prior.fit.measurement.num_points is not a key of a 'union'"),
        ({"kind": "union", "parts": [{"kind": "box", "num_points": 1}, {"kind": "training", "num_points": -1}]},
         "prior.fit.measurement.parts[1].num_points must be a positive integer, got -1"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(ValueError) as error:
        measurement_from_spec(spec, x_train=X_TRAIN)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "grid", "low": 6, "high": -6, "num_points": 50}, "toy.measure.high must be greater than low (6), got -6"),
        ({"kind": "grid", "high": 6, "num_points": 50}, "toy.measure.low is missing"),
        ({"kind": "grid", "low": "left", "high": 6, "num_points": 50}, "toy.measure.low must be a number, got 'left'"),
    ],
)
def test_grid_spec_errors_use_the_given_path(spec, message):
    with pytest.raises(ValueError) as error:
        measurement_from_spec(spec, x_train=X_1D, path="toy.measure")
    assert str(error.value).startswith(message)
