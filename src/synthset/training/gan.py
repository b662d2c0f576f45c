"""Train one GAN in process: settings and images in, the trained model and its per-step history out.

No paths, no MLflow, no resume directory: the pipeline's stage (``stages.train_gan``) adds those as
callbacks, and a sweep or a test calls the same function with a step budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from synthset.config import GanParams
from synthset.data.archives import from_tanh_range, to_tanh_range
from synthset.imaging import image_grid, save_png
from synthset.models.gan import GAN, build_discriminator, build_generator, class_generator
from synthset.io import save_model
from synthset.training.callbacks import StepHistory, StopAfterSteps, fresh_path, is_checkpoint_epoch

STEP_METRICS = ["d_loss", "g_loss", "d_acc_real", "d_acc_fake"]


def build_optimizers(gan: GanParams) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(discriminator, generator) optimizers: Adam as the paper settled on, or its RMSprop try.

    Keras 2's ``decay`` (lr / (1 + decay * step)) is ``InverseTimeDecay`` with one decay step.
    """
    if gan.optimizer == "adam":
        a = gan.adam
        return tuple(keras.optimizers.Adam(rate.learning_rate, beta_1=a.beta_1, beta_2=a.beta_2)
                     for rate in (a.discriminator, a.generator))

    def rmsprop(rates):
        schedule = keras.optimizers.schedules.InverseTimeDecay(rates.learning_rate, decay_steps=1, decay_rate=rates.decay)
        return keras.optimizers.RMSprop(schedule)

    return rmsprop(gan.rmsprop.discriminator), rmsprop(gan.rmsprop.generator)


def build_networks(gan: GanParams, image_shape: tuple[int, int, int],
                   num_classes: int | None = None) -> tuple[keras.Model, keras.Model]:
    """(generator, discriminator) of the settings, class-conditional given ``num_classes``; a
    ValueError names a shape the models cannot make."""
    g, d = gan.generator, gan.discriminator
    generator = build_generator(
        latent_dim=gan.latent_dim, image_shape=image_shape, base_filters=g.base_filters,
        filters=g.filters, kernel_size=g.kernel_size, dropout=g.dropout, bn_momentum=g.bn_momentum,
        num_classes=num_classes,
    )
    discriminator = build_discriminator(
        image_shape=image_shape, filters=d.filters, strides=d.strides, kernel_size=d.kernel_size,
        dropout=d.dropout, leaky_relu_slope=d.leaky_relu_slope, num_classes=num_classes,
    )
    return generator, discriminator


def build_gan(gan: GanParams, image_shape: tuple[int, int, int], seed: int, num_classes: int | None = None) -> GAN:
    generator, discriminator = build_networks(gan, image_shape, num_classes)
    model = GAN(generator, discriminator, latent_dim=gan.latent_dim, seed=seed, ema_decay=gan.generator.ema_decay,
                augment=gan.discriminator.augment, num_classes=num_classes)
    d_optimizer, g_optimizer = build_optimizers(gan)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer, jit_compile=gan.jit_compile)
    return model


