"""The complete semi-supervised GAN the poster left as future work: Salimans et al. 2016, section 5.

The discriminator is a K-class classifier whose "fake" class is implicit: with logits l(x),
D(x) = Z / (Z + 1), Z = sum_k exp(l_k(x)) (the K+1-th logit fixed at 0). It learns from labelled
images (cross-entropy over the K digits), unlabelled real images (D -> 1) and generated ones
(D -> 0). The generator does not try to fool D directly; it matches the mean of D's last hidden
features on real and generated images (feature matching), which is what makes the classifier
good. Architectures are the paper's MNIST ones; with ``weight_norm`` the discriminator's layers are
weight-normalised and initialised from data as in the paper's code, so every unit starts with
zero-mean, unit-variance pre-activations (Salimans and Kingma 2016).
"""

from __future__ import annotations

import keras
from keras import layers, ops

HIDDEN = "features"


@keras.saving.register_keras_serializable(package="synthset")
class NormalizedDense(layers.Layer):
    """A dense layer with weight normalisation: each unit's weights are a direction (its norm divided
    out) times a scale, so a step changes where a unit looks, not how loud it is. ``initialize``
    sets scale and bias from a batch of the layer's inputs."""

    def __init__(self, units: int, activation=None, train_scale: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation, self.train_scale = units, keras.activations.get(activation), train_scale

    def build(self, input_shape):
        self.direction = self.add_weight(name="direction", shape=(input_shape[-1], self.units),
                                         initializer=keras.initializers.RandomNormal(stddev=0.1))
        self.scale = self.add_weight(name="scale", shape=(self.units,), initializer="ones", trainable=self.train_scale)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def kernel(self):
        """The kernel a plain dense layer would need to compute the same: direction times scale over norm."""
        return self.direction * self.scale / ops.sqrt(ops.sum(ops.square(self.direction), axis=0))

    def preactivation(self, inputs):
        return ops.matmul(inputs, self.kernel())

    def call(self, inputs):
        return self.activation(self.preactivation(inputs) + self.bias)

    def initialize(self, inputs) -> None:
        """Scale and bias that give ``inputs`` zero-mean, unit-variance pre-activations per unit."""
        values = ops.convert_to_numpy(self.preactivation(inputs))
        std = values.std(axis=0) + 1e-8
        self.scale.assign(ops.convert_to_numpy(self.scale) / std)
        self.bias.assign(-values.mean(axis=0) / std)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "train_scale": self.train_scale,
                "activation": keras.activations.serialize(self.activation)}


def build_ssl_discriminator(
    *, image_shape: tuple[int, int, int], num_classes: int, widths: list[int], input_noise: float, hidden_noise: float,
    weight_norm: bool = False,
) -> keras.Model:
    """Images in [0, 1] -> (K digit logits, last hidden features); Gaussian noise on every layer's input."""
    def dense(units, activation=None, **kwargs):
        if weight_norm:
            return NormalizedDense(units, activation, **kwargs)
        kwargs.pop("train_scale", None)
        return layers.Dense(units, activation=activation, **kwargs)

    image = keras.Input(shape=image_shape, name="image")
    x = layers.GaussianNoise(input_noise)(layers.Flatten()(image))
    for index, width in enumerate(widths):
        hidden = dense(width, "relu", name=HIDDEN if index == len(widths) - 1 else None)(x)
        x = layers.GaussianNoise(hidden_noise)(hidden)
    logits = dense(num_classes, train_scale=True, name="class_logits")(x)
    return keras.Model(image, [logits, hidden], name="ssl_discriminator")


