"""The real splits every later stage reads: train, holdout (model selection) and validation."""

from __future__ import annotations

import json

import numpy as np

from synthset import fids30, paths
from synthset.config import Fids30Params, Params
from synthset.datasets import save_images, split_mnist
from synthset.errors import SynthsetError
from synthset.io import write_atomically


def prepare(params: Params, dataset: str) -> dict[str, int]:
    """Write ``dataset``'s three splits; the first stage of its pipeline, so missing data stops it before any work."""
    record = {}
    if dataset == "mnist":
        splits = split_mnist(paths.raw("mnist"), params.mnist)
    else:
        splits, record = split_fids30(params.fids30, params.seed)
    for name, (images, labels) in splits.items():
        save_images(paths.real_split(dataset, name), images, labels)
        print(f"[prepare {dataset}] {name}: {len(images)} images", flush=True)
    per_class = {name: {params.data.class_names[i]: int((labels == label).sum()) for i, label in enumerate(params.data.labels)}
                 for name, (_, labels) in splits.items()}
    with write_atomically(paths.split_record(dataset)) as partial:
        partial.write_text(json.dumps({"images_per_class": per_class, **record}, indent=1) + "\n")
    return {name: len(images) for name, (images, _) in splits.items()}


def split_fids30(spec: Fids30Params, seed: int) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Decode the imported photos to ``image_shape`` and split each class with ``seed``.

    Returns the splits and a record of which photo went where (and which were skipped as
    unreadable), written beside the splits so that the split itself is versioned with them.
    """
    folder = paths.raw("fids30")
    if not folder.is_dir():
        raise SynthsetError(f"{folder}: missing; import FIDS30 first with `synthset fetch-fids30`, which copies "
                            f"the classes from fids30.source ({spec.source}). {fids30.DOWNLOAD_HINT}")
    loaded = fids30.load_class_images(folder, spec.classes, spec.image_shape[0], spec.resize, spec.on_corrupt)
    train, validation = fids30.split_per_class(loaded.labels, spec.validation_fraction, seed)
    holdout = train
    if spec.holdout_per_class:
        keep = np.concatenate([train[loaded.labels[train] == label][-spec.holdout_per_class:]
                               for label in spec.labels])
        train, holdout = np.setdiff1d(train, keep), np.sort(keep)
    parts = {"train": train, "holdout": holdout, "validation": validation}
    files = np.asarray(loaded.files)
    record = {"skipped": loaded.skipped, "files": {name: files[indices].tolist() for name, indices in parts.items()}}
    return {name: (loaded.images[indices], loaded.labels[indices]) for name, indices in parts.items()}, record
