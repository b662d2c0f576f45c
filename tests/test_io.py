"""Writes: those that fail for lack of room name the file and leave nothing half-written, and a
model saved twice is the same file."""

from __future__ import annotations

import errno
import os

import keras
import pytest

from synthset.errors import SynthsetError
from synthset.io import names_a_full_disk, save_model, write_atomically


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    OSError(errno.EFBIG, os.strerror(errno.EFBIG)),
    # h5py's way: no errno attribute, the C library's in the message
    OSError(f"Can't synchronously write data (file write failed: errno = 28, error message = '{os.strerror(errno.ENOSPC)}')"),
])
def test_no_room_names_the_file_and_removes_the_partial_one(tmp_path, error):
    target = tmp_path / "class_0.npz"
    target.write_bytes(b"the previous, complete version")
    with pytest.raises(SynthsetError, match=rf"{target}: (No space left on device|File too large) while writing it"):
        with write_atomically(target) as partial:
            partial.write_bytes(b"half of it")
            raise error
    assert target.read_bytes() == b"the previous, complete version"
    assert list(tmp_path.iterdir()) == [target]


def test_other_os_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(PermissionError):
        with names_a_full_disk(tmp_path / "x"):
            raise PermissionError(errno.EACCES, "Permission denied")


def _model_kinds(params):
    """Every kind of model the pipeline saves, each a function that builds it afresh."""
    from synthset.models.classifier import build_classifier
    from synthset.models.features import build_feature_network
    from synthset.models.gan import class_generator
    from synthset.models.semi import build_semi_discriminator
    from synthset.models.ssl_gan import build_ssl_discriminator, build_ssl_generator, plain_copy
    from synthset.models.study2 import build_study2_classifier
    from synthset.training.gan import build_gan

    shape, ssl = params.data.image_shape, params.study2.ssl
    classifier = params.classifier

    def compiled(model):
        model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return {
        "classifier": lambda: compiled(build_classifier(
            image_shape=shape, num_classes=10, filters=classifier.filters, kernel_size=classifier.kernel_size,
            dropout=classifier.dropout, dense_units=classifier.dense_units)),
        "feature network": lambda: build_feature_network(image_shape=shape, num_classes=10, filters=[4, 4],
                                                         feature_dim=8, dropout=0.3),
        "generator": lambda: build_gan(params.gan, shape, seed=0).generator,
        "conditional generator's class view": lambda: class_generator(
            build_gan(params.gan, shape, seed=0, num_classes=10).generator, 3),
        "study 2 cnn_5l": lambda: compiled(build_study2_classifier("cnn_5l", image_shape=shape, num_classes=10)),
        "semi-supervised discriminator": lambda: build_semi_discriminator(image_shape=shape, num_classes=10),
        "ssl discriminator": lambda: plain_copy(build_ssl_discriminator(
            image_shape=shape, num_classes=10, widths=[8, 8], input_noise=ssl.input_noise,
            hidden_noise=ssl.hidden_noise, weight_norm=True)),
        "ssl generator": lambda: build_ssl_generator(latent_dim=ssl.latent_dim, image_shape=shape, widths=[8]),
    }


def test_two_saves_of_the_same_model_are_byte_identical(project, tmp_path):
    """Keras writes Python object ids (``shared_object_id``) into config.json: two builds of one
    model, as two processes of the pipeline make, would differ and DVC would see a new version."""
    from synthset import config

    for name, build in _model_kinds(config.load(dataset="mnist")).items():
        saved = []
        for attempt in range(2):
            keras.backend.clear_session()  # the same layer names, as in a fresh process
            keras.utils.set_random_seed(0)
            path = tmp_path / f"{name}-{attempt}.keras"
            save_model(build(), path)
            saved.append(path.read_bytes())
        assert saved[0] == saved[1], name
        assert keras.models.load_model(path) is not None
