"""Train the paper's CNN on one source of training data; validate on real images every epoch."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from synthset import paths, tracking
from synthset.augment import build_augmenter
from synthset.config import Params
from synthset.datasets import load_images
from synthset.generate import MANIFEST, load_synthetic
from synthset.io import write_atomically
from synthset.models.classifier import build_classifier
from synthset.training.callbacks import EpochTimer
from synthset.versions import file_md5


def training_data(params: Params, dataset: str, source: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(images, labels, input hashes) for ``source``; ``augmented`` is real data, augmented later per batch."""
    cap = params.classifier.train_images_per_class
    parts, inputs = [], {}
    if source in ("real", "augmented", "real_plus_synthetic"):
        train_file = paths.real_split(dataset, "train")
        parts.append(load_images(train_file))
        inputs["train"] = file_md5(train_file)
    if source in ("synthetic", "real_plus_synthetic"):
        parts.append(load_synthetic(dataset, params.mnist.classes))
        inputs["synthetic"] = file_md5(paths.synthetic_dir(dataset) / MANIFEST)
    images, labels = [], []
    for part_images, part_labels in parts:
        for label in params.mnist.classes:
            chosen = np.flatnonzero(part_labels == label)[:cap]
            images.append(part_images[chosen])
            labels.append(part_labels[chosen])
    return np.concatenate(images), np.concatenate(labels), inputs


def _dataset(images, labels, batch_size, seed, augmenter=None, shuffle=True):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size)
    if augmenter is not None:
        data = data.map(lambda x, y: (augmenter(tf.cast(x, "float32"), training=True), y),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


class HistoryToTracker(keras.callbacks.Callback):
    def __init__(self, tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_metrics(logs or {}, step=epoch + 1)


def train_classifier(params: Params, dataset: str, source: str) -> dict[str, float]:
    """Fit the CNN on ``source``; write the model, the per-epoch history (a DVC plot) and a summary."""
    spec = params.classifier
    seed = params.seed
    keras.utils.set_random_seed(seed)
    images, labels, inputs = training_data(params, dataset, source)
    validation_file = paths.real_split(dataset, "validation")
    val_images, val_labels = load_images(validation_file)
    inputs["validation"] = file_md5(validation_file)

    augmenter = build_augmenter(params.augment, seed) if source == "augmented" else None
    model = build_classifier(
        image_shape=params.mnist.image_shape, num_classes=len(params.mnist.classes), filters=spec.filters,
        kernel_size=spec.kernel_size, dropout=spec.dropout, dense_units=spec.dense_units,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    class_index = {label: index for index, label in enumerate(params.mnist.classes)}
    to_index = np.vectorize(class_index.__getitem__)

    tracking.connect()
    experiment_id, parent_id = tracking.experiment(f"synthset-{dataset}")
    tags = {**tracking.base_tags(inputs), "synthset.stage": "train_classifier", "synthset.dataset": dataset,
            "synthset.source": source}
    with tracking.run(experiment_id, f"{dataset}-cnn-{source}", parent_id, None, tags) as tracker:
        tracker.log_params({"classifier": spec.model_dump(), "augment": params.augment.model_dump(),
                            "source": source, "train_images": len(images), "seed": seed})
        history = model.fit(
            _dataset(images, to_index(labels), spec.batch_size, seed, augmenter),
            validation_data=_dataset(val_images, to_index(val_labels), 1000, seed, shuffle=False),
            epochs=spec.epochs,
            verbose=0,
            callbacks=[HistoryToTracker(tracker), EpochTimer(f"cnn {dataset}/{source}", spec.epochs)],
        )
        frame = pd.DataFrame(history.history).rename(columns={"accuracy": "train_accuracy", "loss": "train_loss"})
        frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
        frame = frame[["epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss"]]
        final = {key: float(frame[key].iloc[-1]) for key in frame.columns if key != "epoch"}
        final["train_images"] = len(images)

        out_dir = paths.classifier_dir(dataset, source)
        with write_atomically(out_dir) as partial:
            partial.mkdir(parents=True)
            model.save(partial / "model.keras")
        with write_atomically(paths.classifier_history(dataset, source)) as partial:
            frame.to_csv(partial, index=False, float_format="%.6f")
        with write_atomically(paths.classifier_summary(dataset, source)) as partial:
            partial.write_text(json.dumps(final, indent=2) + "\n")
        tracker.log_keras_model(model, "classifier", val_images[:4])
    return final
