"""GAN training step time: XLA (``gan.jit_compile: true``) against plain graph mode, same process.

    python benchmarks/gan_step.py [--scale default] [--steps 30]

Prints ms per step for each variant and the ratio to the baseline (graph mode, no XLA).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from synthset import config  # noqa: E402
from synthset.training.gan import build_gan  # noqa: E402


def ms_per_step(params, jit: bool, steps: int) -> float:
    gan_params = params.gan.model_copy(update={"jit_compile": jit})
    model = build_gan(gan_params, params.mnist.image_shape, seed=0)
    batch = params.gan.batch_size
    images = np.random.default_rng(0).uniform(-1, 1, (batch * steps, *params.mnist.image_shape)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices(images).batch(batch).cache()
    model.fit(data.take(3), epochs=1, verbose=0)  # compile and warm up outside the timing
    started = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return 1000 * (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="default")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    params = config.load(scale=args.scale)
    baseline = ms_per_step(params, jit=False, steps=args.steps)
    xla = ms_per_step(params, jit=True, steps=args.steps)
    print(f"scale {args.scale}, batch {params.gan.batch_size}, {args.steps} steps, {os.cpu_count()} CPUs")
    print(f"graph (baseline): {baseline:8.1f} ms/step  ratio 1.00")
    print(f"graph + XLA     : {xla:8.1f} ms/step  ratio {xla / baseline:.2f}")


if __name__ == "__main__":
    main()