def batches(images: np.ndarray, batch_size: int, seed: int, labels: np.ndarray | None = None):
    """uint8 images as shuffled batches in the generator's [-1, 1] range (with their class indices,
    given ``labels``), reshuffled every epoch."""
    import tensorflow as tf

    scaled = to_tanh_range(images)
    return (
        tf.data.Dataset.from_tensor_slices(scaled if labels is None else (scaled, np.asarray(labels, np.int32)))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=len(images) >= batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Steps of one epoch over ``count`` images: full batches only, or one short batch when fewer."""
    return count // batch_size if count >= batch_size else 1


@dataclass
class GanTraining:
    """A trained GAN and the values ``train_step`` returned at every step of this call."""

    model: GAN
    history: pd.DataFrame  # step, epoch, and STEP_METRICS
    steps_per_epoch: int  # steps of one pass over the images

    @property
    def generator(self) -> keras.Model:
        """The generator whose images count (the weight average, when the settings keep one)."""
        return self.model.sampler


NETWORKS = ("generator", "discriminator", "ema_generator")


def save_networks(model: GAN, directory: Path) -> None:
    """The GAN's networks (not its optimizers or random state), for ``train_gan(start_from=...)``."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in NETWORKS:
        if (network := getattr(model, name)) is not None:
            network.save_weights(directory / f"{name}.weights.h5")


def load_networks(model: GAN, directory: Path) -> None:
    for name in NETWORKS:
        if (network := getattr(model, name)) is not None:
            network.load_weights(directory / f"{name}.weights.h5")


def train_gan(settings: GanParams, images: np.ndarray, *, seed: int, steps: int | None = None,
              callbacks: Sequence[keras.callbacks.Callback] = (), labels: np.ndarray | None = None,
              num_classes: int | None = None, start_from: Path | None = None) -> GanTraining:
    """Train a GAN on uint8 ``images`` (N, H, W, C) for ``settings.epochs``, or for ``steps`` steps.

    Given ``labels`` (class indices below ``num_classes``), one class-conditional GAN learns every
    class; otherwise one GAN learns all of ``images`` (the paper's GAN of one class).
    Given ``start_from`` (a directory ``save_networks`` wrote), training starts from those
    networks, with fresh optimizers: a fine-tune of a GAN that learnt other images first.
    The session is cleared and every random generator seeded first, so the same settings, images
    and seed give the same weights, in any process and after any other training.
    ``callbacks`` run after the history recorder, in order (checkpoints, tracking, pruning).
    """
    if (labels is None) != (num_classes is None):
        raise ValueError("a conditional GAN needs both labels and num_classes")
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    model = build_gan(settings, images.shape[1:], seed, num_classes)
    model.build(images[:1].shape)
    if start_from is not None:
        load_networks(model, start_from)
    data = batches(images, settings.batch_size, seed, labels)
    per_epoch = steps_per_epoch(len(images), settings.batch_size)
    recorder = StepHistory(None, STEP_METRICS, per_epoch)
    budget = [] if steps is None else [StopAfterSteps(steps)]
    epochs = settings.epochs if steps is None else math.ceil(steps / per_epoch)
    model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[recorder, *budget, *callbacks])
    history = pd.DataFrame(recorder.all_rows, columns=["step", "epoch", *STEP_METRICS])
    return GanTraining(model, history, per_epoch)


class ClassGeneratorSnapshots(keras.callbacks.Callback):
    """``GeneratorSnapshots`` of a conditional GAN: every kept epoch, each class's generator (a
    plain noise -> image view, ``models.gan.class_generator``) and grid at the paths named for
    (class index, epoch), and one grid of every class (a row each) at ``overview_path(epoch)``."""

    def __init__(self, checkpoint_path: Callable[[int, int], Path], grid_path: Callable[[int, int], Path],
                 overview_path: Callable[[int], Path], num_classes: int, noise: np.ndarray, grid_size: int,
                 every: int, epochs: int):
        super().__init__()
        self.checkpoint_path, self.grid_path, self.overview_path = checkpoint_path, grid_path, overview_path
        self.num_classes, self.noise, self.grid_size, self.every, self.epochs = num_classes, noise, grid_size, every, epochs

    def on_epoch_end(self, epoch, logs=None):
        number = epoch + 1
        if not is_checkpoint_epoch(epoch, self.every, self.epochs):
            return
        rows = []
        for index in range(self.num_classes):
            view = class_generator(self.model.sampler, index)
            save_model(view, self.checkpoint_path(index, number))
            images = from_tanh_range(view(self.noise, training=False))
            save_png(image_grid(images, self.grid_size), fresh_path(self.grid_path(index, number)))
            rows.append(images[: self.grid_size])
        save_png(image_grid(np.concatenate(rows), self.grid_size), fresh_path(self.overview_path(number)))
