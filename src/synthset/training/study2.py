"""Study 2's trainers: the poster's classifiers and its semi-supervised discriminator, fitted on real
images and tested on real and synthetic test sets at the table's epochs.

The poster's table gives, at a few epochs, train accuracy / test accuracy on a real and on a
synthetic test set. One training per model fills every column: at each epoch of ``checkpoints``
a callback evaluates every test set.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd

from synthset.models.semi import CLASS_OR_FAKE, REAL_OR_FAKE, build_semi_discriminator
from synthset.models.study2 import build_study2_classifier
from synthset.training import STEPS_PER_EXECUTION


class TestAtCheckpoints(keras.callbacks.Callback):
    """At each table epoch, the epoch's train accuracies and every test set's accuracies.

    Keys: ``train_<metric>`` from the epoch's logs and ``test_<metric>_<test set>``, where
    ``<metric>`` is each accuracy the model reports (``accuracy``, or one per output head).
    ``tracker`` (optional) receives the test values at each table epoch.
    """

    def __init__(self, checkpoints: list[int], test_sets: dict[str, tuple], label: str, tracker=None):
        super().__init__()
        self.checkpoints, self.test_sets, self.tracker, self.label = set(checkpoints), test_sets, tracker, label
        self.rows: list[dict] = []

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if number not in self.checkpoints:
            return
        row = {f"train_{k}": float(v) for k, v in logs.items() if k.endswith("accuracy") and not k.startswith("val_")}
        for name, (images, targets) in self.test_sets.items():
            scores = self.model.evaluate(images, targets, batch_size=1000, verbose=0, return_dict=True)
            row.update({f"test_{k}_{name}": float(v) for k, v in scores.items() if k.endswith("accuracy")})
        self.rows.append({"epoch": number, **row})
        if self.tracker is not None:
            self.tracker.log_metrics({k: v for k, v in row.items() if k.startswith("test_")}, step=number)
        print(f"[study2 {self.label}] epoch {number}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)

    def summary(self, **extra) -> dict:
        """The last table epoch's values, every table epoch under ``at_epoch``."""
        at_epoch = {str(row["epoch"]): {k: round(v, 4) for k, v in row.items() if k != "epoch"} for row in self.rows}
        return {**at_epoch[str(max(self.checkpoints))], "at_epoch": at_epoch, **extra}


def _curves(history: keras.callbacks.History, renames: dict[str, str]) -> pd.DataFrame:
    curves = pd.DataFrame(history.history).rename(columns=renames)
    curves.insert(0, "epoch", np.arange(1, len(curves) + 1))
    return curves


def fit_classifier(model_name: str, image_shape: tuple[int, int, int], num_classes: int, learning_rate: float,
                   batch_size: int, epochs: int, train: tuple, holdout: tuple, seed: int,
                   callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[keras.Model, pd.DataFrame]:
    """One of the poster's classifiers on (uint8 images, class indices), validated on the holdout;
    returns the model and its per-epoch train and holdout curves."""
    keras.utils.set_random_seed(seed)
    model = build_study2_classifier(model_name, image_shape=image_shape, num_classes=num_classes)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=STEPS_PER_EXECUTION)
    history = model.fit(*train, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                        validation_data=holdout, callbacks=list(callbacks))
    return model, _curves(history, {"accuracy": "train_accuracy", "loss": "train_loss",
                                    "val_accuracy": "holdout_accuracy", "val_loss": "holdout_loss"})


def semi_targets(labels: np.ndarray, real: bool) -> dict[str, np.ndarray]:
    """Both heads' targets: real (1) or fake (0), and the class index (K for fake images)."""
    return {REAL_OR_FAKE: np.full(len(labels), float(real), "float32"), CLASS_OR_FAKE: labels}


def fit_semi_discriminator(image_shape: tuple[int, int, int], num_classes: int, learning_rate: float,
                           batch_size: int, epochs: int, images: np.ndarray, targets: dict[str, np.ndarray],
                           seed: int, callbacks: Sequence[keras.callbacks.Callback] = ()) -> tuple[keras.Model, pd.DataFrame]:
    """The poster's semi-supervised discriminator on images with ``semi_targets``; returns it and its curves."""
    keras.utils.set_random_seed(seed)
    model = build_semi_discriminator(image_shape=image_shape, num_classes=num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={REAL_OR_FAKE: "binary_crossentropy", CLASS_OR_FAKE: "sparse_categorical_crossentropy"},
        metrics={REAL_OR_FAKE: [keras.metrics.BinaryAccuracy(name="accuracy")],
                 CLASS_OR_FAKE: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    history = model.fit(images, targets, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0,
                        callbacks=list(callbacks))
    return model, _curves(history, {})
