"""Synthetic datasets: N images per class from each class's trained generator."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from synthset import paths
from synthset.config import Params
from synthset.datasets import first_per_class, load_images, load_labels, save_images
from synthset.errors import SynthsetError
from synthset.io import write_atomically
from synthset.selection import chosen_epochs, kept_checkpoints, sample
from synthset.versions import file_md5

MANIFEST = "manifest.json"


def chosen_checkpoint(dataset: str, label: int, epoch: int | str) -> Path:
    """The generator file of ``generate.epoch``: "selected" (by metric), -1 (the last) or an epoch number."""
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
    """The synthetic training set: ``generate.images_per_class`` images of every class."""
    counts = {label: params.generate.images_per_class for label in params.data.labels}
    return _generate(params, dataset, paths.synthetic_dir(dataset), counts, noise_stream=0)


def generate_test_set(params: Params, dataset: str) -> Path:
    """Study 2's synthetic test set: as many images per class as its real test set, from other noise."""
    labels = load_labels(paths.real_split(dataset, "validation"))
    cap = params.study2.test_images_per_class
    # The same selection as the real test set (training.poster.real_test_set), class by class.
    counts = {label: len(first_per_class(labels, [label], cap)) for label in params.data.labels}
    return _generate(params, dataset, paths.synthetic_test_dir(dataset), counts, noise_stream=1)


def _generate(params: Params, dataset: str, out_dir: Path, counts: dict[int, int], noise_stream: int) -> Path:
    """Write ``class_<label>.npz`` (uint8 images, labels) per class and a manifest, all or nothing.

    Everything is written into a ``.partial`` sibling directory that replaces the output in one
    rename once the manifest is written, so a half-written dataset never carries the final name.
    Each (class, noise stream) has its own noise, so training and test images never share a draw.
    """
    spec = params.generate
    manifest = {"images_per_class": counts, "classes": {}}
    with write_atomically(out_dir) as partial:
        partial.mkdir(parents=True)
        for label, count in counts.items():
            checkpoint = chosen_checkpoint(dataset, label, spec.epoch)
            generator = keras.saving.load_model(checkpoint, compile=False)
            images = sample(generator, count, params.gan.latent_dim, seed=(params.seed, label, noise_stream),
                            batch_size=spec.batch_size)
            archive = paths.synthetic_archive(partial, label)
            save_images(archive, images, np.full(len(images), label))
            manifest["classes"][str(label)] = {
                "checkpoint": checkpoint.name, "generator_md5": file_md5(checkpoint),
                "archive": archive.name, "archive_md5": file_md5(archive), "images": len(images),
            }
            print(f"[generate {dataset}] class {label}: {len(images)} images from {checkpoint.name} "
                  f"-> {out_dir}", flush=True)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out_dir


def load_synthetic(dataset: str, classes: list[int], directory: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All classes' synthetic images (the training set unless ``directory`` says otherwise),
    refusing a directory whose manifest is missing or disagrees."""
    directory = directory or paths.synthetic_dir(dataset)
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
