"""Classifier training throughput by batch size, XLA and steps per execution, against the params' setting, same process.

    python benchmarks/classifier_epoch.py [--scale default] [--dataset mnist] [--images 10000] [--threads 1]

Trains the study-1 CNN for one epoch on random uint8 images per variant (after a warm-up) and
prints images per second and the ratio to the baseline: the scale's own batch size, no XLA, one
step per execution. ``--threads 1`` is what a worker process of a parallel stage gets on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from synthset import config  # noqa: E402
from synthset.models.classifier import build_classifier  # noqa: E402


def images_per_second(params, batch_size: int, jit: bool, images: np.ndarray, labels: np.ndarray,
                      steps_per_execution: int = 1) -> float:
    spec = params.classifier
    model = build_classifier(image_shape=params.data.image_shape, num_classes=10, filters=spec.filters,
                             kernel_size=spec.kernel_size, dropout=spec.dropout, dense_units=spec.dense_units)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit,
                  steps_per_execution=steps_per_execution)
    warm_up = batch_size * 3 * steps_per_execution
    model.fit(images[:warm_up], labels[:warm_up], batch_size=batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
    return len(images) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--dataset", default="mnist", help="whose image shape and classifier settings")
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--threads", type=int, help="TensorFlow's intra- and inter-op threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    params = config.load(scale=args.scale, dataset=args.dataset)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, *params.data.image_shape), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    base_batch = params.classifier.batch_size
    baseline = images_per_second(params, base_batch, False, images, labels)
    print(f"baseline: batch {base_batch}, no XLA, 1 step per execution: {baseline:,.0f} images/s")
    variants = [(base_batch, False, 8), (base_batch, False, 32), (base_batch, True, 1), (base_batch, True, 32),
                (2 * base_batch, False, 1)]
    for batch, jit, steps in variants:
        speed = images_per_second(params, batch, jit, images, labels, steps)
        print(f"batch {batch}, XLA {jit}, {steps} steps per execution: {speed:,.0f} images/s, "
              f"{speed / baseline:.2f}x baseline")


if __name__ == "__main__":
    main()
