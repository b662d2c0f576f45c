"""Train the complete semi-supervised GAN with a given number of labels; test it on real digits.

Labelled images are drawn evenly from the classes of the training split (seeded); every training
image, labelled or not, also serves unlabelled, as in Salimans et al. 2016. The test set is the
whole real validation split (the MNIST test set), so the error rate compares with the paper's.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd

from synthset import paths, tracking
from synthset.config import Params
from synthset.datasets import class_indices, first_per_class, load_images
from synthset.errors import SynthsetError
from synthset.imaging import image_grid, save_png
from synthset.io import save_model_atomically, write_atomically
from synthset.models.ssl_gan import FeatureMatchingGAN, build_ssl_discriminator, build_ssl_generator
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.versions import file_md5


def labelled_subset(labels: np.ndarray, classes: list[int], count: int, seed: int) -> np.ndarray:
    """Indices of ``count`` images, the same number from each class, drawn with ``seed``."""
    if count % len(classes):
        raise SynthsetError(f"study2.ssl.labels: {count} labels cannot be split evenly over {len(classes)} classes")
    rng = np.random.default_rng(seed)
    per_class = count // len(classes)
    chosen = []
    for label in classes:
        pool = np.flatnonzero(labels == label)
        if len(pool) < per_class:
            raise SynthsetError(f"study2.ssl.labels: {count} labels need {per_class} images of class {label}, "
                                f"the training split has {len(pool)}")
        chosen.append(rng.choice(pool, per_class, replace=False))
    return np.sort(np.concatenate(chosen))


def _batches(params: Params, images: np.ndarray, labels: np.ndarray, labelled: np.ndarray, seed: int):
    """((labelled images, labels), unlabelled images) per step; the labelled set cycles."""
    import tensorflow as tf

    spec = params.study2.ssl
    unit = images.astype("float32") / 255.0
    labelled_data = (tf.data.Dataset.from_tensor_slices((unit[labelled], labels[labelled]))
                     .shuffle(len(labelled), seed=seed).repeat().batch(spec.batch_size))
    unlabelled_data = (tf.data.Dataset.from_tensor_slices(unit).shuffle(len(unit), seed=seed + 1)
                       .batch(spec.batch_size, drop_remainder=True))
    return tf.data.Dataset.zip((labelled_data, unlabelled_data)).prefetch(tf.data.AUTOTUNE)


def train_ssl_gan(params: Params, dataset: str, label_count: int) -> dict:
    spec, classes = params.study2.ssl, params.data.labels
    train_file, test_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "validation")
    images, labels = load_images(train_file)
    keep = first_per_class(labels, classes, spec.unlabelled_per_class)
    images, labels = images[keep], class_indices(labels[keep], classes)
    labelled = labelled_subset(labels, list(range(len(classes))), label_count, params.seed)
    test_images, test_labels = load_images(test_file)
    test_labels = class_indices(test_labels, classes)
    inputs = {"train": file_md5(train_file), "validation": file_md5(test_file)}

    keras.utils.set_random_seed(params.seed)
    model = FeatureMatchingGAN(
        build_ssl_discriminator(image_shape=params.data.image_shape, num_classes=len(classes),
                                widths=spec.discriminator_widths, input_noise=spec.input_noise,
                                hidden_noise=spec.hidden_noise),
        build_ssl_generator(latent_dim=spec.latent_dim, image_shape=params.data.image_shape,
                            widths=spec.generator_widths),
        latent_dim=spec.latent_dim, seed=params.seed,
    )
    model.compile(d_optimizer=keras.optimizers.Adam(spec.learning_rate, beta_1=spec.beta_1),
                  g_optimizer=keras.optimizers.Adam(spec.learning_rate, beta_1=spec.beta_1))
    model.build()
    name = f"ssl_gan_{label_count}_labels"

    with tracking.stage_run(dataset, "train_ssl_gan", f"{dataset}-study2-{name}", inputs, labels=label_count) as tracker:
        tracker.log_params({"ssl": spec.model_dump(), "labels": label_count, "unlabelled_images": len(images),
                            "seed": params.seed})
        history = model.fit(
            _batches(params, images, labels, labelled, params.seed), epochs=spec.epochs, verbose=0, shuffle=False,
            validation_data=(test_images.astype("float32") / 255.0, test_labels), validation_batch_size=1000,
            callbacks=[MetricsToTracker(tracker), EpochTimer(f"ssl-gan {dataset}/{label_count} labels", spec.epochs)],
        )
        accuracy = float(history.history["val_accuracy"][-1])
        out_dir = paths.poster_dir(dataset, name)
        save_model_atomically(model.discriminator, out_dir / "discriminator.keras")
        save_model_atomically(model.generator, out_dir / "generator.keras")
        noise = keras.random.uniform((100, spec.latent_dim), seed=params.seed)
        samples = np.clip(np.rint(255 * np.asarray(model.generator(noise, training=False))), 0, 255).astype(np.uint8)
        save_png(image_grid(samples, 10), out_dir / "samples.png")
        tracker.log_image(image_grid(samples, 10)[..., 0], "samples", step=spec.epochs)
        tracker.log_metrics({"test_accuracy": accuracy, "test_error": 1.0 - accuracy}, step=spec.epochs)

    curves = pd.DataFrame(history.history).rename(columns={"val_accuracy": "test_accuracy"})
    curves.insert(0, "epoch", np.arange(1, len(curves) + 1))
    with write_atomically(paths.poster_history(dataset, name)) as partial:
        curves.to_csv(partial, index=False, float_format="%.6f")
    summary = {"labels": label_count, "test_accuracy": round(accuracy, 4), "test_error": round(1.0 - accuracy, 4),
               "test_images": len(test_labels), "unlabelled_images": len(images), "epochs": spec.epochs}
    with write_atomically(paths.poster_summary(dataset, name)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
