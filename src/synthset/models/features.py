"""The feature network of the quality metrics: a classifier trained here whose penultimate layer is the feature space.

Inception weights cannot be downloaded, and their features suit 299x299 photographs, not 28x28
digits; a network trained on the dataset's own training split measures what matters for it.
"""

from __future__ import annotations

import copy

import keras
import numpy as np
import tensorflow as tf
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
        self._forward = tf.function(lambda images: self.model(images, training=False), reduce_retracing=True)
        self.batch_size = batch_size
        self.shift, self.scale = 0.0, 1.0

    @classmethod
    def load(cls, path, batch_size: int = 500) -> "FeatureExtractor":
        return cls(keras.saving.load_model(path, compile=False), batch_size)

    def statistics(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) of every feature over ``images``; a constant feature gets std 1."""
        features, _ = self(images)
        scale = features.std(axis=0)
        scale[scale == 0] = 1.0
        return features.mean(axis=0), scale

    def standardized(self, images: np.ndarray) -> "FeatureExtractor":
        """Z-score every feature with its mean and std over ``images`` (the training split).

        One fixed scale for every class and every set scored: with a few dozen images per class,
        a feature almost constant in one class's reference would otherwise dominate the distances.
        """
        return self.with_statistics(*self.statistics(images))

    def with_statistics(self, shift: np.ndarray, scale: np.ndarray) -> "FeatureExtractor":
        """This network, z-scoring its features with ``statistics`` computed before (see ``standardized``)."""
        standardized = copy.copy(self)
        standardized.shift, standardized.scale = np.asarray(shift, np.float64), np.asarray(scale, np.float64)
        return standardized

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # A traced function, not predict(), which traces anew for every new number of images;
        # reduce_retracing keeps one trace for every batch size.
        outputs = [self._forward(images[start : start + self.batch_size])
                   for start in range(0, len(images), self.batch_size)]
        features, probabilities = (np.concatenate([keras.ops.convert_to_numpy(o[i]) for o in outputs]) for i in (0, 1))
        features = (np.asarray(features, np.float64) - self.shift) / self.scale
        return features, np.asarray(probabilities, np.float64)
