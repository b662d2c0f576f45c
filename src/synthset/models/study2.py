"""The four classifiers of *How real is real?* (its Model section), simplest first.

Layer settings the poster does not give are Keras defaults, as its authors used: "valid" padding,
Adam. Every model takes uint8 images and ends in a 10-way softmax named ``class_probabilities``.
"""

from __future__ import annotations

import keras
from keras import layers


def cnn_5l_trunk(image: keras.KerasTensor, name_prefix: str = "") -> keras.KerasTensor:
    """cnn-5l up to its dense layer: conv 32 (5x5), conv 64 (5x5), 2x2 max-pool, flatten, dense 128.

    Shared with the semi-supervised GAN discriminator, which puts its own heads on top. The conv
    layers are named so that attention maps can find the last one.
    """
    x = layers.Rescaling(1.0 / 255.0)(image)
    x = layers.Conv2D(32, 5, activation="relu", name=f"{name_prefix}conv_1")(x)
    x = layers.Conv2D(64, 5, activation="relu", name=f"{name_prefix}conv_2")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    return layers.Dense(128, activation="relu", name=f"{name_prefix}dense")(x)


def _body(name: str, image: keras.KerasTensor) -> keras.KerasTensor:
    if name == "linear_softmax":
        return layers.Flatten()(layers.Rescaling(1.0 / 255.0)(image))
    if name == "fcnn":
        x = layers.Flatten()(layers.Rescaling(1.0 / 255.0)(image))
        return layers.Dense(256, activation="relu")(x)
    if name == "cnn_4l":
        x = layers.Rescaling(1.0 / 255.0)(image)
        x = layers.Conv2D(32, 5, activation="relu", name="conv_1")(x)
        x = layers.MaxPooling2D(2)(x)
        x = layers.Flatten()(x)
        return layers.Dense(128, activation="relu", name="dense")(x)
    if name == "cnn_5l":
        return cnn_5l_trunk(image)
    raise ValueError(f"unknown study 2 model {name!r}")


def build_study2_classifier(name: str, *, image_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """``linear_softmax``, ``fcnn``, ``cnn_4l`` or ``cnn_5l``, as the poster describes them."""
    image = keras.Input(shape=image_shape, name="image")
    probabilities = layers.Dense(num_classes, activation="softmax", name="class_probabilities")(_body(name, image))
    return keras.Model(image, probabilities, name=name)
