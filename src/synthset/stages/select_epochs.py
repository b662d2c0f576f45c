"""Stage ``select_epochs``: score every kept generator checkpoint of every class, choose one per class.

Writes the per-epoch curves (DVC plots) and the choice table (DVC metrics, like the paper's Table 1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import keras
import pandas as pd

from synthset import paths, seeds, stages
from synthset.tracking import runs
from synthset.config import QUALITY_METRICS, Params
from synthset.io import write_atomically
from synthset.models.features import FeatureExtractor
from synthset.quality.scoring import ClassReference
from synthset.quality.selection import best_epoch, score_checkpoints
from synthset.quality.references import feature_extractor, references
from synthset.synthetic import kept_checkpoints
from synthset.hashes import file_md5


def run(params: Params, dataset: str) -> pd.DataFrame:
    spec = params.quality
    metric = spec.selection_metric
    extractor = feature_extractor(params, dataset)
    refs = references(params, dataset, extractor)
    curves = []
    for index, (label, ref) in enumerate(refs.items()):
        curve = class_curve(params, dataset, label, index, ref, extractor)
        epoch = best_epoch(curve, metric)
        print(f"[select {dataset}] class {label}: epoch {epoch} (of {', '.join(map(str, curve['epoch']))}) by {metric} "
              f"({curve.set_index('epoch').loc[epoch, metric]:.4g}; real-vs-real floor "
              f"{curve[metric + '_floor'].iloc[0]:.4g})", flush=True)
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


def class_curve(params: Params, dataset: str, label: int, index: int, ref: ClassReference,
                extractor: FeatureExtractor) -> pd.DataFrame:
    """Every metric of each kept checkpoint of class ``label``'s GAN (``index``: its output in the
    feature network), a row per epoch: what a sweep's trial of the same settings must reproduce."""
    generators = checkpoint_generators(kept_checkpoints(paths.gan_dir(dataset, label)))
    curve = score_checkpoints(generators, ref, extractor, index, params.quality, params.gan.latent_dim,
                              noise_seed=seeds.selection_noise(params.seed, label), seed=params.seed)
    curve.insert(0, "class", label)
    return curve


def checkpoint_generators(checkpoints: dict[int, Path]) -> Iterator[tuple[int, keras.Model]]:
    """(epoch, generator) of each checkpoint: one model, built from the first and given each
    checkpoint's weights in turn, since loading weights is cheaper than rebuilding a model."""
    generator = None
    for epoch, checkpoint in checkpoints.items():
        generator = _with_weights(generator, checkpoint)
        yield epoch, generator


def _with_weights(generator: keras.Model | None, checkpoint: Path) -> keras.Model:
    """``generator`` with the checkpoint's weights, or the checkpoint's own model when there is no
    generator yet or its architecture differs."""
    if generator is not None:
        try:
            generator.load_weights(checkpoint)
            return generator
        except ValueError:
            pass
    return keras.saving.load_model(checkpoint, compile=False)


def _track(params: Params, dataset: str, curves: pd.DataFrame, table: dict) -> None:
    inputs = {"holdout": file_md5(paths.real_split(dataset, "holdout")),
              "feature_network": file_md5(paths.feature_network(dataset))}
    with runs.stage_run(dataset, stages.SELECT_EPOCHS, f"{dataset}-epoch-selection", inputs) as tracker:
        tracker.log_params({"quality": params.quality.model_dump(), "checkpoint_every": params.gan.checkpoint_every})
        for label, entry in table["classes"].items():
            tracker.log_metrics({f"chosen_epoch_class_{label}": entry["epoch"]}, step=0)
        # One series per metric and class, the epoch as step: all in a few batched calls.
        wide = curves.pivot(index="epoch", columns="class", values=list(QUALITY_METRICS))
        wide.columns = [f"{name}_class_{label}" for name, label in wide.columns]
        tracker.log_step_metrics(wide.rename_axis("step").reset_index().to_dict("records"), list(wide.columns))
        tracker.log_artifact(paths.quality_by_epoch(dataset))
        tracker.log_artifact(paths.epoch_choice(dataset))
