"""GP kernels and prior draws: kernel values against numpy, draws' covariance against the kernel."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from priors.gp import (
    RBF,
    Hierarchical,
    Kernel,
    Linear,
    Matern12,
    Matern32,
    Matern52,
    Periodic,
    Product,
    Sum,
    kernel_from_spec,
    sample_functions,
)

STATIONARY = [RBF, Matern12, Matern32, Matern52]


def max_standardised_covariance_error(draws: jax.Array, gram: np.ndarray) -> float:
    """The largest |empirical - true| covariance entry, in standard errors.

    Draws have mean zero, so ``f^T f / n`` estimates the covariance; for Gaussian draws
    the standard error of entry ``ij`` is ``sqrt((K_ii K_jj + K_ij^2) / n)``. Entries
    of the upper triangle only (the matrix is symmetric).
    """
    draws = np.asarray(draws, np.float64)
    empirical = draws.T @ draws / draws.shape[0]
    diag = np.diag(gram)
    se = np.sqrt((np.outer(diag, diag) + gram**2) / draws.shape[0])
    upper = np.triu_indices_from(gram)
    return float(np.max(np.abs(empirical - gram)[upper] / se[upper]))


def test_rbf_draws_have_the_kernel_covariance():
    """20,000 draws at 30 points: every one of the 465 distinct covariance entries within
    5 standard errors (the largest of ~465 roughly normal errors is typically 3 to 3.5)."""
    x = np.linspace(-3.0, 3.0, 30)
    gram = 1.6 * np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.6**2)  # by hand, not by the kernel
    draws = sample_functions(jax.random.key(0), RBF(variance=1.6, lengthscale=0.6), jnp.asarray(x[:, None]), 20_000)
    assert draws.shape == (20_000, 30)
    assert max_standardised_covariance_error(draws, gram) < 5.0


def test_sum_product_and_ard_draws_have_the_kernel_covariance():
    """A Sum of an ARD RBF times a Periodic with a Linear term, on 25 2-D points."""
    x = np.random.default_rng(1).uniform(-2.0, 2.0, (25, 2))
    kernel = RBF(variance=1.2, lengthscale=jnp.array([0.5, 2.0])) * Periodic(period=3.0) + Linear(0.3, 0.5)
    assert isinstance(kernel, Sum) and isinstance(kernel.left, Product)
    diff = x[:, None, :] - x[None, :, :]
    rbf = 1.2 * np.exp(-0.5 * ((diff / [0.5, 2.0]) ** 2).sum(-1))
    periodic = np.exp(-2.0 * (np.sin(np.pi * diff / 3.0) ** 2).sum(-1))
    gram = rbf * periodic + 0.5 + 0.3 * x @ x.T
    draws = sample_functions(jax.random.key(2), kernel, jnp.asarray(x, jnp.float32), 20_000)
    assert max_standardised_covariance_error(draws, gram) < 5.0


def test_sample_functions_inside_jit_with_traced_hyperparameters():
    """Called inside a jitted function, with the kernel built there from traced values."""
    x = jnp.linspace(-1.0, 1.0, 8)[:, None]

    @jax.jit
    def draw(key, lengthscale, log_std):
        return sample_functions(key, Hierarchical(Matern32(2.0, lengthscale), log_std=log_std), x, 5)

    target = Hierarchical(Matern32(2.0, 0.5), log_std=0.3)
    np.testing.assert_allclose(draw(jax.random.key(3), 0.5, 0.3), sample_functions(jax.random.key(3), target, x, 5),
                               rtol=1e-5, atol=1e-6)


def test_kernel_built_from_traced_hyperparameters():
    x = jnp.linspace(0.0, 1.0, 4)[:, None]
    gram = jax.jit(lambda ls: RBF(2.0, ls)(x, x))(0.5)
    np.testing.assert_allclose(gram, RBF(2.0, 0.5)(x, x), rtol=1e-6)
    batched = jax.vmap(lambda v: Matern52(v, 1.0)(x, x))(jnp.array([1.0, 3.0]))
    np.testing.assert_allclose(batched[1], 3.0 * batched[0], rtol=1e-6)


# -- kernel formulas --------------------------------------------------------------------

A = np.array([[0.3, -1.2], [2.0, 0.5]])
B = np.array([[1.0, 0.0], [-0.5, 0.7], [0.3, -1.2]])


def test_rbf_matches_numpy_with_ard():
    lengthscale = np.array([0.7, 1.9])
    expected = 1.3 * np.exp(-0.5 * (((A[:, None] - B[None]) / lengthscale) ** 2).sum(-1))
    np.testing.assert_allclose(RBF(1.3, jnp.asarray(lengthscale))(jnp.asarray(A), jnp.asarray(B)), expected,
                               rtol=1e-5)


@pytest.mark.parametrize(
    "cls, at_one",
    [
        (Matern12, math.exp(-1.0)),
        (Matern32, (1.0 + math.sqrt(3.0)) * math.exp(-math.sqrt(3.0))),
        (Matern52, (1.0 + math.sqrt(5.0) + 5.0 / 3.0) * math.exp(-math.sqrt(5.0))),
    ],
)
def test_matern_values_at_scaled_distance_zero_and_one(cls, at_one):
    """Scaled distance 1 reached along the second axis with ARD lengthscales (0.5, 2)."""
    kernel = cls(variance=2.5, lengthscale=jnp.array([0.5, 2.0]))
    values = kernel(jnp.array([[0.1, 0.4]]), jnp.array([[0.1, 0.4], [0.1, 2.4]]))
    np.testing.assert_allclose(values, [[2.5, 2.5 * at_one]], rtol=1e-5)


def test_matern_matches_numpy_at_several_distances():
    r = np.sqrt((((A[:, None] - B[None]) / 1.4) ** 2).sum(-1))
    s3, s5 = math.sqrt(3.0) * r, math.sqrt(5.0) * r
    expected = {
        Matern12: 0.8 * np.exp(-r),
        Matern32: 0.8 * (1 + s3) * np.exp(-s3),
        Matern52: 0.8 * (1 + s5 + 5.0 / 3.0 * r**2) * np.exp(-s5),
    }
    for cls, values in expected.items():
        np.testing.assert_allclose(cls(0.8, 1.4)(jnp.asarray(A), jnp.asarray(B)), values, rtol=1e-5, err_msg=cls.__name__)


def test_periodic_matches_numpy_and_repeats():
    kernel = Periodic(variance=1.7, lengthscale=0.8, period=2.5)
    diff = A[:, None] - B[None]
    expected = 1.7 * np.exp(-2.0 * (np.sin(np.pi * diff / 2.5) ** 2).sum(-1) / 0.8**2)
    np.testing.assert_allclose(kernel(jnp.asarray(A), jnp.asarray(B)), expected, rtol=1e-5)
    x = jnp.array([[0.4, -0.3]])
    shifted = x + jnp.array([[2.5, -5.0]])  # whole periods along both axes
    np.testing.assert_allclose(kernel(x, shifted), [[1.7]], rtol=1e-5)
    half = x + jnp.array([[1.25, 0.0]])  # half a period: sin^2 = 1
    np.testing.assert_allclose(kernel(x, half), [[1.7 * math.exp(-2.0 / 0.8**2)]], rtol=1e-5)


def test_linear_sum_and_product_match_numpy():
    linear = 0.4 + 1.5 * A @ B.T
    rbf = RBF(0.9, 1.1)(jnp.asarray(A), jnp.asarray(B))
    np.testing.assert_allclose(Linear(1.5, 0.4)(jnp.asarray(A), jnp.asarray(B)), linear, rtol=1e-5)
    np.testing.assert_allclose((Linear(1.5, 0.4) + RBF(0.9, 1.1))(jnp.asarray(A), jnp.asarray(B)), linear + rbf,
                               rtol=1e-5)
    np.testing.assert_allclose((Linear(1.5, 0.4) * RBF(0.9, 1.1))(jnp.asarray(A), jnp.asarray(B)), linear * rbf,
                               rtol=1e-5)


ALL_KERNELS = [
    RBF(1.3, 0.9),
    RBF(1.0, jnp.array([0.5, 1.0, 3.0])),
    Matern12(0.7, 1.2),
    Matern32(1.1, jnp.array([2.0, 0.5, 1.0])),
    Matern52(2.0, 0.8),
    Periodic(1.0, 0.7, 1.5),
    Linear(0.5, 0.2) + Matern32(1.0, 1.0),
    RBF(1.0, 2.0) * Periodic(0.5, 1.0, 2.0),
]


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=lambda k: type(k).__name__)
def test_kernels_are_positive_semidefinite(kernel: Kernel):
    """Symmetric, and Cholesky (with the default relative jitter) succeeds at 50 random 3-D points."""
    x = jax.random.normal(jax.random.key(4), (50, 3))
    gram = kernel(x, x)
    np.testing.assert_allclose(gram, gram.T, rtol=1e-6, atol=1e-7)
    chol = jnp.linalg.cholesky(gram + 1e-6 * jnp.mean(jnp.diag(gram)) * jnp.eye(50))
    assert bool(jnp.all(jnp.isfinite(chol)))
    assert bool(jnp.all(jnp.isfinite(sample_functions(jax.random.key(5), kernel, x, 3))))


@pytest.mark.parametrize("kernel", ALL_KERNELS, ids=lambda k: type(k).__name__)
def test_gradients_are_finite_at_identical_points(kernel: Kernel):
    """w.r.t. inputs and hyperparameters, with x2 == x1 (the Matern kernels' sqrt at 0)."""
    x = jax.random.normal(jax.random.key(6), (5, 3))
    input_grad = jax.grad(lambda x: jnp.sum(kernel(x, x)))(x)
    assert bool(jnp.all(jnp.isfinite(input_grad)))
    hyper_grad = jax.grad(lambda k: jnp.sum(k(x, x)))(kernel)
    assert jax.tree.structure(hyper_grad) == jax.tree.structure(kernel)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(hyper_grad))


