"""Stage ``evaluate_study2``: the poster's table and study 2's other numbers in one metrics file."""

from __future__ import annotations

import json

from synthset import paths
from synthset.config import SEMI_VARIANTS, Params
from synthset.errors import SynthsetError
from synthset.io import write_atomically


def _read_summary(path, what: str) -> dict:
    if not path.exists():
        raise SynthsetError(f"{path}: missing; {what} has not run yet (run `dvc repro`)")
    return json.loads(path.read_text())


def study2_summary(params: Params, dataset: str) -> dict:
    """The poster's table, a row per model: train / real test / synthetic test accuracy at each table
    epoch; the semi-supervised variants, the complete semi-supervised GAN, the label audit and how
    alike the attention maps of study 1's CNNs are on real test digits."""
    summary = {}
    for model in [*params.study2.models, *(paths.semi_name(variant) for variant in SEMI_VARIANTS)]:
        row = _read_summary(paths.study2_summary(dataset, model), f"the study 2 model {model}")
        summary[model] = {key: value for key, value in row.items() if key != "train_images"}
    summary["ssl_gan"] = {
        str(count): _read_summary(paths.study2_summary(dataset, paths.ssl_gan_name(count)),
                                  f"the semi-supervised GAN with {count} labels")
        for count in params.study2.ssl.labels
    }
    audit = _read_summary(paths.label_audit_summary(dataset), "the label audit")
    summary["label_audit"] = {key: audit[key] for key in ("disputed", "disputed_share", "images")}
    attention = _read_summary(paths.attention_summary(dataset), "the attention comparison")
    summary["attention"] = {"similarity": {method: by_set["real_images"] for method, by_set in attention["similarity"].items()},
                            "sanity_passed": attention["sanity_passed"]}
    return summary


def run(params: Params, dataset: str) -> dict:
    """``study2.<model>.*``: the poster is about MNIST only."""
    metrics = {"study2": study2_summary(params, dataset)}
    with write_atomically(paths.study2_metrics()) as partial:
        partial.write_text(json.dumps(metrics, indent=2) + "\n")
    for test_set, short in (("real", "real"), ("synthetic", "synth")):  # the poster's table for `dvc metrics show`
        row = {model: metrics["study2"][model][f"test_accuracy_{test_set}"] for model in params.study2.models}
        with write_atomically(paths.study2_headline(short)) as partial:
            partial.write_text(json.dumps(row, indent=2) + "\n")
    return metrics
