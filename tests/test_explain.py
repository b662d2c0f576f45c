"""Attention maps: layer choice, exact saliency of a linear model, similarity measures, the sanity check."""

import json

import keras
import numpy as np
import pytest
from scipy.stats import spearmanr

from synthset import config, paths
from synthset.quality import explain
from synthset.data.archives import save_images
from synthset.models.classifier import build_classifier
from synthset.models.study2 import build_study2_classifier


def test_grad_cam_layer_is_the_deepest_conv_wide_enough():
    assert explain.last_conv_layer(build_study2_classifier("cnn_5l", image_shape=(28, 28, 1), num_classes=10), 7) == "conv_2"
    study1 = build_classifier(image_shape=(28, 28, 1), num_classes=10, filters=[4] * 5, kernel_size=3, dropout=0.5,
                              dense_units=8)
    assert explain.last_conv_layer(study1, 7) == "conv_3"  # conv outputs 28, 14, 7, 4, 2 wide
    assert explain.last_conv_layer(study1, 2) == "conv_5"
    with pytest.raises(ValueError, match="no conv layer at least 30 wide"):
        explain.last_conv_layer(study1, 30)


def test_saliency_of_a_linear_model_is_its_class_weights():
    """For logits = W x / 255 + b the gradient of class c's logit is column c of W, whatever the image.

    An identity 1x1 conv in front gives Grad-CAM a layer to work on without changing the function.
    """
    weights = np.zeros((16, 2), np.float32)
    weights[:8, 0] = np.arange(1, 9)   # class 0 looks at the top half, more to the right and down
    weights[8:, 1] = -2.0              # class 1 at the bottom half, with negative weights
    image = keras.Input((4, 4, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="conv_1")(image)
    x = keras.layers.Flatten()(keras.layers.Rescaling(1.0 / 255.0)(x))
    head = keras.layers.Dense(2, activation="softmax", name="class_probabilities")
    model = keras.Model(image, head(x))
    head.set_weights([weights, np.zeros(2, np.float32)])

    images = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 1)).astype(np.uint8)
    maps = explain.attention_maps(model, images, np.array([0, 1]), "conv_1")

    np.testing.assert_allclose(maps["saliency"][0], weights[:, 0].reshape(4, 4) / 8, rtol=1e-5)
    np.testing.assert_allclose(maps["saliency"][1], np.abs(weights[:, 1]).reshape(4, 4) / 2, rtol=1e-5)
    assert maps["grad_cam"].shape == (2, 4, 4) and maps["grad_cam"].min() >= 0 and maps["grad_cam"].max() <= 1


def test_grad_cam_weighs_the_features_by_the_asked_classs_gradient():
    """A planted model: the conv layer passes the image's two channels through, class 0's logit is
    the sum of feature channel 0 and class 1's the sum of channel 1. Class 0's Grad-CAM weights are
    then (1/16, 0), so its map is image channel 0 (bright in the top half) scaled to peak 1; class
    1's is channel 1 (the bottom half). The same image asked for each class gives each class's map.
    """
    image = keras.Input((4, 4, 2))
    conv = keras.layers.Conv2D(2, 1, use_bias=False, name="conv_1")
    head = keras.layers.Dense(2, activation="softmax", name="class_probabilities")
    model = keras.Model(image, head(keras.layers.Flatten()(conv(image))))
    conv.set_weights([np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)])
    kernel = np.zeros((4 * 4 * 2, 2), np.float32)  # Flatten's order: (row, column, channel)
    kernel[0::2, 0] = 1.0
    kernel[1::2, 1] = 1.0
    head.set_weights([kernel, np.zeros(2, np.float32)])

    top, bottom = np.zeros((4, 4)), np.zeros((4, 4))
    top[:2] = [[1, 2, 3, 4], [5, 6, 7, 8]]
    bottom[2:] = [[8, 6, 4, 2], [2, 2, 2, 2]]
    pixels = np.stack([top, bottom], axis=-1)[None].repeat(2, axis=0)

    maps = explain.attention_maps(model, pixels, np.array([0, 1]), "conv_1")

    np.testing.assert_allclose(maps["grad_cam"][0], top / 8, atol=1e-6)
    np.testing.assert_allclose(maps["grad_cam"][1], bottom / 8, atol=1e-6)


def test_rank_correlation_is_spearmans_per_map_and_zero_for_a_constant_map():
    rng = np.random.default_rng(1)
    first, second = rng.random((5, 6, 6)), rng.random((5, 6, 6))
    second[0] = first[0] ** 3  # monotone: rank correlation 1
    expected = [spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(first, second)]
    np.testing.assert_allclose(explain.rank_correlation(first, second), expected, atol=1e-12)
    assert explain.rank_correlation(first[:1], second[:1])[0] == pytest.approx(1.0)
    assert explain.rank_correlation(np.zeros((1, 6, 6)), second[:1])[0] == 0.0


