"""The poster's semi-supervised GAN classifier, its two variants.

``labelled_only`` (the poster's *): labelled real images only. ``with_synthetic`` (its **): the
same labelled real images plus as many unlabelled synthetic ones, which both heads learn to call
fake. As in the poster there is no generator in the loop: the synthetic images come from the
study 1 generators. Both are tested on the real test set.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd

from synthset import paths, tracking
from synthset.config import SEMI_VARIANTS, Params
from synthset.datasets import class_indices, load_images
from synthset.generate import MANIFEST, load_synthetic
from synthset.io import save_model_atomically, write_atomically
from synthset.models.semi import CLASS_OR_FAKE, REAL_OR_FAKE, build_semi_discriminator
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.training.poster import TestAtCheckpoints, real_test_set, subset_per_class
from synthset.versions import file_md5

def _targets(labels: np.ndarray, real: bool) -> dict[str, np.ndarray]:
    return {REAL_OR_FAKE: np.full(len(labels), float(real), "float32"), CLASS_OR_FAKE: labels}


def training_set(params: Params, dataset: str, variant: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str]]:
    """Labelled real images (real, their digit) and, for ``with_synthetic``, synthetic ones (fake, class K)."""
    spec, classes = params.study2.semi, params.data.labels
    train_file = paths.real_split(dataset, "train")
    images, labels = subset_per_class(*load_images(train_file), classes, spec.labelled_per_class)
    parts = [(images, _targets(class_indices(labels, classes), real=True))]
    inputs = {"train": file_md5(train_file)}
    if variant == "with_synthetic":
        synthetic, synthetic_labels = subset_per_class(*load_synthetic(dataset, classes), classes,
                                                        spec.unlabelled_per_class)
        parts.append((synthetic, _targets(np.full(len(synthetic_labels), len(classes)), real=False)))
        inputs["synthetic"] = file_md5(paths.synthetic_dir(dataset) / MANIFEST)
    images = np.concatenate([part[0] for part in parts])
    targets = {head: np.concatenate([part[1][head] for part in parts]) for head in (REAL_OR_FAKE, CLASS_OR_FAKE)}
    return images, targets, inputs


def train_semi_classifier(params: Params, dataset: str, variant: str) -> dict:
    """Fit one variant; write the model, per-epoch curves and the table rows (train / real test
    accuracy of the discriminator head and of the label head at each table epoch)."""
    spec, classes = params.study2, params.data.labels
    images, targets, inputs = training_set(params, dataset, variant)
    test_images, test_labels, inputs["validation"] = real_test_set(params, dataset)
    test_sets = {"real": (test_images, _targets(class_indices(test_labels, classes), real=True))}

    keras.utils.set_random_seed(params.seed)
    model = build_semi_discriminator(image_shape=params.data.image_shape, num_classes=len(classes))
    model.compile(
        optimizer=keras.optimizers.Adam(spec.learning_rate),
        loss={REAL_OR_FAKE: "binary_crossentropy", CLASS_OR_FAKE: "sparse_categorical_crossentropy"},
        metrics={REAL_OR_FAKE: [keras.metrics.BinaryAccuracy(name="accuracy")],
                 CLASS_OR_FAKE: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]},
    )
    epochs = spec.checkpoints[-1]
    name = f"semi_gan_{variant}"

    with tracking.stage_run(dataset, "train_semi_classifier", f"{dataset}-study2-{name}", inputs,
                            variant=variant) as tracker:
        tracker.log_params({"study2": spec.model_dump(), "variant": variant, "train_images": len(images),
                            "seed": params.seed})
        at_checkpoints = TestAtCheckpoints(spec.checkpoints, test_sets, tracker, f"{dataset}/{name}")
        history = model.fit(
            images, targets, batch_size=spec.batch_size, epochs=epochs, shuffle=True, verbose=0,
            callbacks=[MetricsToTracker(tracker), at_checkpoints, EpochTimer(f"study2 {dataset}/{name}", epochs)],
        )
        save_model_atomically(model, paths.poster_dir(dataset, name) / "model.keras")
        tracker.log_keras_model(model, "semi_gan_discriminator", test_images[:4])

    curves = pd.DataFrame(history.history)
    curves.insert(0, "epoch", np.arange(1, len(curves) + 1))
    with write_atomically(paths.poster_history(dataset, name)) as partial:
        curves.to_csv(partial, index=False, float_format="%.6f")
    return at_checkpoints.write_summary(paths.poster_summary(dataset, name), train_images=len(images))
