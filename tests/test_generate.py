import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from synthset import config, paths
from synthset.data.archives import load_images, save_images
from synthset.errors import SynthsetError
from synthset.stages.generate import run as generate_dataset
from synthset.stages.generate_test import run as generate_test_set
from synthset.tasks.study1_cnn import training_data
from synthset.synthetic import MANIFEST, load_synthetic
from synthset.training.gan import build_gan
from synthset.tasks.study2_files import real_test_set


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Generator files built by an earlier test of this module, by (settings, label)."""
    return tmp_path_factory.mktemp("generators")


def _fake_generators(params, labels, built: Path):
    """Untrained generators saved where training would put them: generation only needs the files
    (each built once per module and copied, as the tests share their settings)."""
    settings = hashlib.md5(params.gan.model_dump_json().encode()).hexdigest()
    for label in labels:
        path = paths.generator_checkpoint(paths.gan_dir("mnist", label), 1)
        path.parent.mkdir(parents=True)
        saved = built / f"{settings}-{label}.keras"
        if not saved.exists():
            build_gan(params.gan, params.data_of("mnist").image_shape, seed=label).generator.save(saved)
        shutil.copy(saved, path)
    choice = {"metric": "fid", "classes": {str(label): {"epoch": 1, "fid": 1.0} for label in labels}}
    paths.epoch_choice("mnist").parent.mkdir(parents=True, exist_ok=True)
    paths.epoch_choice("mnist").write_text(json.dumps(choice))


def test_generation_writes_uint8_archives_and_a_manifest(project, built):
    params = config.load(dataset="mnist")
    _fake_generators(params, params.data_of("mnist").classes, built)
    generate_dataset(params, "mnist")
    images, labels = load_synthetic(paths.synthetic_dir("mnist"), params.data_of("mnist").classes)
    count = params.generate.images_per_class
    assert images.dtype == np.uint8 and images.shape == (10 * count, 28, 28, 1)
    assert np.bincount(labels).tolist() == [count] * 10
    manifest = json.loads((paths.synthetic_dir("mnist") / "manifest.json").read_text())
    assert manifest["classes"]["3"]["checkpoint"] == "generator_epoch_001.keras"


def test_failed_generation_leaves_no_dataset_under_the_final_name(project, built):
    params = config.load(dataset="mnist")
    _fake_generators(params, params.data_of("mnist").classes[:5], built)  # classes 5-9 have no generator
    with pytest.raises(SynthsetError, match="no generator checkpoints"):
        generate_dataset(params, "mnist")
    assert not paths.synthetic_dir("mnist").exists()
    assert not list(paths.synthetic_dir("mnist").parent.glob("*.partial"))


def test_incomplete_or_altered_dataset_is_refused(project, built):
    params = config.load(dataset="mnist")
    _fake_generators(params, params.data_of("mnist").classes, built)
    generate_dataset(params, "mnist")
    archive = paths.synthetic_archive(paths.synthetic_dir("mnist"), 4)
    archive.write_bytes(archive.read_bytes()[:-10])
    with pytest.raises(SynthsetError, match="class_4.npz: missing or changed"):
        load_synthetic(paths.synthetic_dir("mnist"), params.data_of("mnist").classes)
    (paths.synthetic_dir("mnist") / "manifest.json").unlink()
    with pytest.raises(SynthsetError, match="incomplete"):
        load_synthetic(paths.synthetic_dir("mnist"), params.data_of("mnist").classes)


def test_generation_uses_the_selected_epoch_of_each_class(project, built):
    params = config.load(dataset="mnist")
    _fake_generators(params, params.data_of("mnist").classes, built)
    later = build_gan(params.gan, params.data_of("mnist").image_shape, seed=99).generator
    later.save(paths.generator_checkpoint(paths.gan_dir("mnist", 4), 2))
    choice = json.loads(paths.epoch_choice("mnist").read_text())
    choice["classes"]["4"]["epoch"] = 2
    paths.epoch_choice("mnist").write_text(json.dumps(choice))

    generate_dataset(params, "mnist")
    manifest = json.loads((paths.synthetic_dir("mnist") / "manifest.json").read_text())
    assert manifest["classes"]["4"]["checkpoint"] == "generator_epoch_002.keras"
    assert manifest["classes"]["3"]["checkpoint"] == "generator_epoch_001.keras"


def test_synthetic_test_set_matches_the_real_test_set_class_by_class(project, built):
    """As many images per class as the real test set takes: the cap, or fewer where the class has fewer."""
    params = config.load(dataset="mnist")
    params = params.model_copy(update={"study2": params.study2.model_copy(update={"test_images_per_class": 3})})
    labels = np.random.default_rng(0).permutation([c for c in range(10) for _ in range(2 if c == 5 else 4)])
    images = np.zeros((len(labels), 28, 28, 1), np.uint8)
    paths.real_split("mnist", "validation").parent.mkdir(parents=True)
    save_images(paths.real_split("mnist", "validation"), images, labels)
    _fake_generators(params, params.data_of("mnist").classes, built)

    directory = generate_test_set(params, "mnist")
    manifest = json.loads((directory / MANIFEST).read_text())
    expected = {str(c): 2 if c == 5 else 3 for c in params.data_of("mnist").classes}
    assert manifest["images_per_class"] == expected
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [paths.synthetic_archive(directory, c).name for c in params.data_of("mnist").classes] + [MANIFEST])
    _, real_labels, _ = real_test_set(params, "mnist")
    _, synthetic_labels = load_images(paths.synthetic_archive(directory, 5))
    assert len(synthetic_labels) == (real_labels == 5).sum() == 2
    assert np.bincount(load_synthetic(directory, params.data_of("mnist").classes)[1]).tolist() == \
        np.bincount(real_labels).tolist()


def test_the_mixed_source_takes_its_own_share_of_the_generated_images(project, built):
    """classifier.synthetic_per_class caps the generated part of each source on its own; unset,
    train_images_per_class caps every part."""
    params = config.load(dataset="mnist")
    _fake_generators(params, params.data_of("mnist").classes, built)
    generate_dataset(params, "mnist")
    real_labels = np.repeat(params.data_of("mnist").classes, 5)
    paths.real_split("mnist", "train").parent.mkdir(parents=True, exist_ok=True)
    save_images(paths.real_split("mnist", "train"), np.zeros((len(real_labels), 28, 28, 1), np.uint8), real_labels)
    generated = params.generate.images_per_class

    def counts(mixed, source, alone=None, cap=None):
        share = config.SyntheticShareParams(alone=alone, mixed=mixed)
        spec = params.classifier.model_copy(update={"train_images_per_class": cap, "synthetic_per_class": share})
        _, labels, inputs = training_data(params.model_copy(update={"classifier": spec}), "mnist", source)
        assert set(np.bincount(labels)) == {len(labels) // 10}
        return len(labels) // 10, sorted(inputs)

    assert counts(3, "synthetic") == (generated, ["synthetic"])
    assert counts(3, "real_plus_synthetic") == (5 + 3, ["synthetic", "train"])
    assert counts(None, "real_plus_synthetic") == (5 + generated, ["synthetic", "train"])
    assert counts(None, "real_plus_synthetic", cap=4) == (4 + 4, ["synthetic", "train"])
    assert counts(None, "synthetic", alone=7, cap=4) == (7, ["synthetic"])
    assert counts(None, "real", alone=7, cap=4) == (4, ["train"])
