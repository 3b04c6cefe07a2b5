"""Networks as pairs of pure functions over flax parameters.

A :class:`Network` is ``init(key, input_shape) -> params`` and ``apply(params, x) ->
outputs``. Samplers and priors see only ``params``, a plain nested dict of arrays (the
contents of flax's ``"params"`` collection, without that wrapper), so that a prior's
``log_prob`` and a sampler's noise cover exactly the trainable parameters.

Three architectures: :func:`mlp` on feature vectors, and for NHWC images :func:`lenet`, a
small LeNet-style CNN, and :func:`resnet20_frn`, ResNet-20 with filter response
normalisation in place of batch norm, the network of Izmailov et al. (2021). None of
them keeps batch statistics or any other state besides ``params``: every output is a
pure function of the parameters and its own input, as full-batch HMC needs.

References:
    LeCun, Bottou, Bengio & Haffner, Gradient-based learning applied to document
    recognition, Proceedings of the IEEE 1998 (LeNet-5).
    He, Zhang, Ren & Sun, Deep residual learning for image recognition, CVPR 2016,
    arXiv 1512.03385 (ResNet-20 for CIFAR-10, section 4.2).
    Singh & Krishnan, Filter response normalization layer, CVPR 2020, arXiv 1911.09737.
    Izmailov, Vikram, Hoffman & Wilson, What are Bayesian neural network posteriors
    really like?, ICML 2021, arXiv 2104.14421 (ResNet-20-FRN; code: google-research
    bnn_hmc).
"""

import numbers
from typing import Callable, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "Network", "from_module", "mlp", "lenet", "resnet20_frn"]

Params = dict
PRNGKey = jax.Array
# A number of input features, or the (height, width, channels) of one image.
InputShape = int | tuple[int, ...]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "tanh": nn.tanh,
    "relu": nn.relu,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "softplus": nn.softplus,
    "sigmoid": nn.sigmoid,
    "swish": nn.swish,
}


class Network(NamedTuple):
    """A network as two pure functions.

    Attributes:
        init: ``init(key, input_shape) -> params`` (flax's default initialisation),
            parameters for inputs of that shape without the batch axis: an int, the
            number of features, for an :func:`mlp`; a tuple ``(height, width,
            channels)`` for the image networks :func:`lenet` and :func:`resnet20_frn`.
        apply: ``apply(params, x) -> outputs``, mapping ``(n, *input_shape)`` (e.g.
            ``(n, input_dim)`` or NHWC images ``(n, height, width, channels)``) to
            ``(n, output_dim)``.
    """

    init: Callable[[PRNGKey, InputShape], Params]
    apply: Callable[[Params, jax.Array], jax.Array]


class _MLP(nn.Module):
    """``depth`` hidden dense layers of ``width`` units, then a linear output layer."""

    width: int
    depth: int
    output_dim: int
    activation: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.reshape(x.shape[0], -1)  # images are read as their flattened pixels
        # Named layers, so that parameter paths read hidden_0, ..., output in any depth.
        for layer in range(self.depth):
            x = self.activation(nn.Dense(self.width, name=f"hidden_{layer}")(x))
        return nn.Dense(self.output_dim, name="output")(x)


def from_module(module: nn.Module) -> Network:
    """A flax module as a :class:`Network` over its ``"params"`` collection.

    Args:
        module: a flax linen module mapping ``(n, *input_shape)`` to ``(n, output_dim)``,
            with no collections besides ``"params"`` (no batch statistics).

    Returns:
        A :class:`Network` whose ``init`` traces the module on one zero input of
        ``input_shape`` (an int ``d`` stands for ``(d,)``).
    """

    def init(key: PRNGKey, input_shape: InputShape) -> Params:
        # numbers.Integral, not int: data set sizes often arrive as numpy integers.
        shape = (input_shape,) if isinstance(input_shape, numbers.Integral) else tuple(input_shape)
        return module.init(key, jnp.zeros((1, *shape)))["params"]

    def apply(params: Params, x: jax.Array) -> jax.Array:
        return module.apply({"params": params}, x)

    return Network(init, apply)


def mlp(*, width: int, depth: int, output_dim: int, activation: str = "tanh") -> Network:
    """A fully connected network; inputs of more than one axis (images) are flattened first.

    Args:
        width: units in each hidden layer.
        depth: number of hidden layers; 0 gives a linear model.
        output_dim: number of outputs (1 for regression, the number of classes for
            classification).
        activation: the hidden nonlinearity, by name: one of :data:`ACTIVATIONS`.

    Returns:
        A :class:`Network` whose params are ``{"hidden_0": {"kernel", "bias"}, ...,
        "output": {"kernel", "bias"}}`` with kernels laid out ``(in, out)``.

    Raises:
        ValueError: for an unknown activation or a non-positive size.
    """
    if depth < 0 or (depth > 0 and width < 1) or output_dim < 1:
        raise ValueError(f"need depth >= 0, width >= 1 and output_dim >= 1, got {depth=}, {width=}, {output_dim=}")
    return from_module(_MLP(width=width, depth=depth, output_dim=output_dim, activation=_activation(activation)))


