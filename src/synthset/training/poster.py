"""Study 2: train one of the poster's classifiers on real images; test it on real and synthetic images.

The poster's table gives, at a few epochs, train accuracy / test accuracy on a real and on a
synthetic test set. One training per model fills every column: at each epoch of
``study2.checkpoints`` a callback evaluates both test sets.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from synthset import paths, tracking
from synthset.config import Params
from synthset.datasets import class_indices, first_per_class, load_images
from synthset.generate import MANIFEST, load_synthetic
from synthset.io import save_model_atomically, write_atomically
from synthset.models.poster import build_poster_classifier
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.versions import file_md5


class TestAtCheckpoints(keras.callbacks.Callback):
    """At each table epoch, the epoch's train accuracies and every test set's accuracies.

    Keys: ``train_<metric>`` from the epoch's logs and ``test_<metric>_<test set>``, where
    ``<metric>`` is each accuracy the model reports (``accuracy``, or one per output head).
    """

    def __init__(self, checkpoints: list[int], test_sets: dict[str, tuple], tracker, label: str):
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
        self.tracker.log_metrics({k: v for k, v in row.items() if k.startswith("test_")}, step=number)
        print(f"[study2 {self.label}] epoch {number}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()), flush=True)

    def write_summary(self, path: Path, **extra) -> dict:
        """The last table epoch's values, every table epoch under ``at_epoch``: a DVC metrics file."""
        at_epoch = {str(row["epoch"]): {k: round(v, 4) for k, v in row.items() if k != "epoch"} for row in self.rows}
        summary = {**at_epoch[str(max(self.checkpoints))], "at_epoch": at_epoch, **extra}
        with write_atomically(path) as partial:
            partial.write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def subset_per_class(images: np.ndarray, labels: np.ndarray, classes: list[int], cap: int | None):
    """(images, labels) of ``datasets.first_per_class``: the first ``cap`` of each class, classes in order."""
    chosen = first_per_class(labels, classes, cap)
    return images[chosen], labels[chosen]


def real_test_set(params: Params, dataset: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, file md5): the first ``study2.test_images_per_class`` of each class of the validation split."""
    path = paths.real_split(dataset, "validation")
    images, labels = subset_per_class(*load_images(path), params.data.labels, params.study2.test_images_per_class)
    return images, labels, file_md5(path)


def train_poster_classifier(params: Params, dataset: str, model_name: str) -> dict:
    """Fit ``model_name`` on the training split (validated on the holdout); write the model, its
    per-epoch curves (DVC plots) and its table rows (DVC metrics)."""
    spec = params.study2
    classes = params.data.labels
    train_file, holdout_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "holdout")
    images, labels = subset_per_class(*load_images(train_file), classes, spec.train_images_per_class)
    labels = class_indices(labels, classes)
    holdout_images, holdout_labels = load_images(holdout_file)
    real_test, real_test_labels, validation_md5 = real_test_set(params, dataset)
    synthetic_test, synthetic_test_labels = load_synthetic(dataset, classes, paths.synthetic_test_dir(dataset))
    test_sets = {"real": (real_test, class_indices(real_test_labels, classes)),
                 "synthetic": (synthetic_test, class_indices(synthetic_test_labels, classes))}
    inputs = {"train": file_md5(train_file), "holdout": file_md5(holdout_file), "validation": validation_md5,
              "synthetic_test": file_md5(paths.synthetic_test_dir(dataset) / MANIFEST)}

    keras.utils.set_random_seed(params.seed)
    model = build_poster_classifier(model_name, image_shape=params.data.image_shape, num_classes=len(classes))
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    epochs = spec.checkpoints[-1]

    with tracking.stage_run(dataset, "train_poster_classifier", f"{dataset}-study2-{model_name}", inputs,
                            model=model_name) as tracker:
        tracker.log_params({"study2": spec.model_dump(), "model": model_name, "train_images": len(images),
                            "seed": params.seed})
        at_checkpoints = TestAtCheckpoints(spec.checkpoints, test_sets, tracker, f"{dataset}/{model_name}")
        history = model.fit(
            images, labels, batch_size=spec.batch_size, epochs=epochs, shuffle=True, verbose=0,
            validation_data=(holdout_images, class_indices(holdout_labels, classes)),
            callbacks=[MetricsToTracker(tracker), at_checkpoints, EpochTimer(f"study2 {dataset}/{model_name}", epochs)],
        )
        save_model_atomically(model, paths.poster_dir(dataset, model_name) / "model.keras")
        tracker.log_keras_model(model, "classifier", real_test[:4])

    curves = pd.DataFrame(history.history).rename(columns={"accuracy": "train_accuracy", "loss": "train_loss",
                                                          "val_accuracy": "holdout_accuracy", "val_loss": "holdout_loss"})
    curves.insert(0, "epoch", np.arange(1, len(curves) + 1))
    with write_atomically(paths.poster_history(dataset, model_name)) as partial:
        curves.to_csv(partial, index=False, float_format="%.6f")
    return at_checkpoints.write_summary(paths.poster_summary(dataset, model_name), train_images=len(images))
