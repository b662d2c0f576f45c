"""A stage's independent trainings: one process using every core against one worker process per core.

    python benchmarks/parallel_stage.py [--dataset mnist] [--scale default] [--tasks 4] [--steps 60]

Both variants go through ``synthset.parallel.run_tasks`` (the stages' code): the baseline with
``SYNTHSET_WORKERS=1`` (one process, TensorFlow on every core, the tasks one after the other), the
other with one worker per core. Each task trains the dataset's GAN at the scale's settings for
``--steps`` steps on random images. Prints wall seconds, trainings per minute and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time


def train_one(dataset: str, scale: str, steps: int, seed: int) -> float:
    """Seconds of one GAN training, start-up of TensorFlow excluded (the first task pays it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    from synthset import config
    from synthset.training.gan import train_gan

    params = config.load(dataset=dataset, scale=scale)
    images = np.random.default_rng(seed).integers(0, 256, (512, *params.data.image_shape), dtype=np.uint8)
    started = time.perf_counter()
    train_gan(params.gan, images, seed=seed, steps=steps)
    return time.perf_counter() - started


def timed(tasks: list[tuple], workers: int) -> tuple[float, float]:
    """(wall seconds, seconds spent training summed over tasks) with ``workers`` processes."""
    from synthset import parallel

    os.environ["SYNTHSET_WORKERS"] = str(workers)
    started = time.perf_counter()
    seconds = parallel.run_tasks(train_one, tasks)
    return time.perf_counter() - started, sum(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--scale", default="default")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    from synthset import parallel

    cores = parallel.cores()
    tasks = [(args.dataset, args.scale, args.steps, seed) for seed in range(args.tasks)]
    base_wall, base_train = timed(tasks, 1)
    wall, train = timed(tasks, cores)
    print(f"{args.dataset} GANs at scale {args.scale}: {args.tasks} trainings of {args.steps} steps, {cores} cores")
    print(f"1 process, {cores} threads (baseline): {base_wall:6.1f} s wall ({base_train:6.1f} s training), "
          f"{60 * args.tasks / base_wall:5.1f} trainings/min, ratio 1.00")
    print(f"{cores} processes, 1 thread each     : {wall:6.1f} s wall ({train:6.1f} s training), "
          f"{60 * args.tasks / wall:5.1f} trainings/min, ratio {wall / base_wall:.2f}")


if __name__ == "__main__":
    main()