def _activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation called ``name`` in :data:`ACTIVATIONS`.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(sorted(ACTIVATIONS))}")
    return ACTIVATIONS[name]


def _check_num_classes(num_classes: int) -> None:
    """Refuse a class count below 1, naming it."""
    if num_classes < 1:
        raise ValueError(f"need num_classes >= 1, got {num_classes}")


def _check_images(x: jax.Array) -> None:
    """Refuse inputs that are not a batch of NHWC images, naming their shape."""
    if x.ndim != 4:
        raise ValueError(
            f"expected NHWC images of shape (n, height, width, channels), got shape {x.shape}; "
            "initialise with input_shape=(height, width, channels)"
        )


# ---------------------------------------------------------------------------------------
# LeNet.


class _LeNet(nn.Module):
    """Two 5x5 convolutions, each followed by 2x2 max pooling, then two dense layers.

    "SAME" convolutions keep the spatial size and "SAME" pooling halves it rounding up,
    so any image of at least 1x1 works: 8x8 digits give 2x2x16 features, 28x28 MNIST
    7x7x16 and 32x32 CIFAR 8x8x16. (LeNet-5 proper has "VALID" convolutions and a
    third, 120-channel convolution, and bnn_hmc's variant 3x3 "VALID" pools; both
    shrink an 8x8 image to nothing.) Only the first dense layer's fan-in depends on
    the image size.
    """

    num_classes: int
    activation: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_images(x)
        for layer, channels in enumerate((6, 16)):
            x = self.activation(nn.Conv(channels, (5, 5), padding="SAME", name=f"conv_{layer}")(x))
            x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="SAME")
        x = x.reshape(x.shape[0], -1)
        for layer, width in enumerate((120, 84)):
            x = self.activation(nn.Dense(width, name=f"dense_{layer}")(x))
        return nn.Dense(self.num_classes, name="output")(x)


def lenet(*, num_classes: int, activation: str = "relu") -> Network:
    """A LeNet-style CNN for NHWC images of any size.

    conv 6 5x5 -> pool -> conv 16 5x5 -> pool -> dense 120 -> dense 84 -> output, with
    the activation after every convolution and hidden dense layer; "SAME" padding and
    2x2 max pooling with stride 2 (see :class:`_LeNet` for why).

    Args:
        num_classes: number of outputs (logits).
        activation: the nonlinearity, by name: one of :data:`ACTIVATIONS`.

    Returns:
        A :class:`Network` to initialise with ``input_shape=(height, width, channels)``;
        its params are ``{"conv_0", "conv_1": {"kernel" (5, 5, in, out), "bias"},
        "dense_0", "dense_1", "output": {"kernel" (in, out), "bias"}}``.

    Raises:
        ValueError: for an unknown activation or ``num_classes < 1``.
    """
    _check_num_classes(num_classes)
    return from_module(_LeNet(num_classes=num_classes, activation=_activation(activation)))


# ---------------------------------------------------------------------------------------
# ResNet-20 with filter response normalisation.

# FRN's epsilon, a constant as in bnn_hmc (the FRN paper learns it only for layers with
# a 1x1 spatial extent, where nu2 is a single squared value; ResNet-20 has none).
_FRN_EPSILON = 1e-6


class _FilterResponseNorm(nn.Module):
    """Filter response normalisation with a thresholded linear unit (TLU).

    Per example and channel, ``nu2 = mean(x^2)`` over height and width, then
    ``max(gamma * x / sqrt(nu2 + eps) + beta, tau)``. Unlike batch norm it reads no
    other example and keeps no running statistics, so the output for an image depends
    only on that image and the parameters. ``gamma``, ``beta`` and ``tau`` have shape
    ``(channels,)`` (bnn_hmc's are ``(1, 1, 1, channels)``): with one axis, the priors
    in ``priors.weight`` treat them as biases rather than as weights of fan-in 1.

    References:
        Singh & Krishnan, arXiv 1911.09737, equations 1-3.
    """

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels = x.shape[-1]
        gamma = self.param("gamma", nn.initializers.ones, (channels,))
        beta = self.param("beta", nn.initializers.zeros, (channels,))
        tau = self.param("tau", nn.initializers.zeros, (channels,))
        nu2 = jnp.mean(jnp.square(x), axis=(1, 2), keepdims=True)
        return jnp.maximum(gamma * x * jax.lax.rsqrt(nu2 + _FRN_EPSILON) + beta, tau)


