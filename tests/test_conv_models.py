"""Image networks: LeNet and ResNet-20-FRN shapes, parameter count, per-example outputs, sampling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import samplers
from posterior import density, likelihoods, models
from priors import weight

CIFAR_SHAPE = (32, 32, 3)


def count_parameters(params) -> int:
    return sum(leaf.size for leaf in jax.tree.leaves(params))


@pytest.fixture(scope="module")
def resnet():
    """ResNet-20-FRN for 10 classes and its parameters for CIFAR-shaped images."""
    network = models.resnet20_frn(num_classes=10)
    # Compiled: flax's init run op by op takes several seconds for ResNet-20.
    return network, jax.jit(network.init, static_argnums=1)(jax.random.key(0), CIFAR_SHAPE)


@pytest.mark.parametrize("image_shape", [(8, 8, 1), (28, 28, 1), (32, 32, 3)])
def test_lenet_maps_images_of_any_size_to_logits(image_shape):
    network = models.lenet(num_classes=7)
    params = network.init(jax.random.key(0), image_shape)
    assert jax.tree.map(jnp.shape, params)["conv_0"]["kernel"] == (5, 5, image_shape[-1], 6)
    images = jax.random.normal(jax.random.key(1), (3, *image_shape))
    logits = network.apply(params, images)
    assert logits.shape == (3, 7) and bool(jnp.all(jnp.isfinite(logits)))


def test_resnet20_frn_shapes_and_parameter_count(resnet):
    network, params = resnet
    assert network.apply(params, jnp.ones((2, *CIFAR_SHAPE))).shape == (2, 10)
    # By hand. A 3x3 conv from a to b channels has 9ab weights and b biases; FRN 3 per channel.
    #   stem 3->16:                         9*3*16 + 16                      =     448
    #   stage 0, 6 convs 16->16:            6 * (9*16*16 + 16)               =  13,920
    #   stage 1, 16->32 then 5 x 32->32:    9*16*32 + 32 + 5 * (9*32*32 + 32) = 50,880
    #   stage 2, 32->64 then 5 x 64->64:    9*32*64 + 64 + 5 * (9*64*64 + 64) = 203,136
    #   1x1 shortcuts 16->32 and 32->64:    16*32 + 32 + 32*64 + 64          =   2,656
    #   FRN after all 21 convs (784 ch.):   3 * (16 + 6*16 + 6*32 + 32 + 6*64 + 64) = 2,352
    #   dense 64->10:                       64*10 + 10                       =     650
    #   total                                                                = 274,042
    # He et al.'s 0.27M (269,722) has no conv biases or projection shortcuts and BN's 2
    # parameters per channel on 19 layers: 274,042 - 784 - 2,560 - (2,352 - 2 * 688).
    assert count_parameters(params) == 274_042
    assert 0.26e6 < count_parameters(params) < 0.28e6
    assert set(params["stage_1_block_0"]) == {"conv_0", "conv_1", "shortcut"}
    assert set(params["stage_1_block_1"]) == {"conv_0", "conv_1"}


def test_resnet20_frn_output_for_an_image_does_not_depend_on_the_batch(resnet):
    network, params = resnet
    images = jax.random.normal(jax.random.key(2), (4, *CIFAR_SHAPE))
    together = network.apply(params, images)
    alone = jnp.concatenate([network.apply(params, images[i : i + 1]) for i in range(len(images))])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    # Changing the other images leaves the first image's logits as they were.
    others_changed = images.at[1:].multiply(10.0)
    np.testing.assert_allclose(network.apply(params, others_changed)[0], together[0], rtol=1e-5, atol=1e-5)


def test_image_networks_refuse_flat_inputs(resnet):
    network, params = resnet
    with pytest.raises(ValueError, match=r"NHWC images.*\(2, 3072\)"):
        network.apply(params, jnp.ones((2, 32 * 32 * 3)))
    with pytest.raises(ValueError, match="num_classes >= 1"):
        models.lenet(num_classes=0)
    with pytest.raises(ValueError, match="unknown activation 'sine'"):
        models.resnet20_frn(num_classes=10, activation="sine")


def classification_problem(network, image_shape, num_images=8):
    """Random images and labels, a chain initialiser, and the FG log posterior of ``network`` on them.

    Returns ``(batch, init_fn, make_logdensity)``; ``make_logdensity(**kwargs)`` passes
    ``kwargs`` on to ``density.log_posterior`` (e.g. ``terms=True`` for HMC).
    """
    images = jax.random.normal(jax.random.key(3), (num_images, *image_shape))
    labels = jax.random.randint(jax.random.key(4), (num_images,), 0, 10)
    likelihood, prior = likelihoods.Categorical(), weight.FanInGaussian()

    def init_fn(key):
        return density.initial_position(key, network=network, likelihood=likelihood, input_shape=image_shape)

    def make_logdensity(**kwargs):
        return density.log_posterior(network.apply, prior, likelihood, data_size=50_000, **kwargs)

    return (images, labels), init_fn, make_logdensity


def test_resnet20_frn_log_posterior_and_gradient_are_finite():
    batch, init_fn, make_logdensity = classification_problem(models.resnet20_frn(num_classes=10), CIFAR_SHAPE)
    value_and_grad = jax.value_and_grad(make_logdensity())
    value, grad = jax.jit(lambda key: value_and_grad(init_fn(key), batch))(jax.random.key(5))
    assert bool(jnp.isfinite(value))
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(grad))
    assert any(bool(jnp.any(leaf != 0)) for leaf in jax.tree.leaves(grad["network"]["stem"]))


SAMPLERS = ["sgld", "sghmc", "sa_sgld", "entropy_mcmc", "hmc"]


def make_sampler(name, make_logdensity):
    """The sampler ``name`` with tiny steps, on the log posterior ``make_logdensity`` builds."""
    if name == "hmc":
        # Full-batch HMC takes the log density's terms apart for its float32-safe test.
        return samplers.hmc(make_logdensity(terms=True), 1e-5, num_integration_steps=2)
    if name == "entropy_mcmc":
        return samplers.entropy_mcmc(make_logdensity(), 1e-7, eta=1e-3)
    return getattr(samplers, name)(make_logdensity(), 1e-7)


def assert_finite(tree) -> None:
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(tree))


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_one_step_of_every_sampler_on_lenet(sampler):
    batch, init_fn, make_logdensity = classification_problem(models.lenet(num_classes=10), (8, 8, 1))
    alg = make_sampler(sampler, make_logdensity)

    def one_step(key):
        key_init, key_step = jax.random.split(key)
        position = init_fn(key_init)
        # SA-SGLD and HMC evaluate the log density at the start, so their init takes the batch.
        state = alg.init(position, batch) if sampler in ("sa_sgld", "hmc") else alg.init(position)
        return alg.step(key_step, state, batch)[0]

    assert_finite(jax.jit(one_step)(jax.random.key(6)).position)


# Slow: on 2 CPU cores XLA takes one to two minutes per sampler to compile ResNet-20's
# gradient inside the driver's chunk of steps.
@pytest.mark.slow
@pytest.mark.parametrize("sampler", SAMPLERS)
def test_every_sampler_steps_resnet20_frn_through_the_driver(sampler):
    batch, init_fn, make_logdensity = classification_problem(models.resnet20_frn(num_classes=10), CIFAR_SHAPE)
    result = samplers.sample(make_sampler(sampler, make_logdensity), jax.random.key(6), init_fn, batch, num_chains=2,
                             num_steps=2, progress=False)
    assert np.all(result.diverged_at == -1)
    assert_finite(result.samples)
