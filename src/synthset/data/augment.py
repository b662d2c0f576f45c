"""The paper's augmentation (section 3) as Keras preprocessing layers, drawn afresh per image and epoch."""

from __future__ import annotations

import keras
from keras import layers, ops

from synthset.config import AugmentParams


@keras.saving.register_keras_serializable(package="synthset")
class RandomBrightnessScale(layers.Layer):
    """Multiply each image by a factor drawn from [low, high], as Keras 2's ``brightness_range`` did.

    ``keras.layers.RandomBrightness`` adds an offset instead; the paper's [0.2, 1.0] is a factor.
    """

    def __init__(self, low: float, high: float, value_range=(0.0, 255.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high, self.value_range, self.seed = low, high, tuple(value_range), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=True):
        if not training:
            return images
        batch = ops.shape(images)[0]
        factors = keras.random.uniform((batch, 1, 1, 1), self.low, self.high, seed=self.seed_generator)
        return ops.clip(ops.cast(images, "float32") * factors, *self.value_range)

    def get_config(self):
        return {**super().get_config(), "low": self.low, "high": self.high,
                "value_range": self.value_range, "seed": self.seed}


def build_augmenter(params: AugmentParams, seed: int) -> keras.Sequential:
    """Flip, brightness, zoom, rotation on float images in [0, 255].

    Zoom follows Keras 2's ``zoom_range=[a, b]``: a factor z < 1 shows a z-sized region, that is
    zooms in; ``RandomZoom`` expresses the same as a height factor of z - 1.
    """
    low_zoom, high_zoom = params.zoom
    steps = []
    if params.horizontal_flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed))
    steps += [
        RandomBrightnessScale(*params.brightness, seed=seed + 1),
        layers.RandomZoom(height_factor=(low_zoom - 1.0, high_zoom - 1.0), fill_mode=params.fill_mode, seed=seed + 2),
        layers.RandomRotation(params.rotation_degrees / 360.0, fill_mode=params.fill_mode, seed=seed + 3),
    ]
    return keras.Sequential(steps, name="augmenter")
