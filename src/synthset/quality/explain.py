"""Where classifiers look: Grad-CAM and vanilla-gradient saliency, and how alike two models' maps are.

Grad-CAM (Selvaraju et al. 2017) weighs a conv layer's feature maps by the mean gradient of the
class score; saliency (Simonyan et al. 2014) is the magnitude of the class score's gradient with
respect to the pixels. Both explain the pre-softmax score of the image's own label (the generator's
label for synthetic images). A map method can look right while ignoring the model (Adebayo et al.
2018, "Sanity checks for saliency maps"): the sanity check compares a trained model's maps with
those of the same architecture with freshly initialised weights, and fails a method whose maps
barely change.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from scipy.stats import rankdata

METHODS = ("grad_cam", "saliency")
_HEAD = "class_probabilities"  # every classifier's softmax layer; its input gives the logits


def last_conv_layer(model: keras.Model, min_size: int) -> str:
    """The deepest Conv2D whose output is at least ``min_size`` pixels wide.

    The deepest conv layer has the most class-specific features, but study 1's CNN pools its last
    ones down to 2x2, where a map says nothing about the digit; ``min_size`` keeps Grad-CAM readable.
    """
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    wide_enough = [layer for layer in convs if min(layer.output.shape[1:3]) >= min_size]
    if not wide_enough:
        sizes = {layer.name: tuple(layer.output.shape[1:3]) for layer in convs}
        raise ValueError(f"model {model.name!r} has no conv layer at least {min_size} wide (conv outputs: {sizes})")
    return wide_enough[-1].name


def attention_maps(
    model: keras.Model, images: np.ndarray, class_indices: np.ndarray, layer: str, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Grad-CAM at ``layer`` and saliency for each image's class: (N, H, W) floats, each map scaled to [0, 1].

    One backward pass gives both: the class logit's gradient at the conv layer and at the pixels.
    """
    head = model.get_layer(_HEAD)
    explainer = keras.Model(model.inputs, [model.get_layer(layer).output, head.input])
    height, width = images.shape[1:3]
    cams, saliencies = [], []
    for start in range(0, len(images), batch_size):
        pixels = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
        classes = tf.convert_to_tensor(class_indices[start : start + batch_size], tf.int32)
        with tf.GradientTape() as tape:
            tape.watch(pixels)
            features, penultimate = explainer(pixels, training=False)
            logits = tf.matmul(penultimate, head.kernel) + head.bias
            # Each image's score depends on that image alone, so the gradient of the sum is per image.
            scores = tf.gather(logits, classes, batch_dims=1)
        feature_grads, pixel_grads = tape.gradient(scores, [features, pixels])
        weights = tf.reduce_mean(feature_grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * features, axis=-1, keepdims=True))
        cams.append(tf.image.resize(cam, (height, width), method="bilinear")[..., 0].numpy())
        saliencies.append(tf.reduce_max(tf.abs(pixel_grads), axis=-1).numpy())
    return {"grad_cam": _scaled(np.concatenate(cams)), "saliency": _scaled(np.concatenate(saliencies))}


def _scaled(maps: np.ndarray) -> np.ndarray:
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return maps / np.where(peak > 0, peak, 1.0)[:, None, None]


def randomised_copy(model: keras.Model, seed: int) -> keras.Model:
    """The same architecture with fresh initial weights: the sanity check's model that learned nothing."""
    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(model)


def rank_correlation(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each pair of maps (N,); 0 where a map is constant (no ranking)."""
    a = rankdata(first.reshape(len(first), -1), axis=1)
    b = rankdata(second.reshape(len(second), -1), axis=1)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a**2).sum(axis=1) * (b**2).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norm, out=np.zeros(len(a)), where=norm > 0)


def top_pixel_iou(first: np.ndarray, second: np.ndarray, fraction: float) -> np.ndarray:
    """Intersection over union of each pair's ``fraction`` highest pixels (N,)."""
    a, b = first.reshape(len(first), -1), second.reshape(len(second), -1)
    k = max(1, round(fraction * a.shape[1]))
    top_a = np.zeros(a.shape, bool)
    top_b = np.zeros(b.shape, bool)
    np.put_along_axis(top_a, np.argpartition(-a, k - 1, axis=1)[:, :k], True, axis=1)
    np.put_along_axis(top_b, np.argpartition(-b, k - 1, axis=1)[:, :k], True, axis=1)
    return (top_a & top_b).sum(axis=1) / (top_a | top_b).sum(axis=1)


def compare(
    maps: dict[str, dict[str, np.ndarray]],
    pairs: list[tuple[str, str]],
    labels: np.ndarray,
    classes: list[int],
    fraction: float,
) -> list[dict]:
    """Per method, pair of models and class: mean rank correlation and top-pixel IoU of their maps.

    ``maps[model][method]`` holds the maps of the same images, in the same order, for every model.
    """
    rows = []
    for method in METHODS:
        for first, second in pairs:
            correlation = rank_correlation(maps[first][method], maps[second][method])
            iou = top_pixel_iou(maps[first][method], maps[second][method], fraction)
            for label in classes:
                mine = labels == label
                rows.append({"method": method, "pair": f"{first}_vs_{second}", "class": int(label),
                             "rank_correlation": float(correlation[mine].mean()),
                             "top_iou": float(iou[mine].mean())})
    return rows


def sanity_check(trained: dict[str, np.ndarray], randomised: dict[str, np.ndarray], max_correlation: float) -> dict:
    """Per method: how much a trained model's maps still resemble those of its randomised copy.

    A method passes when the mean rank correlation stays below ``max_correlation``; a method that
    draws the image rather than the model (edges, intensity) scores near 1 and fails.
    """
    verdict = {}
    for method in trained:
        correlation = float(rank_correlation(trained[method], randomised[method]).mean())
        verdict[method] = {"rank_correlation": round(correlation, 4), "passed": correlation < max_correlation}
    return verdict
