"""The real splits every later stage reads: train, holdout (model selection) and validation."""

from __future__ import annotations

from synthset import paths
from synthset.config import Params
from synthset.datasets import save_images, split_mnist


def prepare_mnist(params: Params) -> dict[str, int]:
    splits = split_mnist(paths.raw("mnist"), params.mnist)
    for name, (images, labels) in splits.items():
        save_images(paths.real_split("mnist", name), images, labels)
        print(f"[prepare mnist] {name}: {len(images)} images", flush=True)
    return {name: len(images) for name, (images, _) in splits.items()}
