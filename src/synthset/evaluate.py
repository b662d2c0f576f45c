"""The studies' final numbers: one metrics file per study that DVC compares across commits and experiments."""

from __future__ import annotations

import json

from synthset import paths
from synthset.config import SEMI_VARIANTS, SOURCES, Params
from synthset.errors import SynthsetError
from synthset.io import write_atomically


def study1_summary(params: Params, dataset: str) -> dict[str, float]:
    summary = {}
    for source in SOURCES:
        path = paths.classifier_summary(dataset, source)
        if not path.exists():
            raise SynthsetError(f"{path}: missing; the {source} classifier has not been trained (run `dvc repro`)")
        final = json.loads(path.read_text())
        for name in ("val_accuracy", "val_loss"):
            summary[f"{name}_{source}"] = round(final[name], 4)  # mean over seeds
            summary[f"{name}_{source}_std"] = round(final[f"{name}_std"], 4)
    summary["seeds"] = final["seeds"]
    summary["synthetic_gap_pp"] = round(100 * (summary["val_accuracy_real"] - summary["val_accuracy_synthetic"]), 2)
    return summary


def write_study1_metrics(params: Params, dataset: str) -> dict:
    """``study1.<dataset>``: validation accuracy and loss of the CNN trained on each source."""
    metrics = {"study1": {dataset: study1_summary(params, dataset)}}
    with write_atomically(paths.study1_metrics(dataset)) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics


def _read_summary(path, what: str) -> dict:
    if not path.exists():
        raise SynthsetError(f"{path}: missing; {what} has not run yet (run `dvc repro`)")
    return json.loads(path.read_text())


def study2_summary(params: Params, dataset: str) -> dict:
    """The poster's table, a row per model: train / real test / synthetic test accuracy at each table
    epoch; the semi-supervised variants, the complete semi-supervised GAN, the label audit and how
    alike the attention maps of study 1's CNNs are on real test digits."""
    summary = {}
    for model in [*params.study2.models, *(f"semi_gan_{variant}" for variant in SEMI_VARIANTS)]:
        row = _read_summary(paths.poster_summary(dataset, model), f"the study 2 model {model}")
        summary[model] = {key: value for key, value in row.items() if key != "train_images"}
    summary["ssl_gan"] = {
        str(count): _read_summary(paths.poster_summary(dataset, f"ssl_gan_{count}_labels"),
                                  f"the semi-supervised GAN with {count} labels")
        for count in params.study2.ssl.labels
    }
    audit = _read_summary(paths.label_audit_summary(dataset), "the label audit")
    summary["label_audit"] = {key: audit[key] for key in ("disputed", "disputed_share", "images")}
    attention = _read_summary(paths.attention_summary(dataset), "the attention comparison")
    summary["attention"] = {"similarity": {method: by_set["real_images"] for method, by_set in attention["similarity"].items()},
                            "sanity_passed": attention["sanity_passed"]}
    return summary


def write_study2_metrics(params: Params, dataset: str = "mnist") -> dict:
    """``study2.<model>.*``: the poster is about MNIST only."""
    metrics = {"study2": study2_summary(params, dataset)}
    with write_atomically(paths.study2_metrics()) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
