"""The quality metrics' feature network: holdout accuracy and fit time of variants against the old settings.

    python benchmarks/feature_network.py [--dataset mnist] [--seed 42] [--variants NAME ...]

Reads the pipeline's splits (``artifacts/<dataset>/real/train.npz`` and ``holdout.npz``: run
``dvc repro prepare@mnist`` first) and fits each variant of ``features`` in this process with the
library's ``fit_feature_network``. Prints holdout accuracy, seconds and the time ratio to the
baseline (the earlier default settings: 2,000 digits per class, filters 32-64, 2 epochs of 128,
a constant 0.003). Pin one core for the numbers in docs/quality.md: ``taskset -c 0`` with
``TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1``.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

BASELINE = {"filters": [32, 64], "epochs": 2, "batch_size": 128, "train_images_per_class": 2000,
            "learning_rate": 0.003, "schedule": "constant"}
VARIANTS = {
    "baseline": {},
    "all_digits_cosine_0.005": {"train_images_per_class": None, "learning_rate": 0.005, "schedule": "cosine"},
    "all_digits_third_block": {"train_images_per_class": None, "learning_rate": 0.005, "schedule": "cosine",
                               "filters": [32, 64, 128]},
    "params_yaml": None,  # the current params.yaml
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()

    from synthset import config, paths
    from synthset.data.archives import class_indices, first_per_class, load_images
    from synthset.training.features import fit_feature_network

    params = config.load(dataset=args.dataset)
    labels = params.data.labels
    images, classes = load_images(paths.real_split(args.dataset, "train"))
    holdout_images, holdout_classes = load_images(paths.real_split(args.dataset, "holdout"))
    holdout = (holdout_images, class_indices(holdout_classes, labels))

    results = {}
    for name in args.variants:
        spec = params.features if VARIANTS[name] is None else params.features.model_copy(
            update={**BASELINE, **VARIANTS[name]})
        keep = first_per_class(classes, labels, spec.train_images_per_class)
        started = time.perf_counter()
        _, scores = fit_feature_network(spec, params.data.image_shape, len(labels),
                                        (images[keep], class_indices(classes[keep], labels)), holdout, args.seed)
        results[name] = (scores["holdout_accuracy"], time.perf_counter() - started)
        print(f"{name:26s} holdout accuracy {results[name][0]:.4f}  {results[name][1]:6.1f} s", flush=True)
    if "baseline" in results:
        base = results["baseline"][1]
        print(f"\n{args.dataset}, seed {args.seed}, {os.environ.get('TF_NUM_INTRAOP_THREADS', 'all')} threads:")
        for name, (accuracy, seconds) in results.items():
            print(f"{name:26s} {accuracy:.4f}  {seconds:6.1f} s  time ratio {seconds / base:.2f}")


if __name__ == "__main__":
    main()
