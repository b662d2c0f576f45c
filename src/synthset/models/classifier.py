"""The paper's CNN (section 3, Figure 15), the same architecture for every training source."""

from __future__ import annotations

import keras
from keras import layers


def build_classifier(
    *,
    image_shape: tuple[int, int, int],
    num_classes: int,
    filters: list[int],
    kernel_size: int,
    dropout: float,
    dense_units: int,
) -> keras.Model:
    """Five conv + max-pool blocks, flatten, dropout, two dense layers; takes uint8 images.

    Pooling pads ("same") so that five halvings fit a 28x28 image (28, 14, 7, 4, 2, 1).
    """
    image = keras.Input(shape=image_shape, name="image")
    x = layers.Rescaling(1.0 / 255.0)(image)
    for number, width in enumerate(filters, start=1):
        x = layers.Conv2D(width, kernel_size, padding="same", activation="relu", name=f"conv_{number}")(x)
        x = layers.MaxPooling2D(padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense_units, activation="relu")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", name="class_probabilities")(x)
    return keras.Model(image, probabilities, name="cnn")
