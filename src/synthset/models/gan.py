"""The paper's DCGAN (section 2.2) as one ``keras.Model`` whose ``train_step`` reads like section 2.1."""

from __future__ import annotations

import keras
from keras import layers, ops


def build_generator(
    *,
    latent_dim: int,
    image_shape: tuple[int, int, int],
    base_size: int,
    base_filters: int,
    filters: list[int],
    kernel_size: int,
    dropout: float,
    bn_momentum: float,
) -> keras.Model:
    """Noise -> Dense+ReLU -> reshape -> BN, dropout -> (up-sample, conv, BN, ReLU) per width -> tanh image."""
    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = layers.Dense(base_size * base_size * base_filters, activation="relu")(noise)
    x = layers.Reshape((base_size, base_size, base_filters))(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.Dropout(dropout)(x)
    for width in filters:
        x = layers.UpSampling2D()(x)
        x = layers.Conv2D(width, kernel_size, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=bn_momentum)(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(image_shape[-1], kernel_size, padding="same", activation="tanh")(x)
    if tuple(x.shape[1:]) != tuple(image_shape):
        raise ValueError(
            f"generator makes images of shape {tuple(x.shape[1:])}, not {tuple(image_shape)}: "
            f"base_size * 2**len(filters) must equal the image size"
        )
    return keras.Model(noise, x, name="generator")


def build_discriminator(
    *,
    image_shape: tuple[int, int, int],
    filters: list[int],
    strides: list[int],
    kernel_size: int,
    dropout: float,
    leaky_relu_slope: float,
) -> keras.Model:
    """Strided convolutions (no pooling) with LeakyReLU and dropout, then one logit: real vs fake."""
    image = keras.Input(shape=image_shape, name="image")
    x = image
    for width, stride in zip(filters, strides, strict=True):
        x = layers.Conv2D(width, kernel_size, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=leaky_relu_slope)(x)
        x = layers.Dropout(dropout)(x)
    x = layers.Flatten()(x)
    logit = layers.Dense(1, name="real_logit")(x)
    return keras.Model(image, logit, name="discriminator")


class GAN(keras.Model):
    """Generator and discriminator trained in turn with ``fit()``.

    Per step: the discriminator learns real -> 1 and generated -> 0, then the generator learns
    through the (untouched) discriminator to make it answer 1. ``train_step`` returns the values
    of this step, not running means, because the paper plots losses per step (its Figure 7).

    With ``ema_decay`` > 0 a copy of the generator follows the trained one as an exponential moving
    average of its weights; that copy is ``sampler``, the generator whose images count
    (checkpoints, selection, generation). Averaging irons out the oscillation of adversarial
    training, which matters most for the short trainings of the default scale.
    """

    def __init__(self, generator: keras.Model, discriminator: keras.Model, latent_dim: int, seed: int,
                 ema_decay: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.ema_decay = ema_decay
        self.ema_generator = None
        if ema_decay:
            self.ema_generator = keras.models.clone_model(generator)
            self.ema_generator.set_weights(generator.get_weights())

    @property
    def sampler(self) -> keras.Model:
        """The generator whose images count: the weight average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def _update_average(self) -> None:
        # TensorFlow's ExponentialMovingAverage(num_updates): the decay grows from 0.1 towards
        # ema_decay, so after a few dozen steps the average no longer remembers the random start.
        step = ops.cast(self.g_optimizer.iterations, "float32")
        decay = ops.minimum(self.ema_decay, (1.0 + step) / (10.0 + step))
        for average, weight in zip(self.ema_generator.weights, self.generator.weights, strict=True):
            average.assign(decay * average + (1.0 - decay) * weight)

    def compile(self, d_optimizer: keras.optimizers.Optimizer, g_optimizer: keras.optimizers.Optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.bce = keras.losses.BinaryCrossentropy(from_logits=True)

    def sample_noise(self, count):
        return keras.random.normal((count, self.latent_dim), seed=self.seed_generator)

    def build(self, input_shape=None):
        # Optimizer slots must exist before BackupAndRestore loads a checkpoint into them.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.built = True

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def train_step(self, real_images):
        import tensorflow as tf  # train_step needs GradientTape; the rest of the model is backend-neutral

        batch_size = ops.shape(real_images)[0]

        fake_images = self.generator(self.sample_noise(batch_size), training=True)
        with tf.GradientTape() as tape:
            real_logits = self.discriminator(real_images, training=True)
            fake_logits = self.discriminator(fake_images, training=True)
            d_loss = self.bce(ops.ones_like(real_logits), real_logits) + self.bce(ops.zeros_like(fake_logits), fake_logits)
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_weights), d_weights))

        with tf.GradientTape() as tape:
            fooled_logits = self.discriminator(self.generator(self.sample_noise(batch_size), training=True), training=True)
            g_loss = self.bce(ops.ones_like(fooled_logits), fooled_logits)
        g_weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_weights), g_weights))
        if self.ema_generator is not None:
            self._update_average()

        return {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_acc_real": ops.mean(ops.cast(real_logits > 0, "float32")),
            "d_acc_fake": ops.mean(ops.cast(fake_logits < 0, "float32")),
        }