def test_matern_gradient_at_zero_distance_is_zero():
    """The one-sided limits cancel: d/dx k(x, y) at x = y is 0 for a function of |x - y|."""
    y = jnp.array([[0.3]])
    grad = jax.grad(lambda x: Matern12(1.0, 1.0)(x, y)[0, 0])(y)
    np.testing.assert_array_equal(grad, [[0.0]])


# -- hierarchical -----------------------------------------------------------------------

def test_hierarchical_marginal_variance_is_the_lognormal_mean():
    """Var f(x) = E[variance * exp(log_std z)] = variance * exp(log_std^2 / 2).

    With v the drawn variance and f = sqrt(v) g, Var(f^2) = 3 E[v^2] - E[v]^2, where
    E[v^2] = variance^2 exp(2 log_std^2); the mean of f^2 over N draws is within 4 of
    its standard errors (a fixed seed; a wrong factor of exp(log_std^2 / 2) = 1.13 is
    about 20 standard errors off).
    """
    variance, log_std, n = 1.6, 0.5, 20_000
    target = Hierarchical(RBF(variance, 0.6), log_std=log_std)
    draws = np.asarray(sample_functions(jax.random.key(7), target, jnp.zeros((1, 1)), n), np.float64)[:, 0]
    mean_v = variance * math.exp(log_std**2 / 2)
    var_f2 = 3 * variance**2 * math.exp(2 * log_std**2) - mean_v**2
    assert abs(np.mean(draws**2) - mean_v) < 4 * math.sqrt(var_f2 / n)


