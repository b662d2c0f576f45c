"""Stage ``generate_test``: study 2's synthetic test set, as many images per class as its real test set, other noise."""

from __future__ import annotations

from pathlib import Path

from synthset import paths
from synthset.tracking import lineage
from synthset.config import Params
from synthset.data.archives import first_per_class, load_labels
from synthset.stages.generate import announce_lineage, draw


def run(params: Params, dataset: str) -> Path:
    labels = load_labels(paths.real_split(dataset, "validation"))
    cap = params.study2.test_images_per_class
    # The same selection as the real test set (tasks.study2_files.real_test_set), class by class.
    counts = {label: len(first_per_class(labels, [label], cap)) for label in params.data.labels}
    out = draw(params, dataset, paths.synthetic_test_dir(dataset), counts, noise_stream=1)
    announce_lineage(dataset, lineage.synthetic_test(dataset, "generated"), params.data.labels)
    return out
