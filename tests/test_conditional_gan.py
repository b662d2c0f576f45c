"""The class-conditional GAN (``gan.kind: conditional``): one model for every class, whose per-class
generator views every per-class stage reads like a per-class GAN's generators."""

import keras
import numpy as np

from conftest import draw_digits
from synthset.models.gan import class_generator
from synthset.training.gan import train_gan


def test_a_conditional_gan_takes_a_class_and_each_class_view_is_a_plain_model(tiny_params, tmp_path):
    images, labels = draw_digits(60, seed=0)
    trained = train_gan(tiny_params.gan, images[..., None], seed=3, steps=4, labels=labels, num_classes=10)
    assert [tuple(i.shape) for i in trained.generator.inputs] == [(None, 100), (None, 10)]
    assert [tuple(i.shape) for i in trained.model.discriminator.inputs] == [(None, 28, 28, 1), (None,)]

    noise = np.random.default_rng(0).standard_normal((5, 100)).astype("float32")
    view = class_generator(trained.generator, 7)
    direct = trained.generator([noise, np.eye(10, dtype="float32")[[7] * 5]], training=False)
    np.testing.assert_allclose(view(noise, training=False), direct, atol=1e-6)
    view.save(tmp_path / "class_7.keras")
    loaded = keras.saving.load_model(tmp_path / "class_7.keras")  # only Keras's own layers: no custom objects
    np.testing.assert_allclose(loaded(noise, training=False), direct, atol=1e-6)
    assert not np.allclose(class_generator(trained.generator, 3)(noise, training=False), direct)


class _InitialWeights(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.embedding = self.model.discriminator.get_layer("class_embedding").get_weights()[0]
        self.class_rows = self.model.generator.layers[_first_dense(self.model.generator)].get_weights()[0][100:]


def _first_dense(generator):
    return next(i for i, layer in enumerate(generator.layers) if isinstance(layer, keras.layers.Dense))


def test_a_conditional_gan_learns_from_labelled_batches(tiny_params):
    """Trained on classes 0-4 of 10, the GAN moves exactly what those labels reach: the
    discriminator's class embeddings of 0-4 and the generator's weights from the one-hot inputs of
    0-4 (its first layer's rows after the 100 noise rows). Those of the unseen classes 5-9 get no
    gradient and stay as initialised. A GAN that ignored or replaced the labels would fail either half."""
    images, labels = draw_digits(8, seed=0)
    seen = labels < 5
    initial = _InitialWeights()
    trained = train_gan(tiny_params.gan, images[seen][..., None], seed=3, steps=3, labels=labels[seen],
                        num_classes=10, callbacks=[initial])

    embedding = trained.model.discriminator.get_layer("class_embedding").get_weights()[0]
    class_rows = trained.model.generator.layers[_first_dense(trained.model.generator)].get_weights()[0][100:]
    for label in range(5):
        assert not np.allclose(embedding[label], initial.embedding[label]), label
        assert not np.allclose(class_rows[label], initial.class_rows[label]), label
    np.testing.assert_array_equal(embedding[5:], initial.embedding[5:])
    np.testing.assert_array_equal(class_rows[5:], initial.class_rows[5:])
