"""GAN training step time: XLA (``gan.jit_compile: true``) against plain graph mode, for every
scale and dataset, in one process.

    python benchmarks/gan_step.py [--scales tiny default paper] [--datasets mnist fids30]
                                  [--steps 30] [--warmup 3] [--threads 1]

Each row builds the dataset's GAN at the scale's settings twice, ``jit_compile`` set to false (the
baseline) and to true, trains ``--warmup`` steps outside the timing (tracing, and XLA's
compilation), then ``--steps`` timed steps on random images of the dataset's shape. Prints ms per
step of each, the ratio XLA / graph (above 1: XLA is slower) and what params.yaml sets, so that
``jit_compile`` can be chosen per scale by the numbers. ``--threads 1`` is what each worker process
of a parallel GAN stage gets on 2 cores. The paper scale's XLA compilation takes minutes on a CPU.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def ms_per_step(params, jit: bool, steps: int, warmup: int) -> float:
    import numpy as np
    import tensorflow as tf

    from synthset.training.gan import build_gan

    gan = params.gan.model_copy(update={"jit_compile": jit})
    model = build_gan(gan, params.data.image_shape, seed=0)
    batch = gan.batch_size
    images = np.random.default_rng(0).uniform(-1, 1, (batch, *params.data.image_shape)).astype("float32")
    data = tf.data.Dataset.from_tensors(images).repeat()
    model.fit(data, steps_per_epoch=warmup, epochs=1, verbose=0)  # trace (and compile) outside the timing
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return 1000 * (time.perf_counter() - started) / steps


def main(argv: list[str] | None = None) -> list[dict]:
    from synthset import config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", nargs="+", default=list(config.SCALES), choices=config.SCALES)
    parser.add_argument("--datasets", nargs="+", help="datasets of params.yaml (default: those of `datasets`)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="TensorFlow's intra- and inter-op threads (default: all cores)")
    parser.add_argument("--params", default=str(config.PARAMS_FILE))
    args = parser.parse_args(argv)
    args.datasets = args.datasets or config.load(args.params).datasets
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    print(f"{args.steps} timed steps after {args.warmup} untimed, {args.threads or os.cpu_count()} thread(s)")
    print(f"{'scale':8} {'dataset':8} {'batch':>5} {'graph ms':>9} {'XLA ms':>9} {'XLA/graph':>9}  params.yaml")
    rows = []
    for scale in args.scales:
        for dataset in args.datasets:
            params = config.load(args.params, dataset=dataset, scale=scale)
            graph = ms_per_step(params, jit=False, steps=args.steps, warmup=args.warmup)
            xla = ms_per_step(params, jit=True, steps=args.steps, warmup=args.warmup)
            rows.append({"scale": scale, "dataset": dataset, "batch_size": params.gan.batch_size,
                         "graph_ms": graph, "xla_ms": xla, "ratio": xla / graph, "jit_compile": params.gan.jit_compile})
            verdict = "jit_compile: " + str(params.gan.jit_compile).lower()
            faster = "xla" if xla < graph else "graph"
            if (faster == "xla") != params.gan.jit_compile:
                verdict += f" (the {faster} variant is faster here)"
            print(f"{scale:8} {dataset:8} {params.gan.batch_size:5d} {graph:9.1f} {xla:9.1f} {xla / graph:9.2f}  {verdict}",
                  flush=True)
    return rows


if __name__ == "__main__":
    main()
