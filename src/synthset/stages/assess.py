"""Stage ``assess``: how real the generated dataset is, every quality metric per class and for the
whole set, beside its real-vs-real floor."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synthset import paths, stages
from synthset.tracking import lineage, runs
from synthset.config import Params
from synthset.io import write_atomically
from synthset.quality import scoring
from synthset.quality.references import feature_extractor, references
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.hashes import file_md5


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {name: round(float(value), 6) for name, value in scores.items()}


def run(params: Params, dataset: str) -> dict:
    """Write ``quality.<dataset>`` (whole set, floors, per class) to the dataset's quality metrics file."""
    summary = assess_directory(params, dataset, paths.synthetic_dir(dataset))
    metrics = {"quality": {dataset: summary}}
    with write_atomically(paths.quality_metrics(dataset)) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    _track(params, dataset, summary)
    return metrics


def assess_directory(params: Params, dataset: str, directory: Path) -> dict:
    """Every quality metric of the synthetic set in ``directory``, whole set and per class, beside
    its floor, against this workspace's feature network and holdout (``synthset datasets compare``
    re-scores old versions with it, so that old and new are measured the same way)."""
    spec = params.quality
    extractor = feature_extractor(params, dataset)
    refs = references(params, dataset, extractor)
    images, labels = load_synthetic(directory, params.data.labels)

    per_class, candidates, copies, floor_copies = {}, [], [], []
    for index, (label, ref) in enumerate(refs.items()):
        chosen = images[labels == label][: len(ref.reference)]
        candidate = scoring.embed(extractor, chosen, np.full(len(chosen), index))
        scores = scoring.score_class(candidate, ref, spec, params.seed)
        floor = scoring.floor_of_class(ref, spec, params.seed)
        per_class[str(label)] = _rounded({**scores, **{f"{k}_floor": v for k, v in floor.items()}})
        candidates.append(candidate)
        copies.append(scores["near_copy_share"])
        floor_copies.append(floor["near_copy_share"])
        print(f"[quality {dataset}] class {label}: fid {scores['fid']:.3g} (floor {floor['fid']:.3g}), "
              f"label fidelity {scores['label_fidelity']:.3f}", flush=True)

    # The whole set: classes pooled. Near-copies are judged within each class, so their share is the
    # mean over classes (every class contributes the same number of images).
    reference = scoring.Embedded.concatenate([ref.reference for ref in refs.values()])
    floor_half = scoring.Embedded.concatenate([ref.floor_half for ref in refs.values()])
    whole = scoring.score(scoring.Embedded.concatenate(candidates), reference, spec, params.seed, float(np.mean(copies)))
    whole_floor = scoring.score(floor_half, reference, spec, params.seed, float(np.mean(floor_copies)))
    return {
        **_rounded(whole), **_rounded({f"{k}_floor": v for k, v in whole_floor.items()}),
        "images_per_class": len(refs[params.data.labels[0]].reference),
        "per_class": per_class,
    }


def _track(params: Params, dataset: str, summary: dict) -> None:
    inputs = {"synthetic": manifest_md5(paths.synthetic_dir(dataset)),
              "holdout": file_md5(paths.real_split(dataset, "holdout")),
              "feature_network": file_md5(paths.feature_network(dataset))}
    data = [lineage.synthetic(dataset, "evaluation"), lineage.real(dataset, "holdout", "reference")]
    with runs.stage_run(dataset, stages.ASSESS, f"{dataset}-synthetic-quality", inputs, data=data) as tracker:
        tracker.log_params({"quality": params.quality.model_dump(), "images_per_class": summary["images_per_class"]})
        tracker.log_metrics({k: v for k, v in summary.items() if isinstance(v, float)}, step=0)
        for label, scores in summary["per_class"].items():
            tracker.log_metrics({f"{k}_class_{label}": v for k, v in scores.items()}, step=0)
        tracker.log_artifact(paths.quality_metrics(dataset))
