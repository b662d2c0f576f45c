"""The complete semi-supervised GAN with a given number of labels (a task of stage
``train_study2``), tested on real digits.

Labelled images are drawn evenly from the classes of the training split (seeded). The test set is
the whole real validation split (the MNIST test set), so the error rate compares with the paper's.
"""

from __future__ import annotations

import keras
import numpy as np

from synthset import paths, stages
from synthset.tracking import runs
from synthset.config import Params
from synthset.data.archives import class_indices, first_per_class, load_images
from synthset.imaging import image_grid, save_png
from synthset.io import save_model
from synthset.models.ssl_gan import plain_copy
from synthset.tasks.study2_files import write_results
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.training.ssl_gan import fit_ssl_gan, labelled_subset
from synthset.hashes import file_md5


def run(params: Params, dataset: str, label_count: int) -> dict:
    spec, classes = params.study2.ssl, params.data.labels
    train_file, test_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "validation")
    images, labels = load_images(train_file)
    keep = first_per_class(labels, classes, spec.unlabelled_per_class)
    images, labels = images[keep], class_indices(labels[keep], classes)
    labelled = labelled_subset(labels, list(range(len(classes))), label_count, params.seed)
    test_images, test_labels = load_images(test_file)
    test_labels = class_indices(test_labels, classes)
    inputs = {"train": file_md5(train_file), "validation": file_md5(test_file)}
    name = paths.ssl_gan_name(label_count)

    with runs.stage_run(dataset, stages.TRAIN_STUDY2, f"{dataset}-study2-{name}", inputs, labels=label_count) as tracker:
        tracker.log_params({"ssl": spec.model_dump(), "labels": label_count, "unlabelled_images": len(images),
                            "seed": params.seed})
        model, curves = fit_ssl_gan(
            spec, params.data.image_shape, len(classes), images, labels, labelled, (test_images, test_labels),
            params.seed, callbacks=[MetricsToTracker(tracker),
                                    EpochTimer(f"ssl-gan {dataset}/{label_count} labels", spec.epochs)])
        accuracy = float(curves["test_accuracy"].iloc[-1])
        save_model(plain_copy(model.discriminator), paths.ssl_gan_network(dataset, label_count, "discriminator"))
        save_model(model.generator, paths.ssl_gan_network(dataset, label_count, "generator"))
        noise = keras.random.uniform((100, spec.latent_dim), seed=params.seed)
        samples = np.clip(np.rint(255 * np.asarray(model.generator(noise, training=False))), 0, 255).astype(np.uint8)
        save_png(image_grid(samples, 10), paths.ssl_gan_samples(dataset, label_count))
        tracker.log_image(image_grid(samples, 10)[..., 0], "samples", step=spec.epochs)
        tracker.log_metrics({"test_accuracy": accuracy, "test_error": 1.0 - accuracy}, step=spec.epochs)

    summary = {"labels": label_count, "test_accuracy": round(accuracy, 4), "test_error": round(1.0 - accuracy, 4),
               "test_images": len(test_labels), "unlabelled_images": len(images), "epochs": spec.epochs}
    return write_results(dataset, name, curves, summary)
