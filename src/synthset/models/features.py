"""The feature network of the quality metrics: a classifier trained here whose penultimate layer is the feature space.

Inception weights cannot be downloaded, and their features suit 299x299 photographs, not 28x28
digits; a network trained on the dataset's own training split measures what matters for it.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

FEATURE_LAYER = "features"


def build_feature_network(
    *, image_shape: tuple[int, int, int], num_classes: int, filters: list[int], feature_dim: int, dropout: float
) -> keras.Model:
    """Conv blocks (conv, max-pool), flatten, the feature layer, dropout, softmax; takes uint8 images."""
    image = keras.Input(shape=image_shape, name="image")
    x = layers.Rescaling(1.0 / 255.0)(image)
    for width in filters:
        x = layers.Conv2D(width, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(padding="same")(x)
    x = layers.Flatten()(x)
    features = layers.Dense(feature_dim, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(dropout)(features)
    probabilities = layers.Dense(num_classes, activation="softmax", name="class_probabilities")(x)
    return keras.Model(image, probabilities, name="feature_network")


class FeatureExtractor:
    """Features and class probabilities of uint8 images, from a trained feature network."""

    def __init__(self, network: keras.Model, batch_size: int = 500):
        self.model = keras.Model(network.input, [network.get_layer(FEATURE_LAYER).output, network.output])
        self.batch_size = batch_size

    @classmethod
    def load(cls, path, batch_size: int = 500) -> "FeatureExtractor":
        return cls(keras.saving.load_model(path, compile=False), batch_size)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, probabilities = self.model.predict(images, batch_size=self.batch_size, verbose=0)
        return np.asarray(features, np.float64), np.asarray(probabilities, np.float64)
