"""Stage ``generate``: the synthetic training set, ``generate.images_per_class`` images of every class."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from synthset import paths, seeds
from synthset.tracking import lineage
from synthset.config import Params
from synthset.synthetic import pooled_checkpoints, sample, write_set
from synthset.hashes import dvc_md5


def draw(params: Params, dataset: str, out_dir: Path, counts: dict[int, int], noise_stream: int) -> Path:
    """Each class's chosen generator (with ``generate.pool``, it and the ones kept before it, in equal
    shares) draws its count; each (class, noise stream, pooled generator) has its own noise, so the
    training set and study 2's test set never share a draw."""
    spec = params.generate

    def classes():
        for label, count in counts.items():
            checkpoints = pooled_checkpoints(paths.gan_dir(dataset, label), label, spec.epoch,
                                             paths.epoch_choice(dataset), spec.pool)
            shares = [len(part) for part in np.array_split(np.arange(count), len(checkpoints))]
            parts = []
            for index, (checkpoint, share) in enumerate(zip(checkpoints, shares, strict=True)):
                generator = keras.saving.load_model(checkpoint, compile=False)
                noise = seeds.generated_noise(params.seed, label, noise_stream, index)
                parts.append(sample(generator, share, params.gan.latent_dim, seed=noise, batch_size=spec.batch_size))
            yield label, np.concatenate(parts), list(zip(checkpoints, shares, strict=True))

    return write_set(out_dir, classes(), counts)


def run(params: Params, dataset: str) -> Path:
    counts = {label: params.generate.images_per_class for label in params.data.labels}
    out = draw(params, dataset, paths.synthetic_dir(dataset), counts, noise_stream=0)
    announce_lineage(dataset, lineage.synthetic(dataset, "generated"), params.data.labels)
    return out


def announce_lineage(dataset: str, made: lineage.DataUse, labels: list[int]) -> None:
    """Log the new set on the GAN runs that made it, so MLflow shows which runs produced it."""
    runs = lineage.record_generated(dataset, made, labels)
    print(f"[generate {dataset}] {made.name} {dvc_md5(made.path)} logged on {len(runs)} GAN run(s)", flush=True)
