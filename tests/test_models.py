import keras
import numpy as np
import pytest

from synthset.models.classifier import build_classifier
from synthset.models.gan import build_discriminator, build_generator
from synthset.training.gan import build_gan, build_optimizers


@pytest.mark.parametrize("scale", ["default", "paper", "tiny"])
def test_gan_shapes_at_every_scale(params_raw, scale):
    from synthset import config

    params = config.resolve(params_raw, scale=scale, dataset="mnist")
    gan = build_gan(params.gan, params.data_of("mnist").image_shape, seed=0)
    images = gan.generator(np.zeros((3, params.gan.latent_dim), "float32"))
    assert tuple(images.shape) == (3, 28, 28, 1)
    assert tuple(gan.discriminator(images).shape) == (3, 1)


def test_generator_output_is_tanh_bounded():
    generator = build_generator(latent_dim=10, image_shape=(16, 16, 3), base_filters=8, filters=[8, 4],
                                kernel_size=3, dropout=0.4, bn_momentum=0.9)
    images = keras.ops.convert_to_numpy(generator(np.random.default_rng(0).normal(size=(5, 10)) * 100))
    assert images.shape == (5, 16, 16, 3) and np.abs(images).max() <= 1.0


def test_generator_refuses_sizes_that_do_not_reach_the_image():
    with pytest.raises(ValueError, match="3 up-sampling\\(s\\) \\(filters \\[8, 4, 2\\]\\) cannot make 28x28"):
        build_generator(latent_dim=10, image_shape=(28, 28, 1), base_filters=8, filters=[8, 4, 2],
                        kernel_size=3, dropout=0.0, bn_momentum=0.9)


def test_discriminator_is_strided_without_pooling():
    discriminator = build_discriminator(image_shape=(28, 28, 1), filters=[8, 16], strides=[2, 2], kernel_size=3,
                                        dropout=0.4, leaky_relu_slope=0.2)
    kinds = {type(layer).__name__ for layer in discriminator.layers}
    assert "MaxPooling2D" not in kinds and {"Conv2D", "LeakyReLU", "Dropout", "Dense"} <= kinds


def test_train_step_reports_per_step_losses_and_accuracies(tiny_params):
    """The epoch's logged values are its last step's, and each accuracy is a count of the step's 16
    images (hand-computed values on planted networks: tests/test_gan_losses.py)."""
    gan = build_gan(tiny_params.gan, (28, 28, 1), seed=0)
    real = np.random.default_rng(0).uniform(-1, 1, size=(32, 28, 28, 1)).astype("float32")
    steps = []
    history = gan.fit(real, batch_size=16, epochs=1, verbose=0, callbacks=[
        keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: steps.append(dict(logs)))])
    assert len(steps) == 2
    for key in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake"):
        assert history.history[key] == [pytest.approx(steps[-1][key], rel=1e-6)]
    for step in steps:
        assert step["d_loss"] > 0 and step["g_loss"] > 0 and np.isfinite([step["d_loss"], step["g_loss"]]).all()
        for key in ("d_acc_real", "d_acc_fake"):
            assert step[key] * 16 == pytest.approx(round(step[key] * 16), abs=1e-5), (key, step[key])


def test_training_moves_both_networks(tiny_params):
    gan = build_gan(tiny_params.gan, (28, 28, 1), seed=0)
    gan.build()
    before_d = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    before_g = [w.numpy().copy() for w in gan.generator.trainable_weights]
    gan.fit(np.zeros((16, 28, 28, 1), "float32"), batch_size=16, epochs=1, verbose=0)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_d, gan.discriminator.trainable_weights))
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(before_g, gan.generator.trainable_weights))


def test_rmsprop_uses_the_papers_rates_and_time_decay(tiny_params):
    settings = tiny_params.gan.model_copy(update={"optimizer": "rmsprop"})
    d_optimizer, g_optimizer = build_optimizers(settings)
    assert isinstance(d_optimizer, keras.optimizers.RMSprop)
    schedule = g_optimizer.learning_rate if callable(g_optimizer.learning_rate) else g_optimizer._learning_rate
    assert float(schedule(0)) == pytest.approx(4e-4)
    assert float(schedule(10**8)) == pytest.approx(4e-4 / (1 + 3e-8 * 10**8))


@pytest.mark.parametrize("shape", [(28, 28, 1), (64, 64, 3)])
def test_classifier_is_five_conv_pool_blocks(shape):
    model = build_classifier(image_shape=shape, num_classes=10, filters=[4, 4, 4, 4, 4], kernel_size=3, dropout=0.5,
                             dense_units=8)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 5 and kinds.count("MaxPooling2D") == 5 and kinds.count("Dense") == 2
    probabilities = keras.ops.convert_to_numpy(model(np.zeros((2, *shape), "uint8")))
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("image_shape, filters, strides, num_classes", [
    ((32, 32, 1), [8, 4], [2, 2], None), ((64, 64, 3), [8, 4], [2, 2, 2], 3), ((128, 128, 3), [8, 4, 4], [2, 2, 2, 2], None)],
    ids=["grey-32-per-class", "rgb-64-conditional", "rgb-128-per-class"])
def test_every_gan_kind_trains_a_step_with_diffaugment_at_any_resolution(tiny_params, image_shape, filters, strides,
                                                                         num_classes):
    """A dataset's resolution decides the up-samplings; the one GAN model, per-class or
    conditional (shared_then_per_class is per-class GANs), with every augmentation, trains at each."""
    gan_settings = tiny_params.gan.model_copy(update={
        "generator": tiny_params.gan.generator.model_copy(update={"filters": filters}),
        "discriminator": tiny_params.gan.discriminator.model_copy(
            update={"filters": [4] * len(strides), "strides": strides, "augment": ["color", "translation", "cutout"]})})
    gan = build_gan(gan_settings, image_shape, seed=0, num_classes=num_classes)
    from synthset.training.gan import batches

    images = np.random.default_rng(0).integers(0, 256, size=(4, *image_shape), dtype=np.uint8)
    labels = None if num_classes is None else np.asarray([0, 1, 2, 0])
    history = gan.fit(batches(images, 4, seed=0, labels=labels), epochs=1, verbose=0).history
    assert history and all(np.isfinite(values[-1]) for values in history.values()), history
    assert tuple(gan.generator.output.shape[1:]) == image_shape
