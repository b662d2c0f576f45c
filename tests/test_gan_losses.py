"""The DCGAN's step (``synthset.models.gan.GAN.train_step``) against hand-computed values.

A linear discriminator (logit = w . x + b) and a linear generator (image = z K + c) make every
quantity of one step a closed form: the losses (softplus of the logits), the accuracies, and the
plain-SGD updates of both networks, computed here with numpy in float64.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from synthset.models.gan import GAN

IMAGE_SHAPE = (2, 2, 1)
PIXELS = 4
LATENT = 3


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class LinearGenerator(keras.Model):
    """image = reshape(z K + c); keeps every noise batch it is called with when run eagerly (the
    step draws its own noise)."""

    def __init__(self, kernel: np.ndarray, bias: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(kernel.shape[1])
        self.dense.build((None, kernel.shape[0]))
        self.dense.set_weights([kernel.astype("float32"), bias.astype("float32")])
        self.to_image = layers.Reshape(IMAGE_SHAPE)
        self.noise_seen: list[np.ndarray] = []

    def call(self, noise, training=False):
        import tensorflow as tf

        if tf.executing_eagerly():
            self.noise_seen.append(keras.ops.convert_to_numpy(noise).astype("float64"))
        return self.to_image(self.dense(noise))


def linear_discriminator(w: np.ndarray, b: float) -> keras.Model:
    model = keras.Sequential([keras.Input(IMAGE_SHAPE), layers.Flatten(), layers.Dense(1)])
    model.layers[-1].set_weights([w.reshape(PIXELS, 1).astype("float32"), np.array([b], "float32")])
    return model


PLANTED = dict(
    w=np.array([0.5, -0.25, 1.0, 0.75]),
    b=-0.1,
    kernel=np.array([[0.6, -0.3, 0.2, 0.1], [-0.4, 0.5, -0.2, 0.3], [0.1, 0.2, 0.7, -0.5]]),
    bias=np.array([0.05, -0.1, 0.15, 0.0]),
)


def planted_gan(d_learning_rate: float, g_learning_rate: float, seed: int = 3,
                kernel: np.ndarray = PLANTED["kernel"]) -> tuple[GAN, LinearGenerator]:
    generator = LinearGenerator(kernel, PLANTED["bias"])
    gan = GAN(generator, linear_discriminator(PLANTED["w"], PLANTED["b"]), latent_dim=LATENT, seed=seed)
    gan.compile(d_optimizer=keras.optimizers.SGD(d_learning_rate), g_optimizer=keras.optimizers.SGD(g_learning_rate))
    gan.build()
    return gan, generator


def real_batch() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, size=(8, *IMAGE_SHAPE))


def test_one_step_is_the_dcgan_losses_and_sgd_updates_computed_by_hand():
    eta_d, eta_g = 0.5, 0.8
    gan, generator = planted_gan(eta_d, eta_g)
    real = real_batch()

    out = {k: float(keras.ops.convert_to_numpy(v)) for k, v in gan.train_step(real.astype("float32")).items()}

    # The step draws two noise batches: one for the discriminator's step, one for the generator's.
    assert len(generator.noise_seen) == 2
    z1, z2 = generator.noise_seen
    assert z1.shape == z2.shape == (8, LATENT) and not np.allclose(z1, z2)
    w, b, kernel, bias = PLANTED["w"], PLANTED["b"], PLANTED["kernel"], PLANTED["bias"]
    x_real, x_fake = real.reshape(8, PIXELS), z1 @ kernel + bias
    real_logits, fake_logits = x_real @ w + b, x_fake @ w + b
    # The planted batch gives accuracies strictly between 0 and 1, so a flipped sign or a swapped
    # real/fake would show.
    assert 0 < np.mean(real_logits > 0) < 1 and 0 < np.mean(fake_logits < 0) < 1

    # Discriminator: BCE(real -> 1) + BCE(fake -> 0), each a batch mean.
    d_loss = np.mean(softplus(-real_logits)) + np.mean(softplus(fake_logits))
    assert out["d_loss"] == pytest.approx(d_loss, rel=1e-5)
    assert out["d_acc_real"] == np.mean(real_logits > 0)
    assert out["d_acc_fake"] == np.mean(fake_logits < 0)
    d_real, d_fake = -sigmoid(-real_logits) / 8, sigmoid(fake_logits) / 8  # dd_loss / dlogit
    w_new = w - eta_d * (x_real.T @ d_real + x_fake.T @ d_fake)
    b_new = b - eta_d * (d_real.sum() + d_fake.sum())

    # Generator: BCE(fake -> 1) through the discriminator as its step left it.
    x_fooled = z2 @ kernel + bias
    fooled_logits = x_fooled @ w_new + b_new
    assert out["g_loss"] == pytest.approx(np.mean(softplus(-fooled_logits)), rel=1e-5)
    assert out["g_loss"] != pytest.approx(np.mean(softplus(-(x_fooled @ w + b))), rel=1e-3)  # not the old one
    d_fooled = np.outer(-sigmoid(-fooled_logits) / 8, w_new)  # dg_loss / dimage, (8, PIXELS)
    kernel_new, bias_new = kernel - eta_g * z2.T @ d_fooled, bias - eta_g * d_fooled.sum(axis=0)

    # Each network moved by its own gradient, once.
    got_w, got_b = gan.discriminator.layers[-1].get_weights()
    np.testing.assert_allclose(got_w[:, 0], w_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_b, [b_new], rtol=1e-5, atol=1e-6)
    got_kernel, got_bias = generator.dense.get_weights()
    np.testing.assert_allclose(got_kernel, kernel_new, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_bias, bias_new, rtol=1e-5, atol=1e-6)


def test_fit_logs_each_steps_values_not_running_means():
    """The paper plots losses per step: fit's epoch logs are the last step's values. The two real
    batches are planted so that the discriminator calls every image of the first one real and every
    image of the second one fake (networks frozen, the generator's image the same for any noise):
    d_acc_real is 1.0 then 0.0 per step, where a running mean would give 0.5."""
    gan, _ = planted_gan(0.0, 0.0, kernel=np.zeros_like(PLANTED["kernel"]))
    bright = np.full((8, *IMAGE_SHAPE), 0.9)  # logit 2.0 * 0.9 - 0.1 > 0
    dark = np.full((8, *IMAGE_SHAPE), -0.9)
    steps = []
    history = gan.fit(np.concatenate([bright, dark]).astype("float32"), batch_size=8, epochs=1, shuffle=False,
                      verbose=0, callbacks=[keras.callbacks.LambdaCallback(
                          on_train_batch_end=lambda batch, logs: steps.append(dict(logs)))])
    assert [step["d_acc_real"] for step in steps] == [1.0, 0.0]
    assert history.history["d_acc_real"] == [0.0]
    dark_logit = float(PLANTED["w"].sum() * -0.9 + PLANTED["b"])
    assert steps[1]["d_loss"] - steps[0]["d_loss"] == pytest.approx(
        softplus(-dark_logit) - softplus(-(PLANTED["w"].sum() * 0.9 + PLANTED["b"])), rel=1e-4)
    assert history.history["d_loss"] == [pytest.approx(steps[1]["d_loss"])]


def test_generator_step_leaves_the_discriminator_untouched(tiny_params):
    """The paper's DCGAN at the tiny scale, one step of fit(): with the discriminator's learning rate
    0, its weights must come out bit-identical while the generator's move. A step that let the
    generator's loss train the discriminator (e.g. gradients of all the GAN's weights applied with
    the generator's optimizer) would change them. (The closed-form test above checks the other
    way round: with a non-zero rate the discriminator moves exactly by its own SGD step.)"""
    from synthset.training.gan import build_gan

    gan = build_gan(tiny_params.gan, (28, 28, 1), seed=0)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.0), g_optimizer=keras.optimizers.Adam(0.01))
    gan.build()
    before_d = [keras.ops.convert_to_numpy(w).copy() for w in gan.discriminator.weights]
    before_g = [keras.ops.convert_to_numpy(w).copy() for w in gan.generator.trainable_weights]
    real = np.random.default_rng(0).uniform(-1, 1, size=(16, 28, 28, 1)).astype("float32")

    history = gan.fit(real, batch_size=16, epochs=1, verbose=0)

    assert np.isfinite(history.history["g_loss"][0]) and history.history["g_loss"][0] > 0
    after_d = [keras.ops.convert_to_numpy(w) for w in gan.discriminator.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before_d, after_d, strict=True))
    changed = [not np.array_equal(a, keras.ops.convert_to_numpy(b))
               for a, b in zip(before_g, gan.generator.trainable_weights, strict=True)]
    assert sum(changed) >= len(changed) - 2  # every layer but possibly BN betas that see no gradient
    assert changed[0]  # the first dense layer's kernel, at least
