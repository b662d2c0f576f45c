"""Study 2: the poster's four classifiers and the label audit of the synthetic test set."""

import json
import re
import zipfile

import keras
import numpy as np
import pandas as pd
import pytest

from synthset import config, paths
from synthset.data.archives import save_images
from synthset.synthetic import MANIFEST
from synthset.models.study2 import build_study2_classifier
from synthset.hashes import file_md5

# Trainable weights of each model on 28x28x1 images, counted by hand from the poster's Model section:
# linear 784*10+10; fcnn 784*256+256 + 256*10+10; cnn-4l conv 5*5*32+32, dense 12*12*32*128+128,
# softmax 128*10+10; cnn-5l adds conv 5*5*32*64+64 and its dense sees 10*10*64 inputs.
EXPECTED_WEIGHTS = {
    "linear_softmax": 7_850,
    "fcnn": 203_530,
    "cnn_4l": 832 + 589_952 + 1_290,
    "cnn_5l": 832 + 51_264 + 819_328 + 1_290,
}


@pytest.mark.parametrize("name", list(EXPECTED_WEIGHTS))
def test_study2_classifiers_have_the_papers_layers(name):
    model = build_study2_classifier(name, image_shape=(28, 28, 1), num_classes=10)
    assert model.count_params() == EXPECTED_WEIGHTS[name]
    probabilities = model(np.zeros((3, 28, 28, 1), np.uint8))
    assert probabilities.shape == (3, 10)
    np.testing.assert_allclose(np.sum(probabilities, axis=1), 1.0, rtol=1e-5)


def test_unknown_study2_classifier_is_refused():
    with pytest.raises(ValueError, match="resnet"):
        build_study2_classifier("resnet", image_shape=(28, 28, 1), num_classes=10)


def test_study2_settings_must_keep_the_auditor_and_ascending_epochs(params_raw):
    from synthset.errors import SynthsetError

    params_raw["study2"]["models"] = ["fcnn"]
    with pytest.raises(SynthsetError, match=re.escape(
            "\n  study2: Value error, models ['fcnn'] must include cnn_5l, which audits the synthetic test labels")):
        config.resolve(params_raw, dataset="mnist")
    params_raw["study2"]["models"] = ["cnn_5l"]
    params_raw["scales"]["default"]["mnist"]["study2"]["checkpoints"] = [3, 1]
    with pytest.raises(SynthsetError, match=re.escape(
            "(scale 'default') for mnist: each section merged from its shared section, mnist.<section> and "
            "scales.default.mnist.<section>:\n"
            "  study2: Value error, checkpoints [3, 1] must be distinct epochs in ascending order")):
        config.resolve(params_raw, dataset="mnist")


def memorizer(images: np.ndarray, labels: np.ndarray) -> keras.Model:
    """A classifier that answers the label of the stored image most like its input (cosine match).

    A stand-in for a perfect real-trained cnn-5l: standard layers only, so it saves and loads.
    """
    flat = images.reshape(len(images), -1).astype("float32")
    unit = flat / np.linalg.norm(flat, axis=1, keepdims=True)
    image = keras.Input(shape=images.shape[1:])
    similarity = keras.layers.Dense(len(images), use_bias=False)(keras.layers.Flatten()(image))
    choice = keras.layers.Softmax()(keras.layers.Rescaling(10.0)(similarity))
    probabilities = keras.layers.Dense(10, use_bias=False)(choice)
    model = keras.Model(image, probabilities)
    model.layers[2].set_weights([unit.T])
    model.layers[5].set_weights([np.eye(10, dtype="float32")[labels]])
    return model


def write_synthetic(directory, images_by_label: dict[int, np.ndarray]) -> None:
    """A synthetic image set on disk, as the generate stages write it."""
    directory.mkdir(parents=True)
    manifest = {"classes": {}}
    for label, images in images_by_label.items():
        archive = paths.synthetic_archive(directory, label)
        save_images(archive, images, np.full(len(images), label))
        manifest["classes"][str(label)] = {"archive": archive.name, "archive_md5": file_md5(archive),
                                           "images": len(images)}
    (directory / MANIFEST).write_text(json.dumps(manifest))


