"""Differentiable augmentation and the generator's weight average (models/diffaugment.py, models/gan.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from synthset.models.diffaugment import POLICIES, cutout, diff_augment, translation


def _images(count=6, size=16, channels=3):
    return tf.constant(np.random.default_rng(0).uniform(-1, 1, (count, size, size, channels)), tf.float32)


@pytest.mark.parametrize("policy", [[p] for p in POLICIES] + [list(POLICIES)])
def test_every_part_passes_gradients_and_compiles_with_xla(policy):
    images = _images()
    seeds = keras.random.SeedGenerator(1)

    @tf.function(jit_compile=True)
    def augmented_and_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = diff_augment(x, policy, seeds)
            loss = tf.reduce_sum(y * y)
        return y, tape.gradient(loss, x)

    augmented, gradient = augmented_and_gradient(images)
    assert augmented.shape == images.shape
    assert gradient is not None and float(tf.reduce_sum(tf.abs(gradient))) > 0
    changed = tf.reduce_max(tf.abs(augmented - images), axis=(1, 2, 3)).numpy()
    assert (changed > 0).sum() >= 4  # drawn per image: most images change (a zero shift may leave one)


def test_translation_moves_content_whole_pixels_and_fills_with_zero():
    image = np.zeros((1, 16, 16, 1), np.float32)
    image[0, 8, 8, 0] = 1.0
    seen = set()
    seeds = keras.random.SeedGenerator(3)
    for _ in range(20):
        moved = translation(tf.constant(image), seeds).numpy()[0, ..., 0]
        assert moved.sum() == 1.0 and moved.max() == 1.0  # one pixel, moved, not blurred
        y, x = np.argwhere(moved == 1.0)[0]
        assert abs(y - 8) <= 2 and abs(x - 8) <= 2  # at most 1/8 of 16 pixels
        seen.add((y, x))
    assert len(seen) > 3


def test_cutout_greys_a_square_of_half_the_size():
    """Half of 16 pixels is an 8x8 square: 64 zeroed pixels, fewer only where it is cut by a border.

    Wherever its corner falls, the zeroed pixels of an image are rows [cy - 4, cy + 4) times columns
    [cx - 4, cx + 4) of the image, for a centre (cy, cx) on the image; nothing else changes.
    """
    ones = tf.ones((64, 16, 16, 1))
    out = cutout(ones, keras.random.SeedGenerator(5)).numpy()[..., 0]
    assert set(np.unique(out)) <= {0.0, 1.0}  # zeroed or untouched, nothing in between
    clipped_squares = [set(range(max(c - 4, 0), min(c + 4, 16))) for c in range(16)]
    for image in out:
        rows, columns = np.nonzero((image == 0).any(axis=1))[0], np.nonzero((image == 0).any(axis=0))[0]
        assert set(rows) in clipped_squares and set(columns) in clipped_squares
        assert (image == 0).sum() == len(rows) * len(columns)  # a full rectangle, not a scatter
    zeroed = (out == 0).sum(axis=(1, 2))
    assert zeroed.max() == 64 and (zeroed == 64).sum() >= 10  # 9/16 of centres per axis keep the whole square
    # Cut by a border only: the smallest piece is a 4x4 corner (centre at 0, 0).
    assert zeroed.min() >= 16
    # Twice the image size (8 of 4 pixels: rows [cy - 4, cy + 4)) greys all of it, wherever the centre falls.
    np.testing.assert_array_equal(cutout(tf.ones((4, 4, 4, 1)), keras.random.SeedGenerator(1), ratio=2.0).numpy(), 0.0)


def test_same_seed_same_augmentation():
    images = _images()
    first = diff_augment(images, POLICIES, keras.random.SeedGenerator(7))
    second = diff_augment(images, POLICIES, keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(first.numpy(), second.numpy())


class _LiveWeights(keras.callbacks.Callback):
    """The trained generator's weights when training starts and after every step."""

    def on_train_begin(self, logs=None):
        self.average_at_start = self.model.ema_generator.get_weights()
        self.live = [self.model.generator.get_weights()]

    def on_train_batch_end(self, batch, logs=None):
        self.live.append(self.model.generator.get_weights())


def _warm_up_decay(step, ema_decay):
    """The decay after the generator's ``step``-th update (models/gan.py, TensorFlow's num_updates)."""
    return min(ema_decay, (1 + step) / (10 + step))


def test_the_weight_average_follows_the_generator_and_is_what_samples(tiny_params):
    """The average starts as the generator's initial weights; after its t-th update (t = 1, 2, ...)
    it is d_t * average + (1 - d_t) * generator, d_t = min(ema_decay, (1 + t) / (10 + t)). Recomputed
    here from the live weights after each of 4 real steps, it must match the sampler's weights."""
    from synthset.training.gan import train_gan

    settings = tiny_params.gan
    averaged = settings.model_copy(update={"generator": settings.generator.model_copy(update={"ema_decay": 0.99})})
    plain = settings.model_copy(update={"generator": settings.generator.model_copy(update={"ema_decay": 0.0})})
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)

    recorder = _LiveWeights()
    trained = train_gan(averaged, images, seed=1, steps=4, callbacks=[recorder])
    assert trained.generator is trained.model.ema_generator
    assert len(recorder.live) == 1 + 4
    for start, initial in zip(recorder.average_at_start, recorder.live[0], strict=True):
        np.testing.assert_array_equal(start, initial)
    expected = [w.astype(np.float64) for w in recorder.live[0]]
    for step, live in enumerate(recorder.live[1:], start=1):
        decay = _warm_up_decay(step, 0.99)
        expected = [decay * a + (1 - decay) * w for a, w in zip(expected, live, strict=True)]
    for got, want in zip(trained.generator.get_weights(), expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    live = trained.model.generator.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(live, trained.generator.get_weights()))  # an average, not a copy

    without = train_gan(plain, images, seed=1, steps=4)
    assert without.model.ema_generator is None and without.generator is without.model.generator


def test_the_weight_average_warms_up_then_decays_at_ema_decay():
    """Planted weights: the average at 0, the generator at 1. Updates after steps 1, 2, 3 leave
    1 - (2/11)(3/12)(4/13) = 141/143 (an average without the warm-up would be 1 - 0.99**3); at step
    1000 the warm-up decay 1001/1010 exceeds ema_decay, so 0.99 applies: from 0, one update gives 0.01."""
    from synthset.models.gan import GAN

    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    discriminator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    gan = GAN(generator, discriminator, latent_dim=2, seed=0, ema_decay=0.99)
    gan.compile(d_optimizer=keras.optimizers.Adam(), g_optimizer=keras.optimizers.Adam())
    generator.set_weights([np.ones_like(w) for w in generator.get_weights()])

    def average_after(steps):
        gan.ema_generator.set_weights([np.zeros_like(w) for w in generator.get_weights()])
        for step in steps:
            gan.g_optimizer.iterations.assign(step)
            gan._update_average()
        return gan.ema_generator.get_weights()

    for weights in average_after([1, 2, 3]):
        np.testing.assert_allclose(weights, 141 / 143, rtol=1e-6)
    for weights in average_after([1000]):
        np.testing.assert_allclose(weights, 0.01, rtol=1e-5)
