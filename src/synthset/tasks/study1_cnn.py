"""Study 1's CNN on each source of training data of a stage (config.CLASSIFIER_STAGES), once per
seed, validated on the real validation set; per source the models, per-epoch curves (DVC plots)
and a summary (DVC metrics). Stages ``train_cnn_on_real`` and ``train_cnn_on_synthetic`` run it;
so does ``gan_seeds`` for its further draws.

One stage trains several sources so that its worker processes pay their start-up once and keep
both cores busy; the two stages split the sources by whether they read the synthetic set, so that
new synthetic data never re-trains the CNNs on real data.
"""

from __future__ import annotations

import json
from contextlib import ExitStack

import numpy as np
import pandas as pd

from synthset import parallel, paths, seeds, stages
from synthset.tracking import lineage, runs
from synthset.config import Params
from synthset.data.archives import class_indices, first_per_class, load_images
from synthset.io import save_model, write_atomically
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.hashes import file_md5


def training_data(params: Params, dataset: str, source: str) -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """(images, labels, input hashes) for ``source``; ``augmented`` is real data, augmented later per batch."""
    spec = params.classifier
    parts, inputs = [], {}
    if source in ("real", "augmented", "real_plus_synthetic"):
        train_file = paths.real_split(dataset, "train")
        parts.append((load_images(train_file), spec.train_images_per_class))
        inputs["train"] = file_md5(train_file)
    if source in ("synthetic", "real_plus_synthetic"):
        share = spec.synthetic_per_class.mixed if source == "real_plus_synthetic" else spec.synthetic_per_class.alone
        cap = spec.train_images_per_class if share is None else share
        parts.append((load_synthetic(paths.synthetic_dir(dataset), params.data.labels), cap))
        inputs["synthetic"] = manifest_md5(paths.synthetic_dir(dataset))
    images, labels = [], []
    for (part_images, part_labels), cap in parts:
        chosen = first_per_class(part_labels, params.data.labels, cap)
        images.append(part_images[chosen])
        labels.append(part_labels[chosen])
    return np.concatenate(images), np.concatenate(labels), inputs


def run(params: Params, dataset: str, sources: list[str]) -> dict[str, dict[str, float]]:
    """Fit the CNN on each of ``sources`` once per seed, every (source, seed) a task of the worker
    processes; then each source's files. Returns each source's summary."""
    tasks = [(source, seed) for source in sources for seed in seeds.classifiers(params.seed, params.classifier.seeds)]
    with ExitStack() as stack:
        out_dirs = {source: stack.enter_context(write_atomically(paths.classifier_dir(dataset, source)))
                    for source in sources}
        for out_dir in out_dirs.values():
            out_dir.mkdir(parents=True)
        results = parallel.run_tasks(fit_seed, [(params, dataset, source, seed, out_dirs[source])
                                                for source, seed in tasks])
    by_source = {source: [] for source in sources}
    for (source, seed), (frame, train_images) in zip(tasks, results, strict=True):
        by_source[source].append((seed, frame, train_images))
    return {source: _write_source(params, dataset, source, fits) for source, fits in by_source.items()}


def _write_source(params: Params, dataset: str, source: str, fits: list[tuple[int, pd.DataFrame, int]]) -> dict[str, float]:
    """The curves file holds the mean over seeds per epoch (with ``*_std`` columns), the seeds file
    every seed's rows; the summary the final epoch's mean and standard deviation."""
    per_seed = pd.concat([frame.assign(seed=seed) for seed, frame, _ in fits], ignore_index=True)
    curves = per_seed.drop(columns="seed").groupby("epoch")
    mean, std = curves.mean(), curves.std(ddof=0).add_suffix("_std")
    history = pd.concat([mean, std], axis=1).reset_index()
    final = history.iloc[-1]
    summary = {key: float(final[key]) for key in history.columns if key != "epoch"}
    summary.update(train_images=fits[0][2], seeds=params.classifier.seeds)
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
    data = [lineage.real(dataset, "train", "training")] if source != "synthetic" else []
    if source in ("synthetic", "real_plus_synthetic"):
        data.append(lineage.synthetic(dataset, "training"))
    data.append(lineage.real(dataset, "validation", "validation"))
    with runs.stage_run(dataset, stages.classifier_stage(source), f"{dataset}-cnn-{source}-seed-{seed}",
                            inputs, data=data, source=source, seed=seed) as tracker:
        tracker.log_params({"classifier": spec.model_dump(), "augment": params.augment.model_dump(),
                            "source": source, "train_images": len(images), "seed": seed})
        model, frame = fit_classifier(
            spec, augment, params.data.image_shape, len(params.data.labels), (images, labels),
            (val_images, val_labels), seed,
            callbacks=[MetricsToTracker(tracker), EpochTimer(f"cnn {dataset}/{source} seed {seed}", spec.epochs)])
        save_model(model, out_dir / paths.classifier_model(dataset, source, seed).name)
        tracker.log_keras_model(model, "classifier", val_images[:4])
    return frame, len(images)