def first_of_each_class(archive, classes: list[int], per_class: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of each class of a split archive (all for None), in class order,
    read with numpy alone; labels as class indices 0..K-1."""
    with np.load(archive) as data:
        images, labels = data["images"], data["labels"]
    chosen = [np.flatnonzero(labels == label)[:per_class] for label in classes]
    return images[np.concatenate(chosen)], np.concatenate([np.full(len(c), i) for i, c in enumerate(chosen)])


def test_label_audit_counts_and_draws_the_images_whose_label_is_wrong(project):
    from conftest import draw_digits

    from synthset.stages.audit_labels import run as audit_labels

    params = config.load(dataset="mnist")
    images, labels = draw_digits(5, seed=3)
    images = images[..., None]
    by_label = {label: images[labels == label] for label in range(10)}
    by_label[3] = images[labels == 8]  # the "3" generator draws eights
    write_synthetic(paths.synthetic_test_dir("mnist"), by_label)
    auditor = memorizer(images, labels)
    paths.study2_dir("mnist", "cnn_5l").mkdir(parents=True)
    auditor.save(paths.study2_model("mnist", "cnn_5l"))

    summary = audit_labels(params, "mnist")

    assert summary["disputed"] == 5 and summary["images"] == 50
    assert summary["per_class"]["3"] == {"images": 5, "disputed": 5, "disputed_share": 1.0, "taken_for": {"8": 5}}
    assert all(entry["disputed"] == 0 for label, entry in summary["per_class"].items() if label != "3")
    assert sorted(p.name for p in paths.label_audit_dir("mnist").iterdir()) == ["class_3.png"]
    assert json.loads(paths.label_audit_summary("mnist").read_text()) == summary


def test_semi_discriminator_has_a_real_fake_head_and_k_plus_1_classes():
    from synthset.models.semi import CLASS_OR_FAKE, REAL_OR_FAKE, build_semi_discriminator

    model = build_semi_discriminator(image_shape=(28, 28, 1), num_classes=10)
    outputs = model(np.zeros((4, 28, 28, 1), np.uint8))
    assert outputs[REAL_OR_FAKE].shape == (4, 1) and outputs[CLASS_OR_FAKE].shape == (4, 11)
    assert model.count_params() == EXPECTED_WEIGHTS["cnn_5l"] - 1_290 + (128 + 1) + (128 * 11 + 11)


@pytest.mark.parametrize("variant", ["labelled_only", "with_synthetic"])
def test_semi_training_sets_label_synthetic_images_fake(project, variant):
    from conftest import draw_digits

    from synthset.models.semi import CLASS_OR_FAKE, REAL_OR_FAKE
    from synthset.stages.prepare import run as prepare
    from synthset.tasks.semi_supervised import run as train_semi_classifier, training_set

    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    images, labels = draw_digits(12, seed=5)
    write_synthetic(paths.synthetic_dir("mnist"), {label: images[labels == label][..., None] for label in range(10)})
    spec = params.study2.semi

    x, targets, _ = training_set(params, "mnist", variant)

    real_count = 10 * spec.labelled_per_class
    fake_count = 10 * spec.unlabelled_per_class if variant == "with_synthetic" else 0
    assert len(x) == real_count + fake_count
    np.testing.assert_array_equal(targets[REAL_OR_FAKE], [1.0] * real_count + [0.0] * fake_count)
    assert set(targets[CLASS_OR_FAKE][:real_count]) == set(range(10))
    assert set(targets[CLASS_OR_FAKE][real_count:]) <= {10}

    summary = train_semi_classifier(params, "mnist", variant)
    assert sorted(summary["at_epoch"]) == ["1", "2"]
    assert {k: v for k, v in summary.items() if k not in ("at_epoch", "train_images")} == summary["at_epoch"]["2"]
    # The test columns, recomputed from the saved model on the real test set (first images of each
    # class of the validation split, read here with numpy).
    test_images, test_labels = first_of_each_class(paths.real_split("mnist", "validation"), params.data.labels,
                                                   params.study2.test_images_per_class)
    outputs = keras.models.load_model(paths.study2_model("mnist", f"semi_gan_{variant}")).predict(test_images, verbose=0)
    real_or_fake, class_or_fake = np.asarray(outputs[REAL_OR_FAKE]), np.asarray(outputs[CLASS_OR_FAKE])
    assert len(test_labels) == 10 * params.study2.test_images_per_class
    assert real_or_fake.shape == (len(test_labels), 1) and class_or_fake.shape == (len(test_labels), 11)
    assert summary["test_real_or_fake_accuracy_real"] == pytest.approx(np.mean(real_or_fake[:, 0] > 0.5), abs=1e-4)
    assert summary["test_class_or_fake_accuracy_real"] == pytest.approx(
        np.mean(np.argmax(class_or_fake, axis=1) == test_labels), abs=1e-4)
    # The train columns are the last epoch's, as the per-epoch curves (the dvc.yaml plot) hold them.
    curves = pd.read_csv(paths.study2_history("mnist", f"semi_gan_{variant}"))
    assert curves["epoch"].tolist() == [1, 2]
    for head in ("real_or_fake", "class_or_fake"):
        assert summary[f"train_{head}_accuracy"] == pytest.approx(curves[f"{head}_accuracy"].iloc[-1], abs=1e-4)


def test_unsupervised_loss_is_the_k_plus_1_gan_loss_with_an_implicit_fake_logit():
    from synthset.models.ssl_gan import unsupervised_loss

    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(6, 10)), rng.normal(size=(6, 10))

    def d(logits):  # D(x) = Z / (Z + 1): the K+1-th logit is 0
        z = np.exp(logits).sum(axis=1)
        return z / (z + 1)

    expected = -np.mean(np.log(d(real))) - np.mean(np.log(1 - d(fake)))
    assert float(unsupervised_loss(real.astype("float32"), fake.astype("float32"))) == pytest.approx(expected, rel=1e-5)


def test_data_dependent_initialisation_gives_each_unit_zero_mean_unit_variance_pre_activations():
    from synthset.models.ssl_gan import NormalizedDense, build_ssl_discriminator, initialize_from_data

    images = np.random.default_rng(0).uniform(size=(200, 8, 8, 1)).astype("float32")
    discriminator = build_ssl_discriminator(image_shape=(8, 8, 1), num_classes=3, widths=[16, 8], input_noise=0.3,
                                            hidden_noise=0.5, weight_norm=True)
    normalized = [layer for layer in discriminator.layers if isinstance(layer, NormalizedDense)]
    assert len(normalized) == 3  # two hidden layers and the logits

    def pre_activations(layer):
        inputs = keras.Model(discriminator.input, layer.input)(images, training=False)
        return np.asarray(layer.preactivation(inputs)) + np.asarray(layer.bias)

    assert np.abs(pre_activations(normalized[1]).std(axis=0) - 1).max() > 0.1  # not so before
    initialize_from_data(discriminator, images)
    for layer in normalized:
        values = pre_activations(layer)
        np.testing.assert_allclose(values.mean(axis=0), 0, atol=1e-4)
        np.testing.assert_allclose(values.std(axis=0), 1, atol=1e-3)
    plain = build_ssl_discriminator(image_shape=(8, 8, 1), num_classes=3, widths=[16, 8], input_noise=0.3,
                                    hidden_noise=0.5, weight_norm=False)
    assert not [layer for layer in plain.layers if isinstance(layer, NormalizedDense)]


def test_the_weight_normalised_discriminator_is_saved_as_plain_dense_layers_computing_the_same(tmp_path):
    from synthset.io import save_model
    from synthset.models.ssl_gan import build_ssl_discriminator, initialize_from_data, plain_copy

    images = np.random.default_rng(0).uniform(size=(50, 8, 8, 1)).astype("float32")
    discriminator = build_ssl_discriminator(image_shape=(8, 8, 1), num_classes=3, widths=[16, 8], input_noise=0.3,
                                            hidden_noise=0.5, weight_norm=True)
    initialize_from_data(discriminator, images)
    save_model(plain_copy(discriminator), tmp_path / "discriminator.keras")
    with zipfile.ZipFile(tmp_path / "discriminator.keras") as archive:
        layers = [layer["class_name"] for layer in json.loads(archive.read("config.json"))["config"]["layers"]]
    assert layers.count("Dense") == 3 and "NormalizedDense" not in layers  # Keras alone loads it
    loaded = keras.models.load_model(tmp_path / "discriminator.keras")
    for ours, theirs in zip(discriminator(images, training=False), loaded(images, training=False)):
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(ours), rtol=1e-5, atol=1e-5)


def test_labelled_subset_is_balanced_seeded_and_refuses_what_cannot_be_balanced():
    from synthset.errors import SynthsetError
    from synthset.training.ssl_gan import labelled_subset

    labels = np.repeat(np.arange(3), 20)
    chosen = labelled_subset(labels, [0, 1, 2], 30, seed=1)
    assert np.bincount(labels[chosen]).tolist() == [10, 10, 10]
    np.testing.assert_array_equal(chosen, labelled_subset(labels, [0, 1, 2], 30, seed=1))
    assert not np.array_equal(chosen, labelled_subset(labels, [0, 1, 2], 30, seed=2))
    with pytest.raises(SynthsetError, match="evenly"):
        labelled_subset(labels, [0, 1, 2], 31, seed=1)
    with pytest.raises(SynthsetError, match="class 0"):
        labelled_subset(labels, [0, 1, 2], 63, seed=1)


def test_ssl_gan_trains_its_generator_and_reports_test_error(project, monkeypatch):
    import synthset.training.ssl_gan as ssl_training
    from synthset.stages.prepare import run as prepare
    from synthset.tasks.ssl_gan import run as train_ssl_gan

    build_ssl_generator = ssl_training.build_ssl_generator
    initial = []  # the generator's weights as built, before any training step

    def remembering(**kwargs):
        generator = build_ssl_generator(**kwargs)
        initial.append([np.array(w) for w in generator.get_weights()])
        return generator

    monkeypatch.setattr(ssl_training, "build_ssl_generator", remembering)
    params = config.load(dataset="mnist")
    prepare(params, "mnist")

    summary = train_ssl_gan(params, "mnist", 20)

    assert summary["labels"] == 20 and summary["test_images"] == 200
    out = paths.study2_dir("mnist", "ssl_gan_20_labels")
    assert {p.name for p in out.iterdir()} == {"discriminator.keras", "generator.keras", "samples.png"}
    # The saved generator is the trained one: every weight tensor moved from its initial value.
    assert len(initial) == 1
    trained = keras.models.load_model(paths.ssl_gan_network("mnist", 20, "generator")).get_weights()
    assert [w.shape for w in trained] == [w.shape for w in initial[0]]
    assert len([w for w in trained if w.ndim == 2]) == len(params.study2.ssl.generator_widths) + 1  # dense kernels
    moved = [not np.allclose(before, after) for before, after in zip(initial[0], trained)]
    assert all(moved), moved
    # Test accuracy and error, recomputed from the saved discriminator on the whole validation split.
    test_images, test_labels = first_of_each_class(paths.real_split("mnist", "validation"), params.data.labels, None)
    discriminator = keras.models.load_model(paths.ssl_gan_network("mnist", 20, "discriminator"))
    logits, _ = discriminator.predict(test_images / 255.0, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=1) == test_labels))
    assert len(test_labels) == 200
    assert summary["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert summary["test_error"] == pytest.approx(1 - accuracy, abs=1e-4)
    curves = pd.read_csv(paths.study2_history("mnist", "ssl_gan_20_labels"))
    assert {"epoch", "d_loss_supervised", "d_loss_unsupervised", "g_loss", "test_accuracy"} <= set(curves.columns)
    assert curves["epoch"].tolist() == list(range(1, params.study2.ssl.epochs + 1))
    assert curves["test_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-6)


def test_the_ssl_gan_curve_script_prints_the_test_error_every_few_steps(tmp_path, capsys):
    import runpy

    from conftest import PROJECT, write_tiny_mnist

    write_tiny_mnist(tmp_path / "mnist")
    script = runpy.run_path(str(PROJECT / "scripts" / "ssl_gan_curve.py"))  # its functions, not its __main__
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(PROJECT)  # params.yaml
        script["main"](["--data", str(tmp_path / "mnist"), "--steps", "4", "--every", "2", "--labels", "20", "--plain"])
    output = capsys.readouterr().out
    assert "600 training digits, 20 labelled; weight_norm False, unlabelled_weight 0.5" in output
    errors = re.findall(r"^step (\d+): test error ([0-9.]+)", output, re.M)
    assert [step for step, _ in errors] == ["2", "4"] and all(0 <= float(e) <= 1 for _, e in errors)
