"""generate.epoch beyond parsing: which kept generator draws the synthetic set, checked by what it draws."""

import json

import keras
import numpy as np
import pytest
import yaml

from synthset import config, paths
from synthset.errors import SynthsetError
from synthset.stages.generate import run as generate_dataset
from synthset.synthetic import MANIFEST, load_synthetic, sample
from synthset.training.gan import build_gan
from synthset.hashes import file_md5

CLASSES = [3, 7]  # not 0 and 1, so that a label taken for a position shows
KEPT = [1, 2, 4]  # epoch 3 was not kept: the last (4) is not the count of checkpoints, 3 is refused


def _params(project, epoch):
    """The project's tiny settings with two classes and ``generate.epoch``, through params.yaml."""
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["mnist"]["data"]["classes"] = CLASSES
    raw["scales"]["tiny"]["mnist"]["generate"]["epoch"] = epoch
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return config.load(dataset="mnist")


def _kept_generators(params):
    """A different untrained generator per class and kept epoch, saved where training keeps them,
    and an epoch choice that names epoch 1 for every class (what "selected" would take)."""
    for label in CLASSES:
        for epoch in KEPT:
            path = paths.generator_checkpoint(paths.gan_dir("mnist", label), epoch)
            path.parent.mkdir(parents=True, exist_ok=True)
            build_gan(params.gan, params.data_of("mnist").image_shape, seed=100 * label + epoch).generator.save(path)
    choice = {"metric": "fid", "classes": {str(label): {"epoch": 1, "fid": 1.0} for label in CLASSES}}
    paths.epoch_choice("mnist").parent.mkdir(parents=True, exist_ok=True)
    paths.epoch_choice("mnist").write_text(json.dumps(choice))


def _drawn_by(params, label, epoch):
    """What class ``label``'s generator of ``epoch`` draws for the training set's noise (stream 0)."""
    generator = keras.saving.load_model(paths.generator_checkpoint(paths.gan_dir("mnist", label), epoch), compile=False)
    return sample(generator, params.generate.images_per_class, params.gan.latent_dim, seed=(params.seed, label, 0),
                  batch_size=params.generate.batch_size)


@pytest.mark.parametrize("setting, epoch", [(-1, 4), (2, 2)], ids=["last", "numbered"])
def test_the_set_is_drawn_by_the_generator_of_generate_epoch_not_the_selected_one(project, setting, epoch):
    """-1 takes each class's last kept generator, N epoch N's, whatever the epoch choice says;
    the manifest names it and the images are exactly what it draws."""
    params = _params(project, setting)
    assert params.generate.epoch == setting
    _kept_generators(params)
    generate_dataset(params, "mnist")

    manifest = json.loads((paths.synthetic_dir("mnist") / MANIFEST).read_text())
    for label in CLASSES:
        checkpoint = paths.generator_checkpoint(paths.gan_dir("mnist", label), epoch)
        entry = manifest["classes"][str(label)]
        assert (entry["checkpoint"], entry["generator_md5"]) == (f"generator_epoch_{epoch:03d}.keras", file_md5(checkpoint))
    images, labels = load_synthetic(paths.synthetic_dir("mnist"), CLASSES)
    count = params.generate.images_per_class
    for index, label in enumerate(CLASSES):
        drawn = images[index * count:(index + 1) * count]
        assert (labels[index * count:(index + 1) * count] == label).all()
        same = np.array_equal(drawn, _drawn_by(params, label, epoch))
        assert same, f"class {label}'s images are not what epoch {epoch}'s generator draws"
        assert not np.array_equal(drawn, _drawn_by(params, label, 1))  # the selected epoch's would differ


def test_an_epoch_no_class_kept_is_refused_by_name_and_writes_nothing(project):
    params = _params(project, 3)
    _kept_generators(params)
    with pytest.raises(SynthsetError) as refused:
        generate_dataset(params, "mnist")
    assert str(refused.value) == ("generate.epoch=3: class 3 kept no generator of that epoch (kept: [1, 2, 4]; "
                                  "gan.checkpoint_every sets which are kept)")
    assert not paths.synthetic_dir("mnist").exists()
    assert not list(paths.synthetic_dir("mnist").parent.glob("*.partial"))


@pytest.mark.parametrize("pool, pooled", [(2, [4, 2]), (5, [4, 2, 1])], ids=["two", "more-than-kept"])
def test_a_pool_draws_equal_shares_from_the_chosen_generator_and_those_kept_before_it(project, pool, pooled):
    """`generate.pool` with epoch -1: class 3's 40 images come from epoch 4's generator (the first
    share, with the noise of a pool of one) and then epochs 2 and 1, latest first, each with noise
    of its own; the manifest lists the pool; a pool larger than what was kept takes what was kept."""
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"]["tiny"]["mnist"]["generate"]["pool"] = pool
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    params = _params(project, -1)
    _kept_generators(params)
    generate_dataset(params, "mnist")

    count = params.generate.images_per_class
    shares = [len(part) for part in np.array_split(np.arange(count), len(pooled))]
    manifest = json.loads((paths.synthetic_dir("mnist") / MANIFEST).read_text())
    images, _ = load_synthetic(paths.synthetic_dir("mnist"), CLASSES)
    for index, label in enumerate(CLASSES):
        entry = manifest["classes"][str(label)]
        assert entry["checkpoint"] == "generator_epoch_004.keras"
        assert [(p["checkpoint"], p["images"]) for p in entry["pool"]] == [
            (f"generator_epoch_{epoch:03d}.keras", share) for epoch, share in zip(pooled, shares, strict=True)]
        expected = []
        for position, (epoch, share) in enumerate(zip(pooled, shares, strict=True)):
            generator = keras.saving.load_model(paths.generator_checkpoint(paths.gan_dir("mnist", label), epoch),
                                                compile=False)
            noise = (params.seed, label, 0) if position == 0 else (params.seed, label, 0, position)
            expected.append(sample(generator, share, params.gan.latent_dim, seed=noise,
                                   batch_size=params.generate.batch_size))
        assert np.array_equal(images[index * count:(index + 1) * count], np.concatenate(expected)), label
    first = _drawn_by(params, CLASSES[0], 4)[: shares[0]]
    assert np.array_equal(images[: shares[0]], first)  # the chosen generator's share: a pool of one's first images