def test_hierarchical_hyperparameters_are_lognormal_with_the_given_median():
    """Every leaf (each ARD entry separately) has log(leaf / h) ~ N(0, log_std^2), independent."""
    base = RBF(1.6, jnp.array([0.6, 2.0])) + Linear(0.5, 0.0)
    target = Hierarchical(base, log_std=0.4)
    n = 4000
    drawn = jax.vmap(target.draw_kernel)(jax.random.split(jax.random.key(8), n))
    assert jax.tree.structure(drawn) == jax.tree.structure(base)
    np.testing.assert_array_equal(drawn.right.bias, np.zeros(n))  # 0 stays 0
    logs = np.column_stack([
        np.log(np.asarray(drawn.left.variance) / 1.6),
        np.log(np.asarray(drawn.left.lengthscale) / np.array([0.6, 2.0])),
        np.log(np.asarray(drawn.right.variance) / 0.5),
    ])
    # Standard errors: mean 0.4 / sqrt(n) = 0.0063, std 0.4 / sqrt(2n) = 0.0045,
    # correlation 1 / sqrt(n) = 0.016; bounds at about 4 of them.
    assert np.all(np.abs(logs.mean(0)) < 0.025)
    assert np.all(np.abs(logs.std(0) - 0.4) < 0.018)
    correlation = np.corrcoef(logs.T)
    assert np.all(np.abs(correlation[np.triu_indices(4, 1)]) < 0.065)


