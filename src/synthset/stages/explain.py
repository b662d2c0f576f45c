"""Stage ``explain``: where cnn-5l looks on real and synthetic test digits, and whether study 1's
CNNs trained on real, augmented and synthetic data look at the same places.

Every comparison is read against two references: a second training of the first source's CNN
(another seed: how alike two equally good models' maps are) and each model's randomised copy
(how alike maps are when the model has learned nothing: the sanity check's floor).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pandas as pd

from synthset import paths, seeds, stages
from synthset.tracking import runs
from synthset.config import Params
from synthset.data.archives import class_indices
from synthset.errors import SynthsetError
from synthset.imaging import heatmap_overlay, image_grid, save_png
from synthset.io import write_atomically
from synthset.quality.explain import METHODS, attention_maps, compare, last_conv_layer, randomised_copy, sanity_check
from synthset.tasks.study2_files import real_test_set
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.hashes import file_md5

EXPLAINED = "cnn_5l"  # the poster's best classifier, whose maps are drawn on both test sets
RANDOMISED = "_randomised"
OTHER_SEED = "_other_seed"
_ZOOM = 3  # grids of 28-pixel digits are too small to read at their own size


def _load(path) -> keras.Model:
    if not path.exists():
        raise SynthsetError(f"{path}: missing; run `dvc repro` to train it")
    return keras.saving.load_model(path, compile=False)


def _models(params: Params, dataset: str) -> dict[str, object]:
    """Model files by name: cnn-5l, study 1's compared CNNs and, with two or more seeds, a second
    training of the first source."""
    sources = params.study2.attention.sources
    files = {EXPLAINED: paths.study2_model(dataset, EXPLAINED),
             **{source: paths.classifier_model(dataset, source, seeds.classifier(params.seed, 0)) for source in sources}}
    if params.classifier.seeds > 1:
        files[sources[0] + OTHER_SEED] = paths.classifier_model(dataset, sources[0], seeds.classifier(params.seed, 1))
    return files


def _pairs(params: Params, names: list[str]) -> list[tuple[str, str]]:
    sources = params.study2.attention.sources
    pairs = [(a, b) for i, a in enumerate(sources) for b in sources[i + 1 :]]
    if sources[0] + OTHER_SEED in names:
        pairs.append((sources[0], sources[0] + OTHER_SEED))
    return pairs + [(name, name + RANDOMISED) for name in [EXPLAINED, *sources]]


def _grid(images: np.ndarray, columns_of_maps: list[np.ndarray], labels: np.ndarray, classes: list[int], per_class: int):
    """Rows = classes; per image, the image then one overlay per map set."""
    tiles = []
    for label in classes:
        for index in np.flatnonzero(labels == label)[:per_class]:
            picture = images[index : index + 1]
            tiles.append(np.repeat(picture, 3, axis=-1) if picture.shape[-1] == 1 else picture)
            tiles.extend(heatmap_overlay(picture, maps[index : index + 1]) for maps in columns_of_maps)
    grid = image_grid(np.concatenate(tiles), columns=per_class * (1 + len(columns_of_maps)))
    return grid.repeat(_ZOOM, axis=0).repeat(_ZOOM, axis=1)


def run(params: Params, dataset: str) -> dict:
    """Draw the map grids, compare the maps, run the sanity check; write the metrics and log the run."""
    settings = params.study2.attention
    classes = params.data.labels
    real_images, real_labels, real_md5 = real_test_set(params, dataset)
    test_sets = {"real": (real_images, real_labels),
                 "synthetic": load_synthetic(paths.synthetic_test_dir(dataset), classes)}
    files = _models(params, dataset)

    maps, layers = {name: {} for name in test_sets}, {}
    for name, path in files.items():
        model = _load(path)
        layers[name] = last_conv_layer(model, settings.min_cam_size)
        # The second seed is a reference for the comparison only; it needs no randomised copy.
        randomised = None if name.endswith(OTHER_SEED) else randomised_copy(model, params.seed)
        for test_set, (images, labels) in test_sets.items():
            targets = class_indices(labels, classes)
            maps[test_set][name] = attention_maps(model, images, targets, layers[name])
            if randomised is not None:
                maps[test_set][name + RANDOMISED] = attention_maps(randomised, images, targets, layers[name])
        keras.backend.clear_session()

    pairs = _pairs(params, list(files))
    table = pd.DataFrame([
        {"images": test_set, **row}
        for test_set, (_, labels) in test_sets.items()
        for row in compare(maps[test_set], pairs, labels, classes, settings.top_fraction)
    ])
    means = table.groupby(["method", "images", "pair"])[["rank_correlation", "top_iou"]].mean().round(4)
    similarity = {method: {f"{test_set}_images": {pair: means.loc[(method, test_set, pair)].to_dict()
                                                  for pair in table["pair"].unique()}
                           for test_set in test_sets}
                  for method in METHODS}
    sanity = {name: sanity_check(maps["real"][name], maps["real"][name + RANDOMISED], settings.sanity_max_correlation)
              for name in [EXPLAINED, *settings.sources]}
    summary = {
        "images_per_class": params.study2.test_images_per_class,
        "grad_cam_layers": layers,
        "similarity": similarity,
        "sanity": {method: {name: sanity[name][method] for name in sanity} for method in METHODS},
        "sanity_passed": {method: all(sanity[name][method]["passed"] for name in sanity) for method in METHODS},
    }

    per_class = settings.grid_images_per_class
    with write_atomically(paths.attention_dir(dataset)) as grid_dir:
        grid_dir.mkdir(parents=True)
        for test_set, (images, labels) in test_sets.items():
            explained = maps[test_set][EXPLAINED]
            save_png(_grid(images, [explained[m] for m in METHODS], labels, classes, per_class),
                     paths.attention_grid(grid_dir, f"{EXPLAINED}_{test_set}_test"))
        images, labels = test_sets["real"]
        for method in METHODS:
            compared = [*settings.sources, settings.sources[0] + RANDOMISED]
            save_png(_grid(images, [maps["real"][name][method] for name in compared], labels, classes, per_class),
                     paths.attention_grid(grid_dir, f"compare_{method}"))
    with write_atomically(paths.attention_table(dataset)) as partial:
        table.round(4).to_csv(partial, index=False)
    with write_atomically(paths.attention_summary(dataset)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")

    inputs = {name: file_md5(path) for name, path in files.items()}
    inputs |= {"real_test": real_md5, "synthetic_test": manifest_md5(paths.synthetic_test_dir(dataset))}
    with runs.stage_run(dataset, stages.EXPLAIN, f"{dataset}-attention", inputs) as tracker:
        tracker.log_params({"attention": settings.model_dump(), "grad_cam_layers": layers})
        tracker.log_metrics({f"{method}.{test_set}.{pair}.{measure}": value
                             for method, by_set in similarity.items() for test_set, by_pair in by_set.items()
                             for pair, values in by_pair.items() for measure, value in values.items()}, step=0)
        tracker.log_metrics({f"sanity.{method}.{name}": verdict["rank_correlation"]
                             for method, by_name in summary["sanity"].items() for name, verdict in by_name.items()},
                            step=0)
        for path in (paths.attention_summary(dataset), paths.attention_table(dataset)):
            tracker.log_artifact(path)
        tracker.log_artifact(paths.attention_dir(dataset), "attention")
    return summary
