"""Stage ``train_features``: the quality metrics' feature network, trained on the training split only,
judged on the holdout, which no GAN trains on; kept with DVC and MLflow, with its features' mean and
std over the training split, which every quality stage z-scores with."""

from __future__ import annotations

import json

import numpy as np

from synthset import paths, stages
from synthset.tracking import runs
from synthset.config import Params
from synthset.data.archives import class_indices, first_per_class, load_images
from synthset.models.features import FeatureExtractor
from synthset.io import save_model, write_atomically
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.training.features import fit_feature_network
from synthset.hashes import file_md5


def run(params: Params, dataset: str) -> dict[str, float]:
    spec = params.features
    train_file, holdout_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "holdout")
    all_images, labels = load_images(train_file)
    keep = first_per_class(labels, params.data.labels, spec.train_images_per_class)
    images, labels = all_images[keep], class_indices(labels[keep], params.data.labels)
    holdout_images, holdout_labels = load_images(holdout_file)
    holdout_labels = class_indices(holdout_labels, params.data.labels)

    inputs = {"train": file_md5(train_file), "holdout": file_md5(holdout_file)}
    with runs.stage_run(dataset, stages.TRAIN_FEATURES, f"{dataset}-feature-network", inputs) as tracker:
        tracker.log_params({"features": spec.model_dump(), "train_images": len(images), "seed": params.seed})
        network, scores = fit_feature_network(
            spec, params.data.image_shape, len(params.data.labels), (images, labels), (holdout_images, holdout_labels),
            params.seed, callbacks=[MetricsToTracker(tracker), EpochTimer(f"features {dataset}", spec.epochs)])
        summary = {"holdout_accuracy": round(scores["holdout_accuracy"], 4),
                   "holdout_loss": round(scores["holdout_loss"], 4), "train_images": len(images)}
        save_model(network, paths.feature_network(dataset))
        shift, scale = FeatureExtractor(network).statistics(all_images)
        with write_atomically(paths.feature_statistics(dataset)) as partial, partial.open("wb") as file:
            np.savez(file, shift=shift, scale=scale)
        with write_atomically(paths.feature_network_summary(dataset)) as partial:
            partial.write_text(json.dumps(summary, indent=2) + "\n")
        tracker.log_metrics({"final_holdout_accuracy": scores["holdout_accuracy"],
                             "final_holdout_loss": scores["holdout_loss"]}, step=spec.epochs)
        tracker.log_keras_model(network, "feature_network", holdout_images[:4])
    return summary