def plain_copy(discriminator: keras.Model) -> keras.Model:
    """The same function with plain ``Dense`` layers (each weight-normalised layer's kernel and bias):
    what is saved, so that the file loads with Keras alone, without synthset's layer class."""
    def clone(layer):
        if isinstance(layer, NormalizedDense):
            return layers.Dense(layer.units, activation=layer.activation, name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(discriminator, clone_function=clone)
    for original, cloned in zip(discriminator.layers, copy.layers):
        if isinstance(original, NormalizedDense):
            cloned.set_weights([ops.convert_to_numpy(original.kernel()), ops.convert_to_numpy(original.bias)])
        else:
            cloned.set_weights(original.get_weights())
    return copy


def initialize_from_data(discriminator: keras.Model, images) -> None:
    """The paper's data-dependent initialisation: layer by layer, each weight-normalised layer's
    pre-activations on ``images`` (noise off) start at mean 0 and variance 1."""
    for layer in discriminator.layers:
        if isinstance(layer, NormalizedDense):
            layer.initialize(keras.Model(discriminator.input, layer.input)(images, training=False))


def build_ssl_generator(*, latent_dim: int, image_shape: tuple[int, int, int], widths: list[int]) -> keras.Model:
    """Uniform noise -> (dense, softplus, batch norm) per width -> sigmoid image in [0, 1]."""
    noise = keras.Input(shape=(latent_dim,), name="noise")
    x = noise
    for width in widths:
        x = layers.Dense(width, activation="softplus")(x)
        x = layers.BatchNormalization()(x)
    size = image_shape[0] * image_shape[1] * image_shape[2]
    image = layers.Reshape(image_shape)(layers.Dense(size, activation="sigmoid")(x))
    return keras.Model(noise, image, name="ssl_generator")


def unsupervised_loss(real_logits, fake_logits):
    """-E log D(x) - E log(1 - D(G(z))) with D = Z / (Z + 1), written with logsumexp and softplus."""
    real_lse = ops.logsumexp(real_logits, axis=1)
    fake_lse = ops.logsumexp(fake_logits, axis=1)
    return -ops.mean(real_lse) + ops.mean(ops.softplus(real_lse)) + ops.mean(ops.softplus(fake_lse))


class FeatureMatchingGAN(keras.Model):
    """Trains on batches ((labelled images, labels), unlabelled images); evaluates as a classifier."""

    def __init__(self, discriminator: keras.Model, generator: keras.Model, latent_dim: int, seed: int,
                 unlabelled_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.discriminator, self.generator, self.latent_dim = discriminator, generator, latent_dim
        self.unlabelled_weight = unlabelled_weight
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.classifier_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")

    def compile(self, d_optimizer, g_optimizer, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer, self.g_optimizer = d_optimizer, g_optimizer

    @property
    def metrics(self):
        return [self.classifier_accuracy]

    def build(self, input_shape=None):
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)
        self.built = True

    def call(self, images, training=False):
        return self.discriminator(images, training=training)[0]

    def _noise(self, count):
        return keras.random.uniform((count, self.latent_dim), seed=self.seed_generator)

    def train_step(self, data):
        import tensorflow as tf  # GradientTape; the rest is backend-neutral

        (labelled, labels), unlabelled = data
        count = ops.shape(unlabelled)[0]

        fake = self.generator(self._noise(count), training=True)
        with tf.GradientTape() as tape:
            labelled_logits, _ = self.discriminator(labelled, training=True)
            real_logits, _ = self.discriminator(unlabelled, training=True)
            fake_logits, _ = self.discriminator(fake, training=True)
            supervised = ops.mean(keras.losses.sparse_categorical_crossentropy(labels, labelled_logits, from_logits=True))
            unsupervised = unsupervised_loss(real_logits, fake_logits)
            d_loss = supervised + self.unlabelled_weight * unsupervised
        weights = self.discriminator.trainable_weights
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, weights), weights))

        with tf.GradientTape() as tape:
            _, real_features = self.discriminator(unlabelled, training=True)
            _, fake_features = self.discriminator(self.generator(self._noise(count), training=True), training=True)
            g_loss = ops.mean(ops.square(ops.mean(real_features, axis=0) - ops.mean(fake_features, axis=0)))
        weights = self.generator.trainable_weights
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, weights), weights))

        self.classifier_accuracy.update_state(labels, labelled_logits)
        return {"d_loss_supervised": supervised, "d_loss_unsupervised": unsupervised, "g_loss": g_loss,
                "accuracy": self.classifier_accuracy.result()}

    def test_step(self, data):
        images, labels = data
        self.classifier_accuracy.update_state(labels, self(images, training=False))
        return {"accuracy": self.classifier_accuracy.result()}