class _ConvFRN(nn.Module):
    """A square "SAME" convolution with a bias, then FRN and TLU (no activation)."""

    features: int
    kernel_size: int = 3
    stride: int = 1

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, strides = (self.kernel_size,) * 2, (self.stride,) * 2
        x = nn.Conv(self.features, kernel, strides=strides, padding="SAME", name="conv")(x)
        return _FilterResponseNorm(name="frn")(x)


class _ResidualBlock(nn.Module):
    """A basic block: two 3x3 conv-FRN units, a shortcut, the activation of their sum.

    The first unit carries the stride and the activation; the second has neither
    (only its TLU). Where the block changes the shape (stride 2, more channels), the
    shortcut is a 1x1 conv-FRN projection with the same stride, as in bnn_hmc (He et
    al.'s option B); elsewhere it is the identity.
    """

    features: int
    stride: int
    activation: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        y = self.activation(_ConvFRN(self.features, stride=self.stride, name="conv_0")(x))
        y = _ConvFRN(self.features, name="conv_1")(y)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = _ConvFRN(self.features, kernel_size=1, stride=self.stride, name="shortcut")(x)
        return self.activation(x + y)


class _ResNet20FRN(nn.Module):
    """ResNet-20 for CIFAR: a 3x3 stem, 3 stages of 3 basic blocks, global average pool, dense.

    Stages have 16, 32 and 64 filters; the first block of stages 1 and 2 (counting from
    0) halves height and width. Average pooling over the whole remaining image equals
    bnn_hmc's 8x8 pool on 32x32 inputs and works on other sizes too.
    """

    num_classes: int
    activation: Callable[[jax.Array], jax.Array]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_images(x)
        x = self.activation(_ConvFRN(16, name="stem")(x))
        for stage, features in enumerate((16, 32, 64)):
            for block in range(3):
                stride = 2 if stage > 0 and block == 0 else 1
                x = _ResidualBlock(features, stride, self.activation, name=f"stage_{stage}_block_{block}")(x)
        return nn.Dense(self.num_classes, name="output")(jnp.mean(x, axis=(1, 2)))


def resnet20_frn(*, num_classes: int, activation: str = "swish") -> Network:
    """ResNet-20 with filter response normalisation (ResNet-20-FRN), for NHWC images.

    The architecture of bnn_hmc (Izmailov et al. 2021), in which batch norm is replaced
    by FRN + TLU so that the likelihood of a batch factorises over its examples (no
    batch statistics), as HMC on the full posterior requires: conv 3x3/16 -> FRN ->
    activation, then 3 stages of 3 basic blocks with 16/32/64 filters (stride 2 and a
    1x1 projection shortcut at the start of stages 1 and 2), global average pooling,
    a dense output layer. Every convolution has a bias and is followed by FRN + TLU.
    bnn_hmc's CIFAR-10 model is its "resnet20_frn_swish": swish keeps the log posterior
    smooth, which HMC's leapfrog integrator needs, hence the default here.

    Parameters: 274,042 for 10 classes (derived in ``tests/test_conv_models.py``), where
    He et al.'s ResNet-20 has 269,722 (0.27M): 2,560 more for the two 1x1 projection
    shortcuts (He et al. pad the identity with zeros), 784 for convolution biases and
    976 for normalisation, FRN's 3 parameters per channel on 21 layers (784 channels)
    against batch norm's 2 on 19 (688).

    Args:
        num_classes: number of outputs (logits).
        activation: the nonlinearity, by name: one of :data:`ACTIVATIONS`.

    Returns:
        A :class:`Network` to initialise with ``input_shape=(height, width, channels)``,
        e.g. ``(32, 32, 3)``; its params are ``{"stem": {"conv": {"kernel", "bias"},
        "frn": {"gamma", "beta", "tau"}}, "stage_0_block_0": {"conv_0": ..., "conv_1":
        ...}, ..., "stage_1_block_0": {..., "shortcut": ...}, ..., "output": {"kernel",
        "bias"}}``, kernels laid out ``(3, 3, in, out)`` (``(1, 1, in, out)`` for
        shortcuts) and ``(in, out)``.

    Raises:
        ValueError: for an unknown activation or ``num_classes < 1``.

    References:
        Izmailov, Vikram, Hoffman & Wilson, arXiv 2104.14421; He et al., arXiv
        1512.03385; Singh & Krishnan, arXiv 1911.09737.
    """
    _check_num_classes(num_classes)
    return from_module(_ResNet20FRN(num_classes=num_classes, activation=_activation(activation)))
