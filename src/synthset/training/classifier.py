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
from synthset.datasets import class_indices, first_per_class, load_images
from synthset.generate import MANIFEST, load_synthetic
from synthset.io import write_atomically
from synthset.models.classifier import build_classifier
from synthset.training.callbacks import EpochTimer, MetricsToTracker
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
        parts.append(load_synthetic(dataset, params.data.labels))
        inputs["synthetic"] = file_md5(paths.synthetic_dir(dataset) / MANIFEST)
    images, labels = [], []
    for part_images, part_labels in parts:
        chosen = first_per_class(part_labels, params.data.labels, cap)
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
        # One batch at a time: the random layers advance their seed generators on every call, so
        # parallel calls would draw in a different order in every run (prefetch still overlaps
        # augmentation with training).
        data = data.map(lambda x, y: (augmenter(tf.cast(x, "float32"), training=True), y))
    return data.prefetch(tf.data.AUTOTUNE)


def train_classifier(params: Params, dataset: str, source: str) -> dict[str, float]:
    """Fit the CNN on ``source`` once per seed; write the models, per-epoch curves (DVC plots) and a summary.

    The curves file holds the mean over seeds per epoch (with ``*_std`` columns), the seeds file
    every seed's rows; the summary the final epoch's mean and standard deviation.
    """
    spec = params.classifier
    images, labels, inputs = training_data(params, dataset, source)
    validation_file = paths.real_split(dataset, "validation")
    val_images, val_labels = load_images(validation_file)
    inputs["validation"] = file_md5(validation_file)
    labels, val_labels = class_indices(labels, params.data.labels), class_indices(val_labels, params.data.labels)

    tracking.connect()
    experiment_id, parent_id = tracking.experiment(f"synthset-{dataset}")
    frames = []
    with write_atomically(paths.classifier_dir(dataset, source)) as out_dir:
        out_dir.mkdir(parents=True)
        for seed in range(params.seed, params.seed + spec.seeds):
            tags = {**tracking.base_tags(inputs), "synthset.stage": "train_classifier", "synthset.dataset": dataset,
                    "synthset.source": source, "synthset.seed": str(seed)}
            with tracking.run(experiment_id, f"{dataset}-cnn-{source}-seed-{seed}", parent_id, None, tags) as tracker:
                tracker.log_params({"classifier": spec.model_dump(), "augment": params.augment.model_dump(),
                                    "source": source, "train_images": len(images), "seed": seed})
                model, frame = _fit(params, dataset, source, seed, (images, labels), (val_images, val_labels), tracker)
                model.save(out_dir / paths.classifier_model(dataset, source, seed).name)
                tracker.log_keras_model(model, "classifier", val_images[:4])
            frames.append(frame.assign(seed=seed))

    per_seed = pd.concat(frames, ignore_index=True)
    curves = per_seed.drop(columns="seed").groupby("epoch")
    mean, std = curves.mean(), curves.std(ddof=0).add_suffix("_std")
    history = pd.concat([mean, std], axis=1).reset_index()
    final = history.iloc[-1]
    summary = {key: float(final[key]) for key in history.columns if key != "epoch"}
    summary.update(train_images=len(images), seeds=spec.seeds)
    with write_atomically(paths.classifier_history(dataset, source)) as partial:
        history.to_csv(partial, index=False, float_format="%.6f")
    with write_atomically(paths.classifier_seed_history(dataset, source)) as partial:
        per_seed.to_csv(partial, index=False, float_format="%.6f")
    with write_atomically(paths.classifier_summary(dataset, source)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def _fit(params: Params, dataset: str, source: str, seed: int, train, validation, tracker) -> tuple[keras.Model, pd.DataFrame]:
    spec = params.classifier
    keras.utils.set_random_seed(seed)
    augmenter = build_augmenter(params.augment, seed) if source == "augmented" else None
    model = build_classifier(
        image_shape=params.data.image_shape, num_classes=len(params.data.labels), filters=spec.filters,
        kernel_size=spec.kernel_size, dropout=spec.dropout, dense_units=spec.dense_units,
    )
    model.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(
        _dataset(*train, spec.batch_size, seed, augmenter),
        validation_data=_dataset(*validation, 1000, seed, shuffle=False),
        epochs=spec.epochs,
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=0,
        callbacks=[MetricsToTracker(tracker), EpochTimer(f"cnn {dataset}/{source} seed {seed}", spec.epochs)],
    )
    frame = pd.DataFrame(history.history).rename(columns={"accuracy": "train_accuracy", "loss": "train_loss"})
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return model, frame[["epoch", "train_accuracy", "train_loss", "val_accuracy", "val_loss"]]
