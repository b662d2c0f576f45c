"""Differentiable augmentation (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): the same random changes applied to real and generated images before the discriminator.

With a few dozen photos per class (FIDS30) the discriminator soon memorises them and its gradients
stop teaching the generator; showing it randomly shifted, recoloured and cut-out versions of both
real and generated images keeps it from memorising, and because every change is differentiable
the generator still learns through it. The generator's own images are never augmented.

Written with ``keras.ops`` rather than Keras's preprocessing layers: those do not pass gradients
through saturation, and their translation has no XLA kernel on CPU.
"""

from __future__ import annotations

import keras
from keras import ops

POLICIES = ("color", "translation", "cutout")


def diff_augment(images, policy: tuple[str, ...] | list[str], seed_generator: keras.random.SeedGenerator):
    """``images`` (N, H, W, C) in [-1, 1], changed by each part of ``policy`` in the order given."""
    for part in policy:
        images = _AUGMENTATIONS[part](images, seed_generator)
    return images


def _uniform(images, seed_generator, low: float, high: float):
    """One value per image, broadcast over its pixels."""
    count = ops.shape(images)[0]
    return keras.random.uniform((count, 1, 1, 1), low, high, seed=seed_generator)


def color(images, seed_generator):
    """Brightness +-0.5, saturation x[0, 2], contrast x[0.5, 1.5], each drawn per image."""
    images = images + _uniform(images, seed_generator, -0.5, 0.5)
    channel_mean = ops.mean(images, axis=-1, keepdims=True)
    images = (images - channel_mean) * _uniform(images, seed_generator, 0.0, 2.0) + channel_mean
    pixel_mean = ops.mean(images, axis=(1, 2, 3), keepdims=True)
    return (images - pixel_mean) * _uniform(images, seed_generator, 0.5, 1.5) + pixel_mean


def _shift_matrices(count, size: int, max_shift: int, seed_generator):
    """(count, size, size) 0/1 matrices that move rows by a random whole number of pixels in
    [-max_shift, max_shift], zeros coming in: ``matrix @ image`` shifts an image's rows."""
    shift = keras.random.randint((count, 1, 1), -max_shift, max_shift + 1, seed=seed_generator)
    rows = ops.reshape(ops.arange(size), (1, size, 1))
    columns = ops.reshape(ops.arange(size), (1, 1, size))
    return ops.cast(ops.equal(rows - shift, columns), "float32")


def translation(images, seed_generator, ratio: float = 0.125):
    """Shift each image by up to ``ratio`` of its height and width, zero (grey) filled."""
    count, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    rows = _shift_matrices(count, height, int(height * ratio + 0.5), seed_generator)
    columns = _shift_matrices(count, width, int(width * ratio + 0.5), seed_generator)
    images = ops.einsum("bij,bjwc->biwc", rows, images)
    return ops.einsum("bkw,bhwc->bhkc", columns, images)


def cutout(images, seed_generator, ratio: float = 0.5):
    """Zero (grey) a square of ``ratio`` times the image size at a random place in each image."""
    count, height, width = ops.shape(images)[0], images.shape[1], images.shape[2]
    half_h, half_w = int(height * ratio + 0.5) // 2, int(width * ratio + 0.5) // 2
    centre_y = keras.random.randint((count, 1, 1), 0, height, seed=seed_generator)
    centre_x = keras.random.randint((count, 1, 1), 0, width, seed=seed_generator)
    y = ops.reshape(ops.arange(height), (1, height, 1))
    x = ops.reshape(ops.arange(width), (1, 1, width))
    # Rows centre - half .. centre + half - 1: exactly 2 * half of them (|y - centre| < half gave one fewer).
    inside_y = ops.logical_and(y >= centre_y - half_h, y < centre_y + half_h)
    inside_x = ops.logical_and(x >= centre_x - half_w, x < centre_x + half_w)
    inside = ops.logical_and(inside_y, inside_x)
    return images * ops.expand_dims(1.0 - ops.cast(inside, images.dtype), -1)


_AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}
