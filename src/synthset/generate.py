"""Synthetic datasets: N images per class from each class's trained generator."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from synthset import paths
from synthset.config import Params
from synthset.datasets import from_tanh_range, save_images
from synthset.errors import SynthsetError
from synthset.io import write_atomically
from synthset.versions import file_md5

MANIFEST = "manifest.json"


def chosen_checkpoint(dataset: str, label: int, epoch: int | str) -> Path:
    """The generator file of ``generate.epoch``: "selected" (by metric), -1 (the last) or an epoch number."""
    from synthset.selection import chosen_epochs, kept_checkpoints

    checkpoints = kept_checkpoints(paths.gan_dir(dataset, label))
    if epoch == "selected":
        epoch = chosen_epochs(dataset)[label]
    if epoch == -1:
        return checkpoints[max(checkpoints)]
    if epoch not in checkpoints:
        raise SynthsetError(f"generate.epoch={epoch}: class {label} kept no generator of that epoch "
                            f"(kept: {sorted(checkpoints)}; gan.checkpoint_every sets which are kept)")
    return checkpoints[epoch]


def generate_dataset(params: Params, dataset: str) -> Path:
    """Write ``class_<label>.npz`` (uint8 images, labels) per class and a manifest, all or nothing.

    Everything is written into a ``.partial`` sibling directory that replaces the output in one
    rename once the manifest is written, so a half-written dataset never carries the final name.
    """
    spec = params.generate
    out_dir = paths.synthetic_dir(dataset)
    manifest = {"images_per_class": spec.images_per_class, "classes": {}}
    with write_atomically(out_dir) as partial:
        partial.mkdir(parents=True)
        for label in params.mnist.classes:
            checkpoint = chosen_checkpoint(dataset, label, spec.epoch)
            generator = keras.saving.load_model(checkpoint, compile=False)
            rng = np.random.default_rng([params.seed, label])
            batches = []
            for start in range(0, spec.images_per_class, spec.batch_size):
                count = min(spec.batch_size, spec.images_per_class - start)
                noise = rng.standard_normal((count, params.gan.latent_dim)).astype("float32")
                batches.append(from_tanh_range(generator(noise, training=False)))
            images = np.concatenate(batches)
            archive = partial / paths.synthetic_archive(dataset, label).name
            save_images(archive, images, np.full(len(images), label))
            manifest["classes"][str(label)] = {
                "checkpoint": checkpoint.name, "generator_md5": file_md5(checkpoint),
                "archive": archive.name, "archive_md5": file_md5(archive), "images": len(images),
            }
            print(f"[generate {dataset}] class {label}: {len(images)} images from {checkpoint.name}", flush=True)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out_dir


def load_synthetic(dataset: str, classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """All classes' synthetic images, refusing a directory whose manifest is missing or disagrees."""
    from synthset.datasets import load_images

    directory = paths.synthetic_dir(dataset)
    manifest_file = directory / MANIFEST
    if not manifest_file.exists():
        raise SynthsetError(f"{directory}: no {MANIFEST}, so the synthetic dataset is incomplete; run `dvc repro`")
    manifest = json.loads(manifest_file.read_text())
    images, labels = [], []
    for label in classes:
        entry = manifest["classes"].get(str(label))
        if entry is None:
            raise SynthsetError(f"{manifest_file}: class {label} is missing")
        archive = directory / entry["archive"]
        if not archive.exists() or file_md5(archive) != entry["archive_md5"]:
            raise SynthsetError(f"{archive}: missing or changed since generation (md5 mismatch); run `dvc repro`")
        class_images, class_labels = load_images(archive)
        images.append(class_images)
        labels.append(class_labels)
    return np.concatenate(images), np.concatenate(labels)