def test_hierarchical_functions_have_different_kernels():
    target = Hierarchical(Matern52(1.0, 1.0), log_std=0.5)
    first, second = target.draw_kernel(jax.random.key(9)), target.draw_kernel(jax.random.key(10))
    assert float(first.variance) != float(second.variance)
    assert float(first.lengthscale) != float(second.lengthscale)


# -- kernel_from_spec -------------------------------------------------------------------

X = jax.random.normal(jax.random.key(11), (6, 2))


def assert_same_kernel(built, expected):
    assert jax.tree.structure(built) == jax.tree.structure(expected)
    np.testing.assert_allclose(built(X, X), expected(X, X), rtol=1e-6)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ({"kind": "rbf", "variance": 1.0, "lengthscale": 0.6}, RBF(1.0, 0.6)),
        ({"kind": "rbf", "lengthscale": [1.0, 2.0]}, RBF(1.0, jnp.array([1.0, 2.0]))),
        ({"kind": "matern12", "variance": 2}, Matern12(2.0, 1.0)),
        ({"kind": "matern32", "variance": 0.5, "lengthscale": 3.0}, Matern32(0.5, 3.0)),
        ({"kind": "matern52", "lengthscale": [0.5, 1]}, Matern52(1.0, jnp.array([0.5, 1.0]))),
        ({"kind": "periodic", "period": 2.0}, Periodic(period=2.0)),
        ({"kind": "linear"}, Linear()),
        ({"kind": "linear", "variance": 0.3, "bias": 1.0}, Linear(0.3, 1.0)),
        ({"kind": "sum", "terms": [{"kind": "rbf"}, {"kind": "linear"}, {"kind": "periodic"}]},
         RBF() + Linear() + Periodic()),
        ({"kind": "product", "terms": [{"kind": "rbf", "lengthscale": 2.0}, {"kind": "periodic", "period": 3.0}]},
         RBF(1.0, 2.0) * Periodic(period=3.0)),
        ({"kind": "product", "terms": [{"kind": "sum", "terms": [{"kind": "rbf"}, {"kind": "linear"}]},
                                       {"kind": "matern32"}]},
         (RBF() + Linear()) * Matern32()),
    ],
)
def test_kernel_from_spec_builds_the_kernel(spec, expected):
    assert_same_kernel(kernel_from_spec(spec), expected)


def test_kernel_from_spec_hierarchical_at_the_top_level():
    target = kernel_from_spec({"kind": "rbf", "lengthscale": [1.0, 2.0], "hierarchical": {"log_std": 0.5}})
    assert isinstance(target, Hierarchical) and target.log_std == 0.5
    assert_same_kernel(target.kernel, RBF(1.0, jnp.array([1.0, 2.0])))
    summed = kernel_from_spec({"kind": "sum", "terms": [{"kind": "rbf"}, {"kind": "linear"}],
                               "hierarchical": {"log_std": 0.2}})
    assert isinstance(summed, Hierarchical) and isinstance(summed.kernel, Sum)


def test_a_lengthscale_in_units_of_sqrt_dim_is_scaled_by_the_input_dimension():
    built = kernel_from_spec({"kind": "rbf", "variance": 2.0, "lengthscale": 1.5, "lengthscale_unit": "sqrt_dim"},
                             input_dim=64)
    assert_same_kernel(built, RBF(2.0, 12.0))
    # Left out, the lengthscale is 1 in those units; in a sum, each term reads its own.
    assert_same_kernel(kernel_from_spec({"kind": "matern32", "lengthscale_unit": "sqrt_dim"}, input_dim=4),
                       Matern32(1.0, 2.0))
    summed = kernel_from_spec({"kind": "sum", "terms": [{"kind": "rbf", "lengthscale": [1.0, 2.0],
                                                         "lengthscale_unit": "sqrt_dim"}, {"kind": "rbf"}]},
                              input_dim=9)
    assert_same_kernel(summed, RBF(1.0, jnp.array([3.0, 6.0])) + RBF())
    assert_same_kernel(kernel_from_spec({"kind": "rbf", "lengthscale": 0.5, "lengthscale_unit": "absolute"},
                                        input_dim=64), RBF(1.0, 0.5))


