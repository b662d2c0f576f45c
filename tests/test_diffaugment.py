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
    ones = tf.ones((8, 16, 16, 1))
    out = cutout(ones, keras.random.SeedGenerator(5)).numpy()
    zeroed = (out == 0).sum(axis=(1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 64).all()  # an 8x8 square, clipped at the borders


def test_same_seed_same_augmentation():
    images = _images()
    first = diff_augment(images, POLICIES, keras.random.SeedGenerator(7))
    second = diff_augment(images, POLICIES, keras.random.SeedGenerator(7))
    np.testing.assert_array_equal(first.numpy(), second.numpy())


def test_the_weight_average_follows_the_generator_and_is_what_samples(tiny_params):
    from synthset.training.gan import train_gan

    settings = tiny_params.gan
    averaged = settings.model_copy(update={"generator": settings.generator.model_copy(update={"ema_decay": 0.99})})
    plain = settings.model_copy(update={"generator": settings.generator.model_copy(update={"ema_decay": 0.0})})
    images = np.random.default_rng(0).integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)

    trained = train_gan(averaged, images, seed=1, steps=4)
    assert trained.generator is trained.model.ema_generator
    live, average = trained.model.generator.get_weights(), trained.generator.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(live, average))  # an average, not a copy
    # Warmed up: after 4 steps the decay is at most 4/13, so the random start weighs little.
    start = keras.models.clone_model(trained.model.generator)  # fresh random weights
    distance_to_live = sum(np.abs(a - b).sum() for a, b in zip(live, average))
    distance_to_random = sum(np.abs(a - b).sum() for a, b in zip(start.get_weights(), average))
    assert distance_to_live < distance_to_random
    assert train_gan(plain, images, seed=1, steps=4).generator is not None
    assert train_gan(plain, images, seed=1, steps=4).model.ema_generator is None
