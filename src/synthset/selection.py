"""Choose each class's generator epoch by measurement: the paper's Table 1, without the eyes.

Every kept checkpoint of every class generates as many images as the class's reference half of
the holdout; all quality metrics are computed and the best checkpoint by
``quality.selection_metric`` wins. Only the holdout and training split are read, never the
validation set of the final comparison.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from synthset import paths, scoring, tracking
from synthset.config import QUALITY_METRICS, Params
from synthset.datasets import from_tanh_range, load_images
from synthset.errors import SynthsetError
from synthset.io import write_atomically
from synthset.models.features import FeatureExtractor
from synthset.versions import file_md5

_CHECKPOINT = re.compile(r"generator_epoch_(\d+)\.keras$")


def kept_checkpoints(gan_dir: Path) -> dict[int, Path]:
    """{epoch: generator file} of one class's GAN output."""
    found = {int(m.group(1)): path for path in (gan_dir / "checkpoints").glob("*.keras")
             if (m := _CHECKPOINT.search(path.name))}
    if not found:
        raise SynthsetError(f"{gan_dir}: no generator checkpoints; run `dvc repro` to train the GAN")
    return dict(sorted(found.items()))


def sample(generator: keras.Model, count: int, latent_dim: int, seed: int | tuple[int, ...],
           batch_size: int = 500) -> np.ndarray:
    """``count`` uint8 images from N(0, 1) noise drawn with ``seed`` (an int or a tuple of ints)."""
    noise = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype("float32")
    # Direct calls, not predict(): each loaded checkpoint would trace a new predict function.
    batches = [keras.ops.convert_to_numpy(generator(noise[start : start + batch_size], training=False))
               for start in range(0, count, batch_size)]
    return from_tanh_range(np.concatenate(batches))


def feature_extractor(params: Params, dataset: str) -> FeatureExtractor:
    """The dataset's feature network, standardised on the training split if ``quality.feature_scale`` says so."""
    extractor = FeatureExtractor.load(paths.feature_network(dataset))
    if params.quality.feature_scale == "training":
        extractor = extractor.standardized(load_images(paths.real_split(dataset, "train"))[0])
    return extractor


def references(params: Params, dataset: str, extractor: FeatureExtractor) -> dict[int, scoring.ClassReference]:
    holdout_images, holdout_labels = load_images(paths.real_split(dataset, "holdout"))
    train_images, train_labels = load_images(paths.real_split(dataset, "train"))
    return {
        label: scoring.class_reference(extractor, holdout_images[holdout_labels == label],
                                       train_images[train_labels == label], index, params.quality)
        for index, label in enumerate(params.data.labels)
    }


def best_epoch(curve: pd.DataFrame, metric: str) -> int:
    """The epoch of the best ``metric`` value; the earlier epoch on a tie."""
    values = curve[metric] if QUALITY_METRICS[metric] else -curve[metric]
    return int(curve["epoch"].iloc[int(np.argmax(values.to_numpy()))])


def select_epochs(params: Params, dataset: str) -> pd.DataFrame:
    """Score every checkpoint; write the per-epoch curves (DVC plots) and the choice table (DVC metrics)."""
    spec = params.quality
    metric = spec.selection_metric
    extractor = feature_extractor(params, dataset)
    refs = references(params, dataset, extractor)
    curves = []
    for index, (label, ref) in enumerate(refs.items()):
        floor = {f"{name}_floor": value for name, value in scoring.floor_of_class(ref, spec, params.seed).items()}
        rows = []
        for epoch, checkpoint in kept_checkpoints(paths.gan_dir(dataset, label)).items():
            generator = keras.saving.load_model(checkpoint, compile=False)
            images = sample(generator, len(ref.reference), params.gan.latent_dim, seed=params.seed + 7919 * label)
            candidate = scoring.embed(extractor, images, np.full(len(images), index))
            rows.append({"class": label, "epoch": epoch, **scoring.score_class(candidate, ref, spec, params.seed), **floor})
        curve = pd.DataFrame(rows)
        epoch = best_epoch(curve, metric)
        print(f"[select {dataset}] class {label}: epoch {epoch} (of {', '.join(map(str, curve['epoch']))}) by {metric} "
              f"({curve.set_index('epoch').loc[epoch, metric]:.4g}; real-vs-real floor {floor[metric + '_floor']:.4g})",
              flush=True)
        curves.append(curve)

    curves = pd.concat(curves, ignore_index=True)
    table = {"metric": metric, "classes": {}}
    for label, curve in curves.groupby("class"):
        epoch = best_epoch(curve, metric)
        value = curve.set_index("epoch").loc[epoch, metric]
        table["classes"][str(label)] = {"epoch": epoch, metric: round(float(value), 6)}
    with write_atomically(paths.quality_by_epoch(dataset)) as partial:
        curves.to_csv(partial, index=False, float_format="%.6g")
    wide = curves.pivot(index="epoch", columns="class", values=metric).add_prefix("class_").reset_index()
    with write_atomically(paths.selection_curve(dataset)) as partial:
        wide.to_csv(partial, index=False, float_format="%.6g")
    with write_atomically(paths.epoch_choice(dataset)) as partial:
        partial.write_text(json.dumps(table, indent=2) + "\n")
    _track(params, dataset, curves, table)
    return curves


def chosen_epochs(dataset: str) -> dict[int, int]:
    path = paths.epoch_choice(dataset)
    if not path.exists():
        raise SynthsetError(f"{path}: missing; run the epoch-selection stage (`dvc repro`) or set generate.epoch to a number")
    return {int(label): entry["epoch"] for label, entry in json.loads(path.read_text())["classes"].items()}


def _track(params: Params, dataset: str, curves: pd.DataFrame, table: dict) -> None:
    inputs = {"holdout": file_md5(paths.real_split(dataset, "holdout")),
              "feature_network": file_md5(paths.feature_network(dataset))}
    tracking.connect()
    experiment_id, parent_id = tracking.experiment(f"synthset-{dataset}")
    tags = {**tracking.base_tags(inputs), "synthset.stage": "select_epochs", "synthset.dataset": dataset}
    with tracking.run(experiment_id, f"{dataset}-epoch-selection", parent_id, None, tags) as tracker:
        tracker.log_params({"quality": params.quality.model_dump(), "checkpoint_every": params.gan.checkpoint_every})
        for label, entry in table["classes"].items():
            tracker.log_metrics({f"chosen_epoch_class_{label}": entry["epoch"]}, step=0)
        # One series per metric and class, the epoch as step: all in a few batched calls.
        wide = curves.pivot(index="epoch", columns="class", values=list(QUALITY_METRICS))
        wide.columns = [f"{name}_class_{label}" for name, label in wide.columns]
        tracker.log_step_metrics(wide.rename_axis("step").reset_index().to_dict("records"), list(wide.columns))
        tracker.log_artifact(paths.quality_by_epoch(dataset))
        tracker.log_artifact(paths.epoch_choice(dataset))
