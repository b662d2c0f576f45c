"""Image archives: uint8 images and labels in one ``.npz`` per split or class, and the subsets and ranges every stage uses."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from synthset.errors import SynthsetError
from synthset.io import write_atomically


def save_images(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """One compressed archive of uint8 images (N, H, W, C) and int labels, written atomically."""
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"expected uint8 images of shape (N, H, W, C), got {images.dtype} {images.shape}")
    with write_atomically(path) as partial:
        with partial.open("wb") as handle:
            np.savez_compressed(handle, images=images, labels=labels.astype(np.int64))


def read_members(path: Path, *members: str) -> tuple[np.ndarray, ...]:
    """The named arrays of an archive; npz members load lazily, so only these are read."""
    path = Path(path)
    if not path.exists():
        raise SynthsetError(f"{path}: missing; run `dvc repro` to (re)build it")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return tuple(archive[member] for member in members)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise SynthsetError(f"{path}: not a readable numpy archive ({error}); delete it and run `dvc repro`") from None


def load_images(path: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_members(path, "images", "labels")
    if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
        raise SynthsetError(f"{path}: expected uint8 images (N, H, W, C) with N labels, got {images.dtype} {images.shape}")
    return images, labels


def load_labels(path: Path) -> np.ndarray:
    """Only the labels of an image archive: counting classes need not decompress every image."""
    (labels,) = read_members(path, "labels")
    if labels.ndim != 1:
        raise SynthsetError(f"{path}: expected one label per image, got labels of shape {labels.shape}")
    return labels


def images_of_class(path: Path, label: int, limit: int | None = None) -> np.ndarray:
    images, labels = load_images(path)
    chosen = images[labels == label]
    if len(chosen) == 0:
        raise SynthsetError(f"{path}: no images of class {label}")
    return chosen[:limit]


def first_per_class(labels: np.ndarray, classes: list[int], per_class: int | None) -> np.ndarray:
    """Indices of the first ``per_class`` images of each class (all for None; fewer if the class has
    fewer), grouped by class in the order of ``classes``, each group in file order.

    Taking a prefix in file order makes every subset deterministic and nested in the larger ones.
    """
    return np.concatenate([np.flatnonzero(labels == label)[:per_class] for label in classes])


def subset_per_class(images: np.ndarray, labels: np.ndarray, classes: list[int], cap: int | None):
    """(images, labels) of ``first_per_class``: the first ``cap`` of each class, classes in order."""
    chosen = first_per_class(labels, classes, cap)
    return images[chosen], labels[chosen]


def class_indices(labels: np.ndarray, classes: list[int]) -> np.ndarray:
    """Dataset labels -> 0..K-1 output indices of a classifier, in the order of ``classes``."""
    lookup = np.full(max(classes) + 1, -1)
    lookup[classes] = np.arange(len(classes))
    return lookup[labels]


def to_tanh_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the range of the generator's tanh."""
    return images.astype(np.float32) / 127.5 - 1.0


def from_tanh_range(images) -> np.ndarray:
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)
