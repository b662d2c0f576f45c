"""Stage ``train_cnn_<source>``: study 1's CNN on one source of training data, once per seed, validated
on the real validation set; the models, per-epoch curves (DVC plots) and a summary (DVC metrics)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from synthset import parallel, paths, stages, tracking
from synthset.config import Params
from synthset.data.archives import class_indices, first_per_class, load_images
from synthset.io import write_atomically
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.versions import file_md5


def training_data(params: Params, dataset: str, source: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(images, labels, input hashes) for ``source``; ``augmented`` is real data, augmented later per batch."""
    cap = params.classifier.train_images_per_class
    parts, inputs = [], {}
    if source in ("real", "augmented", "real_plus_synthetic"):
        train_file = paths.real_split(dataset, "train")
        parts.append(load_images(train_file))
        inputs["train"] = file_md5(train_file)
    if source in ("synthetic", "real_plus_synthetic"):
        parts.append(load_synthetic(paths.synthetic_dir(dataset), params.data.labels))
        inputs["synthetic"] = manifest_md5(paths.synthetic_dir(dataset))
    images, labels = [], []
    for part_images, part_labels in parts:
        chosen = first_per_class(part_labels, params.data.labels, cap)
        images.append(part_images[chosen])
        labels.append(part_labels[chosen])
    return np.concatenate(images), np.concatenate(labels), inputs


def run(params: Params, dataset: str, source: str) -> dict[str, float]:
    """Fit the CNN on ``source`` once per seed, the seeds in parallel worker processes. The curves
    file holds the mean over seeds per epoch (with ``*_std`` columns), the seeds file every seed's
    rows; the summary the final epoch's mean and standard deviation."""
    spec = params.classifier
    seeds = list(range(params.seed, params.seed + spec.seeds))
    with write_atomically(paths.classifier_dir(dataset, source)) as out_dir:
        out_dir.mkdir(parents=True)
        results = parallel.run_tasks(fit_seed, [(params, dataset, source, seed, out_dir) for seed in seeds])
    frames = [frame.assign(seed=seed) for seed, (frame, _) in zip(seeds, results, strict=True)]
    train_images = results[0][1]

    per_seed = pd.concat(frames, ignore_index=True)
    curves = per_seed.drop(columns="seed").groupby("epoch")
    mean, std = curves.mean(), curves.std(ddof=0).add_suffix("_std")
    history = pd.concat([mean, std], axis=1).reset_index()
    final = history.iloc[-1]
    summary = {key: float(final[key]) for key in history.columns if key != "epoch"}
    summary.update(train_images=train_images, seeds=spec.seeds)
    with write_atomically(paths.classifier_history(dataset, source)) as partial:
        history.to_csv(partial, index=False, float_format="%.6f")
    with write_atomically(paths.classifier_seed_history(dataset, source)) as partial:
        per_seed.to_csv(partial, index=False, float_format="%.6f")
    with write_atomically(paths.classifier_summary(dataset, source)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def fit_seed(params: Params, dataset: str, source: str, seed: int, out_dir) -> tuple[pd.DataFrame, int]:
    """One seed's CNN, saved into ``out_dir`` and tracked as its own run: (per-epoch curves, images)."""
    # Imported here, in the worker: the stage's own process never starts TensorFlow.
    from synthset.training.callbacks import EpochTimer, MetricsToTracker
    from synthset.training.classifier import fit_classifier

    spec = params.classifier
    images, labels, inputs = training_data(params, dataset, source)
    validation_file = paths.real_split(dataset, "validation")
    val_images, val_labels = load_images(validation_file)
    inputs["validation"] = file_md5(validation_file)
    labels, val_labels = class_indices(labels, params.data.labels), class_indices(val_labels, params.data.labels)
    augment = params.augment if source == "augmented" else None
    with tracking.stage_run(dataset, stages.classifier_stage(source), f"{dataset}-cnn-{source}-seed-{seed}",
                            inputs, source=source, seed=seed) as tracker:
        tracker.log_params({"classifier": spec.model_dump(), "augment": params.augment.model_dump(),
                            "source": source, "train_images": len(images), "seed": seed})
        model, frame = fit_classifier(
            spec, augment, params.data.image_shape, len(params.data.labels), (images, labels),
            (val_images, val_labels), seed,
            callbacks=[MetricsToTracker(tracker), EpochTimer(f"cnn {dataset}/{source} seed {seed}", spec.epochs)])
        model.save(out_dir / paths.classifier_model(dataset, source, seed).name)
        tracker.log_keras_model(model, "classifier", val_images[:4])
    return frame, len(images)
