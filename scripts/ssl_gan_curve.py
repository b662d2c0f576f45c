"""The complete semi-supervised GAN's test error against training steps, outside the pipeline.

    python scripts/ssl_gan_curve.py [--steps 3000] [--every 300] [--labels 100] [--plain] [--unlabelled-weight W]

Trains the library's model (``training.ssl_gan.fit_ssl_gan``) with params.yaml's ``study2.ssl``
settings on every training digit of ``data/mnist`` (the 60,000 MNIST training images, unlabelled
but for ``--labels`` of them, drawn evenly over the digits) and prints its error on the 10,000 test
digits every ``--every`` steps. ``--plain`` turns weight normalisation off, ``--unlabelled-weight``
sets the weight of the real/fake loss: the levers, compared at one budget on one thread.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from synthset import config  # noqa: E402
from synthset.training.ssl_gan import fit_ssl_gan, labelled_subset  # noqa: E402


def load_digits(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images = np.load(folder / f"{split}_images.npy")
    labels = np.load(folder / f"{split}_labels.npy")
    return (images[..., None] if images.ndim == 3 else images), labels


class PrintTestError(keras.callbacks.Callback):
    def __init__(self, every: int):
        super().__init__()
        self.every, self.started = every, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        print(f"step {(epoch + 1) * self.every}: test error {1 - logs['val_accuracy']:.4f} "
              f"({time.perf_counter() - self.started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--every", type=int, default=300, help="steps between two tests")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--plain", action="store_true", help="plain dense layers (no weight normalisation)")
    parser.add_argument("--unlabelled-weight", type=float, default=None, help="default: params.yaml's")
    parser.add_argument("--data", type=Path, default=Path("data/mnist"))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    except RuntimeError:  # TensorFlow already running in this process (a caller's): its threads stay
        print("--threads ignored: TensorFlow was started before this script", flush=True)
    params = config.load(dataset="mnist")
    changes = {"epochs": max(1, args.steps // args.every), "weight_norm": not args.plain}
    if args.unlabelled_weight is not None:
        changes["unlabelled_weight"] = args.unlabelled_weight
    spec = params.study2.ssl.model_copy(update=changes)
    images, labels = load_digits(args.data, "train")
    test = load_digits(args.data, "test")
    print(f"{len(images):,} training digits, {args.labels} labelled; weight_norm {spec.weight_norm}, "
          f"unlabelled_weight {spec.unlabelled_weight}; {args.threads} thread(s)", flush=True)
    labelled = labelled_subset(labels, list(range(10)), args.labels, params.seed)
    fit_ssl_gan(spec, images.shape[1:], 10, images, labels, labelled, test, params.seed,
                callbacks=[PrintTestError(args.every)], steps_per_epoch=args.every)


if __name__ == "__main__":
    main()
