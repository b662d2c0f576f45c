"""Study 2's classifiers: training images per second against their FLOPs and this CPU's matmul rate, same process.

    python benchmarks/study2_throughput.py [--models cnn_5l] [--images 4096] [--batch-size 128] [--threads N]

Whether study 2 could train faster on this machine: each model's training throughput (images/s,
after a warm-up epoch), the arithmetic it needs per image (forward multiply-adds counted from its
layers, times 2 for FLOPs and times 3 for forward + backward), the FLOP rate that gives, and the
ratio of that rate to a float32 matrix product of 1024 x 1024 on the same threads (the baseline: what
the CPU does with the friendliest work). A ratio near 1 leaves nothing to gain.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from synthset.models.study2 import build_study2_classifier  # noqa: E402

IMAGE_SHAPE = (28, 28, 1)


def multiply_adds(model: keras.Model) -> int:
    """Forward multiply-adds per image of the model's convolutions and dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel_h, kernel_w, channels_in, channels_out = layer.kernel.shape
            _, height, width, _ = layer.output.shape
            total += height * width * channels_out * kernel_h * kernel_w * channels_in
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


def matmul_flops_per_second(size: int = 1024, repeats: int = 20) -> float:
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    started = time.perf_counter()
    for _ in range(repeats):
        result = product(a, b)
    result.numpy()
    return 2 * size**3 * repeats / (time.perf_counter() - started)


def training_images_per_second(name: str, images: np.ndarray, labels: np.ndarray, batch_size: int) -> tuple[float, int]:
    model = build_study2_classifier(name, image_shape=IMAGE_SHAPE, num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(0.001), loss="sparse_categorical_crossentropy")
    model.fit(images[: batch_size * 3], labels[: batch_size * 3], batch_size=batch_size, epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(images, labels, batch_size=batch_size, epochs=1, verbose=0)
    return len(images) / (time.perf_counter() - started), multiply_adds(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["linear_softmax", "fcnn", "cnn_4l", "cnn_5l"])
    parser.add_argument("--images", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--matrix", type=int, default=1024, help="the baseline matmul's size")
    parser.add_argument("--threads", type=int, help="TensorFlow's intra- and inter-op threads (default: all cores)")
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images, *IMAGE_SHAPE), dtype=np.uint8)
    labels = rng.integers(0, 10, args.images)
    peak = matmul_flops_per_second(args.matrix)
    print(f"baseline: float32 matmul {args.matrix}x{args.matrix}: {peak / 1e9:,.1f} GFLOP/s")
    for name in args.models:
        speed, macs = training_images_per_second(name, images, labels, args.batch_size)
        flops = 6 * macs * speed  # 2 FLOPs a multiply-add, forward + backward about 3 forwards
        print(f"{name}: {speed:,.0f} images/s at batch {args.batch_size}, {6 * macs / 1e6:,.1f} MFLOP per training "
              f"image, {flops / 1e9:,.2f} GFLOP/s, ratio {flops / peak:.2f} to the matmul baseline")


if __name__ == "__main__":
    main()
