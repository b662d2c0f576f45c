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


def run(params: Params, dataset: str) -> dict:
    """``study1.<dataset>``: validation accuracy and loss of the CNN trained on each source."""
    metrics = {"study1": {dataset: study1_summary(params, dataset)}}
    with write_atomically(paths.study1_metrics(dataset)) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    return metrics
