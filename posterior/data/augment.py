"""Random flips and crops of image batches, the usual CIFAR augmentation (on device)."""

import jax
import jax.numpy as jnp

__all__ = ["augment"]


def augment(
    key: jax.Array, images: jax.Array, *, flip: bool = True, crop_padding: int = 4, padding: str = "zeros"
) -> jax.Array:
    """Random horizontal flips and random crops of a batch of NHWC images, each drawn independently.

    The usual CIFAR augmentation: each image is mirrored left-right with probability 1/2,
    then padded by ``crop_padding`` pixels on every side and cropped back to its size at
    a uniformly random offset. Pure and jit-able (``flip``, ``crop_padding`` and
    ``padding`` are static). Sampling on augmented batches targets a different posterior
    from the one of the data as they are, which is why no loader applies it.

    Args:
        key: the random key; the same key gives the same flips and crops.
        images: ``(n, height, width, channels)`` images.
        flip: whether to draw random horizontal flips.
        crop_padding: the padding, in pixels, around the random crop (0: no crop).
        padding: ``"zeros"`` pads with zeros (on standardised images, the training set's
            mean colour); ``"reflect"`` mirrors the border pixels (without repeating the
            edge, as ``numpy.pad``'s ``"reflect"``).

    Returns:
        The augmented images, of the shape and dtype of ``images``.

    Raises:
        ValueError: if ``images`` is not 4-D, ``crop_padding`` is negative, or ``padding``
            is neither ``"zeros"`` nor ``"reflect"``.
    """
    if images.ndim != 4:
        raise ValueError(f"augment takes (n, height, width, channels) images, got shape {images.shape}")
    if crop_padding < 0:
        raise ValueError(f"crop_padding must be non-negative, got {crop_padding}")
    pad_modes = {"zeros": "constant", "reflect": "reflect"}
    if padding not in pad_modes:
        raise ValueError(f"padding must be 'zeros' or 'reflect', got {padding!r}")
    num_images, height, width, channels = images.shape
    flip_key, crop_key = jax.random.split(key)
    if flip:
        mirrored = jax.random.bernoulli(flip_key, 0.5, (num_images,))
        images = jnp.where(mirrored[:, None, None, None], images[:, :, ::-1, :], images)
    if crop_padding:
        border = (crop_padding, crop_padding)
        padded = jnp.pad(images, ((0, 0), border, border, (0, 0)), mode=pad_modes[padding])
        offsets = jax.random.randint(crop_key, (num_images, 2), 0, 2 * crop_padding + 1)
        images = jax.vmap(
            lambda image, offset: jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (height, width, channels))
        )(padded, offsets)
    return images