def test_top_pixel_iou_counts_shared_top_pixels():
    first = np.arange(10.0).reshape(1, 2, 5)  # top 40 %: pixels 6, 7, 8, 9
    second = first.copy()
    second[0, 1, 4], second[0, 0, 0] = -1.0, 100.0  # top: 0, 6, 7, 8
    assert explain.top_pixel_iou(first, first, 0.4)[0] == 1.0
    assert explain.top_pixel_iou(first, second, 0.4)[0] == pytest.approx(3 / 5)
    assert explain.top_pixel_iou(first, -first, 0.4)[0] == 0.0


@pytest.fixture(scope="module")
def trained_cnn():
    """A small CNN that has learned the drawn digits, and the images it explains."""
    from conftest import draw_digits

    keras.utils.set_random_seed(0)
    images, labels = draw_digits(30, seed=0)
    model = build_classifier(image_shape=(28, 28, 1), num_classes=10, filters=[16, 16, 16, 16, 16], kernel_size=3,
                             dropout=0.0, dense_units=32)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(images[..., None], labels, epochs=12, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    test_images, test_labels = draw_digits(3, seed=5)
    return model, test_images[..., None], test_labels


def test_sanity_check_catches_a_map_that_ignores_the_model(trained_cnn):
    model, images, labels = trained_cnn
    layer = explain.last_conv_layer(model, 7)
    trained = explain.attention_maps(model, images, labels, layer)
    randomised = explain.attention_maps(explain.randomised_copy(model, seed=0), images, labels, layer)

    verdict = explain.sanity_check(trained, randomised, max_correlation=0.5)
    assert verdict["grad_cam"]["passed"], verdict  # Grad-CAM of the trained model is not the random model's

    # An "explanation" that is the image itself is the same for any weights: the check must fail it.
    brightness = images[..., 0] / 255.0
    ignoring = explain.sanity_check({"brightness": brightness}, {"brightness": brightness}, max_correlation=0.5)
    assert ignoring == {"brightness": {"rank_correlation": 1.0, "passed": False}}


def test_randomised_copy_keeps_the_architecture_and_drops_the_learning(trained_cnn):
    model, images, labels = trained_cnn
    copy = explain.randomised_copy(model, seed=0)
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    assert not np.allclose(copy.get_layer("conv_1").get_weights()[0], model.get_layer("conv_1").get_weights()[0])
    accuracy = np.mean(np.argmax(copy.predict(images, verbose=0), axis=1) == labels)
    assert accuracy < 0.5


def test_explain_stage_writes_grids_metrics_and_an_mlflow_run(project, trained_cnn):
    import mlflow

    from conftest import draw_digits
    from test_study2 import write_synthetic

    from synthset.stages.explain import run as explain_classifiers

    params = config.load(dataset="mnist")
    model, *_ = trained_cnn
    images, labels = draw_digits(3, seed=7)
    save_images(paths.real_split("mnist", "validation"), images[..., None], labels)
    write_synthetic(paths.synthetic_test_dir("mnist"), {c: images[labels == c][..., None] for c in range(10)})
    paths.study2_dir("mnist", "cnn_5l").mkdir(parents=True)
    build_study2_classifier("cnn_5l", image_shape=(28, 28, 1), num_classes=10).save(
        paths.study2_model("mnist", "cnn_5l"))
    for source in params.study2.attention.sources:
        paths.classifier_dir("mnist", source).mkdir(parents=True)
        model.save(paths.classifier_model("mnist", source, params.seed))

    summary = explain_classifiers(params, "mnist")

    assert sorted(p.name for p in paths.attention_dir("mnist").iterdir()) == [
        "cnn_5l_real_test.png", "cnn_5l_synthetic_test.png", "compare_grad_cam.png", "compare_saliency.png"]
    assert summary["grad_cam_layers"] == {"cnn_5l": "conv_2", "real": "conv_3", "augmented": "conv_3", "synthetic": "conv_3"}
    # The same trained model stands in for all three sources: their maps agree exactly.
    for method in explain.METHODS:
        for test_set in ("real_images", "synthetic_images"):
            assert summary["similarity"][method][test_set]["real_vs_synthetic"] == {"rank_correlation": 1.0, "top_iou": 1.0}
    assert summary["sanity"]["grad_cam"]["real"]["passed"]
    assert json.loads(paths.attention_summary("mnist").read_text()) == summary
    table = paths.attention_table("mnist").read_text().splitlines()
    assert table[0] == "images,method,pair,class,rank_correlation,top_iou"
    assert len(table) == 1 + 2 * 2 * (3 + 4) * 10  # test sets x methods x (3 source pairs + 4 sanity pairs) x classes

    client = mlflow.MlflowClient()
    run = client.search_runs([client.get_experiment_by_name("synthset-mnist").experiment_id],
                             filter_string="tags.`synthset.stage` = 'explain'")[0]
    assert run.info.status == "FINISHED"
    assert run.data.metrics["grad_cam.real_images.real_vs_synthetic.rank_correlation"] == 1.0
    assert {a.path for a in client.list_artifacts(run.info.run_id, "attention")} == {
        f"attention/{name}" for name in ("cnn_5l_real_test.png", "cnn_5l_synthetic_test.png",
                                         "compare_grad_cam.png", "compare_saliency.png")}