def test_images_are_drawn_on_their_flattened_pixels():
    images = jax.random.normal(jax.random.key(4), (6, 4, 4, 3))
    kernel = RBF(1.5, 2.0)
    np.testing.assert_array_equal(sample_functions(jax.random.key(5), kernel, images, 7),
                                  sample_functions(jax.random.key(5), kernel, images.reshape(6, 48), 7))


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "rbf", "lengthscale_unit": "pixels"},
         "target.kernel.lengthscale_unit must be one of absolute, sqrt_dim, got 'pixels'"),
        ({"kind": "linear", "lengthscale_unit": "sqrt_dim"},
         "target.kernel.lengthscale_unit is not a key of a 'linear' kernel"),
        ({"kind": "sum", "terms": [{"kind": "rbf", "lengthscale_unit": "sqrt_dim"}]},
         "target.kernel.terms[0].lengthscale_unit 'sqrt_dim' needs the input dimension"),
        ({"kind": "sum", "terms": [{"kind": "rbf"}, {"kind": "rbf", "lengthscale": -1}]},
         "target.kernel.terms[1].lengthscale must be positive, got -1"),
        ({"kind": "rbf", "variance": 0.0}, "target.kernel.variance must be positive, got 0.0"),
        ({"kind": "rbf", "lengthscale": [1.0, 0]}, "target.kernel.lengthscale[1] must be positive, got 0"),
        ({"kind": "rbf", "lengthscale": []}, "target.kernel.lengthscale must be"),
        ({"kind": "rbf", "variance": "big"}, "target.kernel.variance must be a number, got 'big'"),
        ({"kind": "rbf", "variance": True}, "target.kernel.variance must be a number"),
        ({"kind": "periodic", "period": -2.0}, "target.kernel.period must be positive, got -2.0"),
        ({"kind": "linear", "bias": -0.1}, "target.kernel.bias must be non-negative, got -0.1"),
        ({"kind": "cubic"}, "target.kernel.kind must be one of"),
        ({"variance": 1.0}, "target.kernel.kind is missing"),
        ("rbf", "target.kernel must be a mapping"),
        ({"kind": "rbf", "lenghtscale": 1.0}, "target.kernel.lenghtscale is not a key of a 'rbf' kernel"),
        ({"kind": "linear", "lengthscale": 1.0}, "target.kernel.lengthscale is not a key of a 'linear' kernel"),
        ({"kind": "sum", "variance": 1.0, "terms": [{"kind": "rbf"}]}, "target.kernel.variance is not a key"),
        ({"kind": "sum", "terms": []}, "target.kernel.terms must be a non-empty list"),
        ({"kind": "product"}, "target.kernel.terms must be a non-empty list"),
        ({"kind": "sum", "terms": [{"kind": "rbf", "hierarchical": {"log_std": 0.5}}]},
         "target.kernel.terms[0].hierarchical is allowed only at the top level"),
        ({"kind": "sum", "terms": [{"kind": "product", "terms": [{"kind": "rbf"}, {"kind": "wave"}]}]},
         "target.kernel.terms[0].terms[1].kind must be one of"),
        ({"kind": "rbf", "hierarchical": 0.5}, "target.kernel.hierarchical must be a mapping with a 'log_std'"),
        ({"kind": "rbf", "hierarchical": {"log_std": -0.5}},
         "target.kernel.hierarchical.log_std must be non-negative, got -0.5"),
        ({"kind": "rbf", "hierarchical": {"log_std": 0.5, "median": 1.0}}, "target.kernel.hierarchical.median is not"),
    ],
)
def test_bad_specs_name_the_key(spec, message):
    with pytest.raises(ValueError) as error:
        kernel_from_spec(spec)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_spec_errors_use_the_given_path():
    with pytest.raises(ValueError, match=r"^prior\.target\.lengthscale must be positive"):
        kernel_from_spec({"kind": "matern52", "lengthscale": -3.0}, path="prior.target")
