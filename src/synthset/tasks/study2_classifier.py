"""One of the poster's classifiers (a task of stage ``train_study2``), trained on real images, tested on
the real and the synthetic test set at each table epoch; the model, its curves (DVC plots) and table
rows (DVC metrics)."""

from __future__ import annotations

from synthset import paths, stages
from synthset.tracking import lineage, runs
from synthset.config import Params
from synthset.data.archives import class_indices, load_images, subset_per_class
from synthset.io import save_model
from synthset.tasks.study2_files import real_test_set, write_results
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.training.study2 import TestAtCheckpoints, fit_classifier
from synthset.hashes import file_md5


def run(params: Params, dataset: str, model_name: str) -> dict:
    spec = params.study2
    classes = params.data.labels
    train_file, holdout_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "holdout")
    images, labels = subset_per_class(*load_images(train_file), classes, spec.train_images_per_class)
    holdout_images, holdout_labels = load_images(holdout_file)
    real_test, real_test_labels, validation_md5 = real_test_set(params, dataset)
    synthetic_test, synthetic_test_labels = load_synthetic(paths.synthetic_test_dir(dataset), classes)
    test_sets = {"real": (real_test, class_indices(real_test_labels, classes)),
                 "synthetic": (synthetic_test, class_indices(synthetic_test_labels, classes))}
    inputs = {"train": file_md5(train_file), "holdout": file_md5(holdout_file), "validation": validation_md5,
              "synthetic_test": manifest_md5(paths.synthetic_test_dir(dataset))}
    epochs = spec.checkpoints[-1]

    data = [lineage.real(dataset, "train", "training"), lineage.real(dataset, "validation", "test"),
            lineage.synthetic_test(dataset, "test")]
    with runs.stage_run(dataset, stages.TRAIN_STUDY2, f"{dataset}-study2-{model_name}", inputs, data=data,
                            model=model_name) as tracker:
        tracker.log_params({"study2": spec.model_dump(), "model": model_name, "train_images": len(images),
                            "seed": params.seed})
        at_checkpoints = TestAtCheckpoints(spec.checkpoints, test_sets, f"{dataset}/{model_name}", tracker)
        model, curves = fit_classifier(
            model_name, params.data.image_shape, len(classes), spec.learning_rate, spec.batch_size, epochs,
            (images, class_indices(labels, classes)), (holdout_images, class_indices(holdout_labels, classes)),
            params.seed, callbacks=[MetricsToTracker(tracker), at_checkpoints,
                                    EpochTimer(f"study2 {dataset}/{model_name}", epochs)])
        save_model(model, paths.study2_model(dataset, model_name))
        tracker.log_keras_model(model, "classifier", real_test[:4])

    return write_results(dataset, model_name, curves, at_checkpoints.summary(train_images=len(images)))
