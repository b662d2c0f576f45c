"""The poster's semi-supervised GAN classifier, its two variants (tasks of stage ``train_study2``).

``labelled_only`` (the poster's *): labelled real images only. ``with_synthetic`` (its **): the
same labelled real images plus as many unlabelled synthetic ones, which both heads learn to call
fake. As in the poster there is no generator in the loop: the synthetic images come from the
study 1 generators. Both are tested on the real test set.
"""

from __future__ import annotations

import numpy as np

from synthset import paths, stages
from synthset.tracking import runs
from synthset.config import Params
from synthset.data.archives import class_indices, load_images, subset_per_class
from synthset.io import save_model
from synthset.models.semi import CLASS_OR_FAKE, REAL_OR_FAKE
from synthset.tasks.study2_files import real_test_set, write_results
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.training.study2 import TestAtCheckpoints, fit_semi_discriminator, semi_targets
from synthset.hashes import file_md5


def training_set(params: Params, dataset: str, variant: str) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, str]]:
    """Labelled real images (real, their digit) and, for ``with_synthetic``, synthetic ones (fake, class K)."""
    spec, classes = params.study2.semi, params.data.labels
    train_file = paths.real_split(dataset, "train")
    images, labels = subset_per_class(*load_images(train_file), classes, spec.labelled_per_class)
    parts = [(images, semi_targets(class_indices(labels, classes), real=True))]
    inputs = {"train": file_md5(train_file)}
    if variant == "with_synthetic":
        synthetic, synthetic_labels = subset_per_class(*load_synthetic(paths.synthetic_dir(dataset), classes), classes,
                                                        spec.unlabelled_per_class)
        parts.append((synthetic, semi_targets(np.full(len(synthetic_labels), len(classes)), real=False)))
        inputs["synthetic"] = manifest_md5(paths.synthetic_dir(dataset))
    images = np.concatenate([part[0] for part in parts])
    targets = {head: np.concatenate([part[1][head] for part in parts]) for head in (REAL_OR_FAKE, CLASS_OR_FAKE)}
    return images, targets, inputs


def run(params: Params, dataset: str, variant: str) -> dict:
    """Fit one variant; write the model, per-epoch curves and the table rows (train / real test
    accuracy of the discriminator head and of the label head at each table epoch)."""
    spec, classes = params.study2, params.data.labels
    images, targets, inputs = training_set(params, dataset, variant)
    test_images, test_labels, inputs["validation"] = real_test_set(params, dataset)
    test_sets = {"real": (test_images, semi_targets(class_indices(test_labels, classes), real=True))}
    epochs = spec.checkpoints[-1]
    name = paths.semi_name(variant)

    with runs.stage_run(dataset, stages.TRAIN_STUDY2, f"{dataset}-study2-{name}", inputs, variant=variant) as tracker:
        tracker.log_params({"study2": spec.model_dump(), "variant": variant, "train_images": len(images),
                            "seed": params.seed})
        at_checkpoints = TestAtCheckpoints(spec.checkpoints, test_sets, f"{dataset}/{name}", tracker)
        model, curves = fit_semi_discriminator(
            params.data.image_shape, len(classes), spec.learning_rate, spec.batch_size, epochs, images, targets,
            params.seed, callbacks=[MetricsToTracker(tracker), at_checkpoints, EpochTimer(f"study2 {dataset}/{name}", epochs)])
        save_model(model, paths.study2_model(dataset, name))
        tracker.log_keras_model(model, "semi_gan_discriminator", test_images[:4])

    return write_results(dataset, name, curves, at_checkpoints.summary(train_images=len(images)))
