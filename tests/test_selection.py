"""Epoch selection and the synthetic set's assessment, on tiny data with planted generators.

Each class gets three "checkpoints": epoch 1 an untrained generator (noise), epoch 2 a generator
that draws real images of its class, epoch 3 one that draws them in negative. The
selector must pick epoch 2 for every class, and flag epoch 2's images as near-copies.
"""

import json

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest

from synthset import config, paths
from synthset.data.archives import load_images, to_tanh_range
from synthset.stages.prepare import run as prepare
from synthset.quality.selection import best_epoch
from synthset.stages.select_epochs import run as select_epochs
from synthset.training.gan import build_gan


def image_drawer(images: np.ndarray, latent_dim: int, seed: int) -> keras.Model:
    """A generator that maps each noise vector to (almost exactly) one of ``images``.

    Random projections of the noise, sharpened by a large scale, pick one stored image through a
    softmax; standard layers only, so it saves and loads like a trained generator.
    """
    flat = to_tanh_range(images).reshape(len(images), -1)
    rng = np.random.default_rng(seed)
    noise = keras.Input(shape=(latent_dim,))
    logits = keras.layers.Dense(len(images), use_bias=False)(noise)
    choice = keras.layers.Softmax()(keras.layers.Rescaling(200.0)(logits))
    pixels = keras.layers.Dense(flat.shape[1], use_bias=False)(choice)
    model = keras.Model(noise, keras.layers.Reshape(images.shape[1:])(pixels))
    model.layers[1].set_weights([rng.standard_normal((latent_dim, len(images))).astype("float32")])
    model.layers[4].set_weights([flat.astype("float32")])
    return model


@pytest.fixture
def planted(project):
    from synthset.stages.train_features import run as train_feature_network

    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    train_feature_network(params, "mnist")
    images, labels = load_images(paths.real_split("mnist", "train"))
    for label in params.data_of("mnist").classes:
        gan_dir = paths.gan_dir("mnist", label)
        (gan_dir / "checkpoints").mkdir(parents=True)
        generators = [
            build_gan(params.gan, params.data_of("mnist").image_shape, seed=label).generator,
            image_drawer(images[labels == label], params.gan.latent_dim, seed=label),
            image_drawer(255 - images[labels == label], params.gan.latent_dim, seed=label),
        ]
        for epoch, generator in enumerate(generators, start=1):
            generator.save(paths.generator_checkpoint(gan_dir, epoch))
    return params


def test_selector_picks_the_planted_best_checkpoint_and_assessment_scores_its_images(planted):
    from synthset.stages.assess import run as assess_synthetic
    from synthset.stages.generate import run as generate_dataset

    curves = select_epochs(planted, "mnist")
    choice = json.loads(paths.epoch_choice("mnist").read_text())
    assert choice["metric"] == planted.quality.selection_metric
    assert {label: entry["epoch"] for label, entry in choice["classes"].items()} == {str(c): 2 for c in range(10)}

    by_epoch = curves.groupby("epoch").mean(numeric_only=True)
    # As faithful as real images are to the (tiny, weak) feature network, give or take.
    assert by_epoch.loc[2, "label_fidelity"] > by_epoch.loc[2, "label_fidelity_floor"] - 0.15
    assert by_epoch.loc[2, "near_copy_share"] > 0.9  # it draws training images: copies, and flagged
    assert min(by_epoch.loc[1, "fid"], by_epoch.loc[3, "fid"]) > 3 * by_epoch.loc[2, "fid"]
    assert {"fid_floor", "kid_floor", "recall_floor"} <= set(curves.columns)
    wide = pd.read_csv(paths.selection_curve("mnist"))
    assert list(wide.columns) == ["epoch"] + [f"class_{c}" for c in range(10)]

    client = mlflow.MlflowClient()
    (run,) = client.search_runs(client.get_experiment_by_name("synthset-mnist").experiment_id,
                                "tags.`synthset.stage` = 'select_epochs'")
    history = client.get_metric_history(run.info.run_id, "fid_class_3")
    expected = curves[curves["class"] == 3].set_index("epoch")["fid"]
    assert {m.step: round(m.value, 6) for m in history} == {e: round(v, 6) for e, v in expected.items()}
    assert run.data.metrics["chosen_epoch_class_3"] == 2

    generate_dataset(planted, "mnist")  # from the selected epochs: the image drawers
    quality = assess_synthetic(planted, "mnist")["quality"]["mnist"]
    on_disk = json.loads(paths.quality_metrics("mnist").read_text())["quality"]["mnist"]
    assert on_disk == quality
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "near_copy_share", "label_fidelity"):
        assert f"{name}_floor" in quality and set(quality["per_class"]) == {str(c) for c in range(10)}
        assert f"{name}_floor" in quality["per_class"]["0"]
    assert quality["label_fidelity"] > 0.7 and quality["label_fidelity"] > quality["label_fidelity_floor"] - 0.15
    assert quality["near_copy_share"] > 0.9 > quality["near_copy_share_floor"]


def test_best_epoch_follows_the_direction_of_the_metric():
    curve = pd.DataFrame({"epoch": [1, 2, 3], "fid": [5.0, 1.0, 1.0], "recall": [0.2, 0.9, 0.95]})
    assert best_epoch(curve, "fid") == 2  # lower is better; earlier epoch on a tie
    assert best_epoch(curve, "recall") == 3
