"""The paper's DCGAN (section 2.2) as one ``keras.Model`` whose ``train_step`` reads like section 2.1."""

from __future__ import annotations

import keras
from keras import layers, ops

from synthset.config import base_size
from synthset.models.diffaugment import diff_augment


def build_generator(
    *,
    latent_dim: int,
    image_shape: tuple[int, int, int],
    base_filters: int,
    filters: list[int],
    kernel_size: int,
    dropout: float,
    bn_momentum: float,
    num_classes: int | None = None,
) -> keras.Model:
    """Noise -> Dense+ReLU -> reshape -> BN, dropout -> (up-sample, conv, BN, ReLU) per width -> tanh image.

    Each width of ``filters`` doubles the side, so the first feature map is the image side halved
    ``len(filters)`` times: the resolution decides the reshape, not a setting. With ``num_classes``, a class-conditional generator (Mirza and Osindero 2014): the one-hot
    class is a second input, joined to the noise before the first layer.
    """
    noise = keras.Input(shape=(latent_dim,), name="noise")
    inputs = [noise]
    side = base_size(image_shape[0], len(filters))
    if side is None or image_shape[0] != image_shape[1]:
        raise ValueError(f"a generator with {len(filters)} up-sampling(s) (filters {filters}) cannot make "
                         f"{image_shape[0]}x{image_shape[1]} images: the side must be square and 2**{len(filters)} "
                         "times a whole number of at least 2")
    x = noise
    if num_classes:
        one_hot = keras.Input(shape=(num_classes,), name="class_one_hot")
        inputs.append(one_hot)
        x = layers.Concatenate()([noise, one_hot])
    x = layers.Dense(side * side * base_filters, activation="relu")(x)
    x = layers.Reshape((side, side, base_filters))(x)
    x = layers.BatchNormalization(momentum=bn_momentum)(x)
    x = layers.Dropout(dropout)(x)
    for width in filters:
        x = layers.UpSampling2D()(x)
        x = layers.Conv2D(width, kernel_size, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=bn_momentum)(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(image_shape[-1], kernel_size, padding="same", activation="tanh")(x)
    return keras.Model(inputs if num_classes else noise, x, name="generator")


def build_discriminator(
    *,
    image_shape: tuple[int, int, int],
    filters: list[int],
    strides: list[int],
    kernel_size: int,
    dropout: float,
    leaky_relu_slope: float,
    num_classes: int | None = None,
) -> keras.Model:
    """Strided convolutions (no pooling) with LeakyReLU and dropout, then one logit: real vs fake.

    With ``num_classes``, a projection discriminator (Miyato and Koyama 2018): the class index is a
    second input, and the logit gains the inner product of the image's features with a learned
    embedding of its class, so the discriminator judges "a real image of this class".
    """
    image = keras.Input(shape=image_shape, name="image")
    x = image
    for width, stride in zip(filters, strides, strict=True):
        x = layers.Conv2D(width, kernel_size, strides=stride, padding="same")(x)
        x = layers.LeakyReLU(negative_slope=leaky_relu_slope)(x)
        x = layers.Dropout(dropout)(x)
    features = layers.Flatten()(x)
    logit = layers.Dense(1, name="real_logit")(features)
    if not num_classes:
        return keras.Model(image, logit, name="discriminator")
    label = keras.Input(shape=(), dtype="int32", name="class_index")
    embedded = layers.Embedding(num_classes, features.shape[-1], name="class_embedding")(label)
    projection = layers.Dot(axes=1)([embedded, features])
    return keras.Model([image, label], layers.Add()([logit, projection]), name="discriminator")


def class_generator(generator: keras.Model, label_index: int) -> keras.Model:
    """One class's images from a conditional generator, as a plain noise -> image model.

    Every per-class stage (epoch selection, generation, the test set) then treats it like a
    per-class GAN's generator. The class enters through a frozen Dense layer whose kernel is zero
    and whose bias is the one-hot class: only Keras's own layers, so the saved file loads anywhere.
    """
    latent_dim, num_classes = generator.inputs[0].shape[-1], generator.inputs[1].shape[-1]
    noise = keras.Input(shape=(latent_dim,), name="noise")
    constant_class = layers.Dense(num_classes, trainable=False, name=f"class_{label_index}")
    one_hot = constant_class(noise)
    bias = ops.convert_to_numpy(ops.one_hot(label_index, num_classes))
    constant_class.set_weights([ops.convert_to_numpy(ops.zeros((latent_dim, num_classes))), bias])
    return keras.Model(noise, generator([noise, one_hot]), name=f"generator_class_{label_index}")


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
                 ema_decay: float = 0.0, augment: tuple[str, ...] = (), num_classes: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes  # a conditional GAN: fit() gets (images, class indices)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.augment = tuple(augment)
        self.augment_seed_generator = keras.random.SeedGenerator(seed + 1)
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
        # TensorFlow's ExponentialMovingAverage(num_updates): the decay grows from 2/11 (the step
        # count is read after the first update) towards ema_decay, so after a few dozen steps the
        # average no longer remembers the random start.
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

    def judge(self, images, labels=None):
        """The discriminator's logits for ``images`` (of class ``labels``), seen through the
        differentiable augmentation."""
        if self.augment:
            images = diff_augment(images, self.augment, self.augment_seed_generator)
        return self.discriminator(images if labels is None else [images, labels], training=True)

    def generate(self, count, labels=None):
        noise = self.sample_noise(count)
        inputs = noise if labels is None else [noise, ops.one_hot(labels, self.num_classes)]
        return self.generator(inputs, training=True)

    def call(self, noise, training=False):
        return self.generator(noise, training=training)

    def train_step(self, data):
        import tensorflow as tf  # train_step needs GradientTape; the rest of the model is backend-neutral

        # A conditional GAN's fakes are drawn for the batch's own classes: each class is judged
        # against its real images as often as it appears in the data.
        real_images, labels = data if self.num_classes else (data, None)
        batch_size = ops.shape(real_images)[0]

        fake_images = self.generate(batch_size, labels)
        with tf.GradientTape() as tape:
            real_logits = self.judge(real_images, labels)
            fake_logits = self.judge(fake_images, labels)
            d_loss = self.bce(ops.ones_like(real_logits), real_logits) + self.bce(ops.zeros_like(fake_logits), fake_logits)
        d_weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_weights), d_weights))

        with tf.GradientTape() as tape:
            fooled_logits = self.judge(self.generate(batch_size, labels), labels)
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
