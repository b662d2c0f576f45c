"""Fit the complete semi-supervised GAN (Salimans et al. 2016, feature matching) on a few labelled and
many unlabelled images; every training image, labelled or not, also serves unlabelled, as in the paper."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import pandas as pd

from synthset.config import SslParams
from synthset.errors import SynthsetError

INIT_IMAGES = 500
from synthset.models.ssl_gan import FeatureMatchingGAN, build_ssl_discriminator, build_ssl_generator, initialize_from_data


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


def batches(spec: SslParams, images: np.ndarray, labels: np.ndarray, labelled: np.ndarray, seed: int):
    """((labelled images, labels), unlabelled images) per step; the labelled set cycles."""
    import tensorflow as tf

    unit = images.astype("float32") / 255.0
    labelled_data = (tf.data.Dataset.from_tensor_slices((unit[labelled], labels[labelled]))
                     .shuffle(len(labelled), seed=seed).repeat().batch(spec.batch_size))
    unlabelled_data = (tf.data.Dataset.from_tensor_slices(unit).shuffle(len(unit), seed=seed + 1)
                       .batch(spec.batch_size, drop_remainder=True))
    return tf.data.Dataset.zip((labelled_data, unlabelled_data)).prefetch(tf.data.AUTOTUNE)


def fit_ssl_gan(spec: SslParams, image_shape: tuple[int, int, int], num_classes: int, images: np.ndarray,
                labels: np.ndarray, labelled: np.ndarray, test: tuple[np.ndarray, np.ndarray], seed: int,
                callbacks: Sequence[keras.callbacks.Callback] = (), steps_per_epoch: int | None = None,
                ) -> tuple[FeatureMatchingGAN, pd.DataFrame]:
    """Fit on uint8 ``images`` with class indices ``labels``, of which ``labelled`` are known; test on
    ``test`` (uint8 images, class indices) every epoch. Returns the model and its per-epoch curves.
    An epoch is a pass over ``images``, or ``steps_per_epoch`` steps of a stream that repeats them."""
    keras.utils.set_random_seed(seed)
    model = FeatureMatchingGAN(
        build_ssl_discriminator(image_shape=image_shape, num_classes=num_classes, widths=spec.discriminator_widths,
                                input_noise=spec.input_noise, hidden_noise=spec.hidden_noise,
                                weight_norm=spec.weight_norm),
        build_ssl_generator(latent_dim=spec.latent_dim, image_shape=image_shape, widths=spec.generator_widths),
        latent_dim=spec.latent_dim, seed=seed, unlabelled_weight=spec.unlabelled_weight,
    )
    if spec.weight_norm:  # the paper's code initialises from 500 training images
        chosen = np.random.default_rng(seed).choice(len(images), min(INIT_IMAGES, len(images)), replace=False)
        initialize_from_data(model.discriminator, images[chosen].astype("float32") / 255.0)
    model.compile(d_optimizer=keras.optimizers.Adam(spec.learning_rate, beta_1=spec.beta_1),
                  g_optimizer=keras.optimizers.Adam(spec.learning_rate, beta_1=spec.beta_1))
    model.build()
    data = batches(spec, images, labels, labelled, seed)
    history = model.fit(
        data if steps_per_epoch is None else data.repeat(), epochs=spec.epochs, steps_per_epoch=steps_per_epoch,
        verbose=0, shuffle=False,
        validation_data=(test[0].astype("float32") / 255.0, test[1]), validation_batch_size=1000,
        callbacks=list(callbacks),
    )
    curves = pd.DataFrame(history.history).rename(columns={"val_accuracy": "test_accuracy"})
    curves.insert(0, "epoch", np.arange(1, len(curves) + 1))
    return model, curves
