"""Fit the paper's CNN (study 1) on one source of training images, validated on real images every epoch."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd

from synthset.config import AugmentParams, ClassifierParams
from synthset.data.augment import build_augmenter
from synthset.models.classifier import build_classifier
from synthset.training import STEPS_PER_EXECUTION


def batches(images, labels, batch_size, seed, augmenter=None, shuffle=True):
    """(uint8 images, class indices) as ``tf.data`` batches, augmented per batch when given an augmenter."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if augmenter is not None:
        # One batch at a time: the random layers advance their seed generators on every call, so
        # parallel calls would draw in a different order in every run (prefetch still overlaps
        # augmentation with training).
        data = data.map(lambda x, y: (augmenter(tf.cast(x, "float32"), training=True), y))
    return data.prefetch(tf.data.AUTOTUNE)


def fit_classifier(spec: ClassifierParams, augment: AugmentParams | None, image_shape: tuple[int, int, int],
                   num_classes: int, train: tuple[np.ndarray, np.ndarray], validation: tuple[np.ndarray, np.ndarray],
                   seed: int, callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[keras.Model, pd.DataFrame]:
    """Fit one CNN with ``seed`` (``augment``: the paper's augmentation, drawn per batch; None: none);
    return it and its per-epoch curves (epoch, train_accuracy, train_loss, val_accuracy, val_loss).
    Labels are class indices 0..K-1."""
    keras.utils.set_random_seed(seed)
    augmenter = build_augmenter(augment, seed) if augment is not None else None
    model = build_classifier(
        image_shape=image_shape, num_classes=num_classes, filters=spec.filters,
        kernel_size=spec.kernel_size, dropout=spec.dropout, dense_units=spec.dense_units,
    )
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    history = model.fit(
        batches(*train, spec.batch_size, seed, augmenter),
        validation_data=batches(*validation, 1000, seed, shuffle=False),
        epochs=spec.epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
        callbacks=list(callbacks),
    )
    frame = pd.DataFrame(history.history).rename(columns={"accuracy": "train_accuracy", "loss": "train_loss"})
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return model, frame[["epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss"]]
