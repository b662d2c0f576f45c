"""``synthset datasets compare``: two versions of a synthetic dataset, as recorded and re-scored now.

The recorded numbers come from each revision's own metrics files; they were measured with that
revision's quality code and feature network. Re-scoring both with this workspace's feature network
and holdout puts them on one scale, so a difference is the data's and not the yardstick's.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from synthset import config
from synthset.catalog import history
from synthset.catalog.storage import restore
from synthset.errors import SynthsetError


@dataclass
class Comparison:
    name: str
    labels: tuple[str, str]           # how each revision is named in the tables
    versions: tuple[history.Version, history.Version]
    whole: pd.DataFrame               # metric x (A recorded, B recorded, A now, B now)
    per_class: pd.DataFrame           # one row per (version, class, metric) re-scored now
    samples: tuple[np.ndarray, np.ndarray]   # a few images per class of each version


def _recorded(root: Path, version: history.Version) -> dict[str, float]:
    """The whole-set quality values and study 1 numbers the revision's metrics files hold."""
    dataset = version.set.dataset
    values: dict[str, float] = {}
    quality = history.file_at(root, version.revision.sha, f"metrics/{dataset}/quality.json")
    if quality:
        whole = json.loads(quality).get("quality", {}).get(dataset, {})
        values.update({k: v for k, v in whole.items() if isinstance(v, (int, float))})
    values.update({k: v for k, v in history.headline(root, version.revision.sha, version.set).items() if v is not None})
    return values


def compare(root: Path, rev_a: str, rev_b: str, name: str | None, params_file: Path = Path("params.yaml")) -> Comparison:
    revisions = history.resolve(root, rev_a), history.resolve(root, rev_b)
    chosen = [history.versions_at(root, revision, name) for revision in revisions]
    names = {v.set.name for v in chosen[0]} & {v.set.name for v in chosen[1]}
    if not names:
        held = "; ".join(f"{revision.label} has: {', '.join(v.set.name for v in versions)}"
                         for revision, versions in zip(revisions, chosen, strict=True))
        raise SynthsetError(f"{rev_a} and {rev_b} share no synthetic dataset to compare ({held})")
    if len(names) != 1:
        raise SynthsetError(f"name the dataset to compare with --dataset (both revisions have: {', '.join(sorted(names))})")
    (wanted,) = names
    a, b = (next(v for v in versions if v.set.name == wanted) for versions in chosen)
    if a.set.name.endswith("-test"):
        raise SynthsetError(f"{wanted}: study 2's test set has no quality metrics to re-score; compare "
                            f"{a.set.dataset}-synthetic, or read both revisions' metrics/study2.json")
    # Imported once the request is valid: they start TensorFlow, seconds before a refusal would show.
    from synthset.data.archives import first_per_class
    from synthset.stages.assess import assess_directory
    from synthset.synthetic import load_synthetic

    params = config.load(params_file, dataset=a.set.dataset)
    labels = (f"A {a.revision.label}", f"B {b.revision.label}")
    now, samples = {}, []
    with tempfile.TemporaryDirectory(prefix="synthset-compare-") as scratch:
        for tag, version in zip(labels, (a, b), strict=True):
            directory = restore(root, version.revision.sha, version.set, version.md5, Path(scratch) / tag.replace(" ", "_"))
            print(f"[compare] {tag}: {version.set.name} {version.md5} re-scored with this workspace's feature network",
                  flush=True)
            now[tag] = assess_directory(params, version.set.dataset, directory)
            images, image_labels = load_synthetic(directory, params.data.labels)
            samples.append(images[first_per_class(image_labels, params.data.labels, 8)])
    recorded = {tag: _recorded(root, version) for tag, version in zip(labels, (a, b), strict=True)}
    metrics = [key for key, value in now[labels[0]].items() if isinstance(value, (int, float))]
    extra = [key for key in recorded[labels[0]] if key not in metrics]
    whole = pd.DataFrame({
        **{f"{tag} recorded": [recorded[tag].get(m) for m in metrics + extra] for tag in labels},
        **{f"{tag} now": [now[tag].get(m) for m in metrics + extra] for tag in labels},
    }, index=metrics + extra)
    whole.index.name = "metric"
    per_class = pd.DataFrame([{"version": tag, "class": label, "metric": metric, "value": value}
                              for tag in labels for label, scores in now[tag]["per_class"].items()
                              for metric, value in scores.items()])
    return Comparison(wanted, labels, (a, b), whole, per_class, (samples[0], samples[1]))
