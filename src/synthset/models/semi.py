"""The poster's semi-supervised discriminator: cnn-5l with a real/fake head and a K+1-way head.

The K+1-th class is "fake" (Salimans et al. 2016): real labelled images teach the digit heads,
unlabelled synthetic images teach both heads that they are fake.
"""

from __future__ import annotations

import keras
from keras import layers

from synthset.models.study2 import cnn_5l_trunk

REAL_OR_FAKE = "real_or_fake"
CLASS_OR_FAKE = "class_or_fake"


def build_semi_discriminator(*, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """cnn-5l trunk; heads ``real_or_fake`` (1 sigmoid: 1 = real) and ``class_or_fake`` (K+1 softmax)."""
    image = keras.Input(shape=image_shape, name="image")
    features = cnn_5l_trunk(image)
    real = layers.Dense(1, activation="sigmoid", name=REAL_OR_FAKE)(features)
    classes = layers.Dense(num_classes + 1, activation="softmax", name=CLASS_OR_FAKE)(features)
    return keras.Model(image, {REAL_OR_FAKE: real, CLASS_OR_FAKE: classes}, name="semi_gan_discriminator")
