"""Stage ``evaluate``: study 1's final numbers for one dataset, a metrics file DVC compares across commits and experiments."""

from __future__ import annotations

import json

from synthset import paths
from synthset.config import SOURCES, Params
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


def headline(study1: dict[str, float], quality: dict) -> dict[str, float]:
    """What `dvc metrics show` prints for a dataset: the CNN's validation accuracy on each source, the
    gap, and the whole set's FID (beside its real-vs-real floor), recall and label fidelity."""
    return {"real": study1["val_accuracy_real"], "augmented": study1["val_accuracy_augmented"],
            "synthetic": study1["val_accuracy_synthetic"], "real+synth": study1["val_accuracy_real_plus_synthetic"],
            "gap_pp": study1["synthetic_gap_pp"], "fid": round(quality["fid"], 4),
            "fid_floor": round(quality["fid_floor"], 4), "recall": round(quality["recall"], 4),
            "label_fid": round(quality["label_fidelity"], 4)}


def run(params: Params, dataset: str) -> dict:
    """``study1.<dataset>``: validation accuracy and loss of the CNN trained on each source; and the
    dataset's headline row."""
    summary = study1_summary(params, dataset)
    metrics = {"study1": {dataset: summary}}
    with write_atomically(paths.study1_metrics(dataset)) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    quality = _read(paths.quality_metrics(dataset), "the quality assessment")["quality"][dataset]
    with write_atomically(paths.headline_metrics(dataset)) as partial:
        partial.write_text(json.dumps(headline(summary, quality), indent=2) + "\n")
    return metrics


def _read(path, what: str) -> dict:
    if not path.exists():
        raise SynthsetError(f"{path}: missing; {what} has not run yet (run `dvc repro`)")
    return json.loads(path.read_text())
