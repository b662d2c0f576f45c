"""Stage ``prepare``: the real splits every later stage reads, train, holdout (model selection) and validation."""

from __future__ import annotations

import json

from synthset import paths
from synthset.config import Params
from synthset.data.archives import save_images
from synthset.datasets.registry import module
from synthset.io import write_atomically


def run(params: Params, dataset: str) -> dict[str, int]:
    """Write ``dataset``'s three splits and a record of what is in each, as one directory that
    appears whole or not at all; returns the image counts."""
    splits, record = module(params.data.kind).split(params.data, params.seed, paths.raw(dataset), dataset)
    per_class = {name: {params.data.class_names[i]: int((labels == label).sum()) for i, label in enumerate(params.data.labels)}
                 for name, (_, labels) in splits.items()}
    with write_atomically(paths.real_dir(dataset)) as partial:
        partial.mkdir(parents=True)
        for name, (images, labels) in splits.items():
            save_images(partial / paths.real_split(dataset, name).name, images, labels)
            print(f"[prepare {dataset}] {name}: {len(images)} images", flush=True)
        (partial / paths.split_record(dataset).name).write_text(
            json.dumps({"images_per_class": per_class, **record}, indent=1) + "\n")
    return {name: len(images) for name, (images, _) in splits.items()}
