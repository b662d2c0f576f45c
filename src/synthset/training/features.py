"""Fit the quality metrics' feature network: a classifier of the dataset's own classes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np

from synthset.config import FeatureNetworkParams
from synthset.models.features import build_feature_network
from synthset.training import STEPS_PER_EXECUTION


def fit_feature_network(spec: FeatureNetworkParams, image_shape: tuple[int, int, int], num_classes: int,
                        train: tuple[np.ndarray, np.ndarray], holdout: tuple[np.ndarray, np.ndarray], seed: int,
                        callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[keras.Model, dict[str, float]]:
    """Fit on ``train`` (uint8 images, class indices); return the network and its holdout accuracy and loss."""
    keras.utils.set_random_seed(seed)
    network = build_feature_network(image_shape=image_shape, num_classes=num_classes, filters=spec.filters,
                                    feature_dim=spec.feature_dim, dropout=spec.dropout)
    rate = spec.learning_rate
    if spec.schedule == "cosine":
        steps = math.ceil(len(train[0]) / spec.batch_size) * spec.epochs
        rate = keras.optimizers.schedules.CosineDecay(spec.learning_rate, decay_steps=steps)
    network.compile(optimizer=keras.optimizers.Adam(rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    network.fit(*train, batch_size=spec.batch_size, epochs=spec.epochs, shuffle=True, validation_data=holdout,
                verbose=0, callbacks=list(callbacks))
    loss, accuracy = network.evaluate(*holdout, batch_size=1000, verbose=0)
    return network, {"holdout_accuracy": float(accuracy), "holdout_loss": float(loss)}
