"""Synthetic image sets: from a GAN's kept generator checkpoints to per-class archives on disk, and back.

The on-disk format: a directory with ``class_<label>.npz`` (uint8 images and labels, as the real
splits) per class and a ``manifest.json`` naming each archive, its md5 and the generator checkpoint
that drew it. A directory without a manifest, or whose archives disagree with it, is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from synthset import paths
from synthset.data.archives import from_tanh_range, load_images, save_images
from synthset.errors import SynthsetError
from synthset.io import write_atomically
from synthset.hashes import file_md5

MANIFEST = "manifest.json"
_CHECKPOINT = re.compile(r"generator_epoch_(\d+)\.keras$")


def kept_checkpoints(gan_dir: Path) -> dict[int, Path]:
    """{epoch: generator file} of one class's GAN output."""
    found = {int(m.group(1)): path for path in (Path(gan_dir) / "checkpoints").glob("*.keras")
             if (m := _CHECKPOINT.search(path.name))}
    if not found:
        raise SynthsetError(f"{gan_dir}: no generator checkpoints; run `dvc repro` to train the GAN")
    return dict(sorted(found.items()))


def read_epoch_choice(path: Path) -> dict[int, int]:
    """{label: epoch} of the epoch-selection stage's choice file."""
    if not Path(path).exists():
        raise SynthsetError(f"{path}: missing; run the epoch-selection stage (`dvc repro`) or set generate.epoch to a number")
    return {int(label): entry["epoch"] for label, entry in json.loads(Path(path).read_text())["classes"].items()}


def chosen_checkpoint(gan_dir: Path, label: int, epoch: int | str, choice_file: Path) -> Path:
    """The generator file of ``generate.epoch``: "selected" (by metric), -1 (the last) or an epoch number."""
    checkpoints = kept_checkpoints(gan_dir)
    if epoch == "selected":
        epoch = read_epoch_choice(choice_file)[label]
    if epoch == -1:
        return checkpoints[max(checkpoints)]
    if epoch not in checkpoints:
        raise SynthsetError(f"generate.epoch={epoch}: class {label} kept no generator of that epoch "
                            f"(kept: {sorted(checkpoints)}; gan.checkpoint_every sets which are kept)")
    return checkpoints[epoch]


def pooled_checkpoints(gan_dir: Path, label: int, epoch: int | str, choice_file: Path, pool: int) -> list[Path]:
    """The chosen generator file (``chosen_checkpoint``) first, then up to ``pool - 1`` kept before it, latest first."""
    chosen = chosen_checkpoint(gan_dir, label, epoch, choice_file)
    kept = list(kept_checkpoints(gan_dir).values())
    earlier = kept[: kept.index(chosen)]
    return [chosen, *reversed(earlier[len(earlier) - (pool - 1):] if pool > 1 else [])]


def sample(generator: keras.Model, count: int, latent_dim: int, seed: int | tuple[int, ...],
           batch_size: int = 500) -> np.ndarray:
    """``count`` uint8 images from N(0, 1) noise drawn with ``seed`` (an int or a tuple of ints)."""
    noise = np.random.default_rng(seed).standard_normal((count, latent_dim)).astype("float32")
    # Direct calls, not predict(): each loaded checkpoint would trace a new predict function.
    batches = [keras.ops.convert_to_numpy(generator(noise[start : start + batch_size], training=False))
               for start in range(0, count, batch_size)]
    return from_tanh_range(np.concatenate(batches))


def write_set(out_dir: Path, classes: Iterable[tuple[int, np.ndarray, list[tuple[Path, int]]]],
              counts: dict[int, int]) -> Path:
    """Write ``(label, images, [(generator checkpoint, images it drew), ...])`` per class and the
    manifest, all or nothing. The first checkpoint is the class's chosen one; a pool's others are
    listed under ``pool``.

    Everything is written into a ``.partial`` sibling directory that replaces the output in one
    rename once the manifest is written, so a half-written set never carries the final name.
    """
    manifest = {"images_per_class": counts, "classes": {}}
    with write_atomically(out_dir) as partial:
        partial.mkdir(parents=True)
        for label, images, drawn_by in classes:
            archive = paths.synthetic_archive(partial, label)
            save_images(archive, images, np.full(len(images), label))
            checkpoint = drawn_by[0][0]
            entry = {"checkpoint": checkpoint.name, "generator_md5": file_md5(checkpoint),
                     "archive": archive.name, "archive_md5": file_md5(archive), "images": len(images)}
            if len(drawn_by) > 1:
                entry["pool"] = [{"checkpoint": path.name, "generator_md5": file_md5(path), "images": count}
                                 for path, count in drawn_by]
            manifest["classes"][str(label)] = entry
            sources = ", ".join(f"{count} from {path.name}" for path, count in drawn_by)
            print(f"[synthetic] class {label}: {len(images)} images ({sources}) -> {out_dir}", flush=True)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return out_dir


def manifest_md5(directory: Path) -> str:
    """The version of a synthetic set, as MLflow runs record it: its manifest's md5."""
    return file_md5(Path(directory) / MANIFEST)


def load_synthetic(directory: Path, classes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """All classes' images of the synthetic set in ``directory``, refusing a directory whose
    manifest is missing or disagrees with its archives."""
    directory = Path(directory)
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
