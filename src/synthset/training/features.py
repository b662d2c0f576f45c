"""Train the feature network of the quality metrics on the training split, and keep it with DVC and MLflow."""

from __future__ import annotations

import json

import keras

from synthset import paths, tracking
from synthset.config import Params
from synthset.datasets import class_indices, first_per_class, load_images
from synthset.io import save_model_atomically, write_atomically
from synthset.models.features import build_feature_network
from synthset.training.callbacks import EpochTimer, MetricsToTracker
from synthset.versions import file_md5


def train_feature_network(params: Params, dataset: str) -> dict[str, float]:
    """Fit on the training split only; report accuracy on the holdout, which no GAN trains on."""
    spec = params.features
    keras.utils.set_random_seed(params.seed)
    train_file, holdout_file = paths.real_split(dataset, "train"), paths.real_split(dataset, "holdout")
    images, labels = load_images(train_file)
    keep = first_per_class(labels, params.data.labels, spec.train_images_per_class)
    images, labels = images[keep], class_indices(labels[keep], params.data.labels)
    holdout_images, holdout_labels = load_images(holdout_file)
    holdout_labels = class_indices(holdout_labels, params.data.labels)

    network = build_feature_network(
        image_shape=params.data.image_shape, num_classes=len(params.data.labels), filters=spec.filters,
        feature_dim=spec.feature_dim, dropout=spec.dropout,
    )
    network.compile(optimizer=keras.optimizers.Adam(spec.learning_rate), loss="sparse_categorical_crossentropy",
                    metrics=["accuracy"])

    inputs = {"train": file_md5(train_file), "holdout": file_md5(holdout_file)}
    tracking.connect()
    experiment_id, parent_id = tracking.experiment(f"synthset-{dataset}")
    tags = {**tracking.base_tags(inputs), "synthset.stage": "train_features", "synthset.dataset": dataset}
    with tracking.run(experiment_id, f"{dataset}-feature-network", parent_id, None, tags) as tracker:
        tracker.log_params({"features": spec.model_dump(), "train_images": len(images), "seed": params.seed})
        network.fit(
            images, labels, batch_size=spec.batch_size, epochs=spec.epochs, shuffle=True,
            validation_data=(holdout_images, holdout_labels), verbose=0,
            callbacks=[MetricsToTracker(tracker), EpochTimer(f"features {dataset}", spec.epochs)],
        )
        loss, accuracy = network.evaluate(holdout_images, holdout_labels, batch_size=1000, verbose=0)
        summary = {"holdout_accuracy": round(float(accuracy), 4), "holdout_loss": round(float(loss), 4),
                   "train_images": len(images)}
        save_model_atomically(network, paths.feature_network(dataset))
        with write_atomically(paths.feature_network_summary(dataset)) as partial:
            partial.write_text(json.dumps(summary, indent=2) + "\n")
        tracker.log_metrics({"final_holdout_accuracy": accuracy, "final_holdout_loss": loss}, step=spec.epochs)
        tracker.log_keras_model(network, "feature_network", holdout_images[:4])
    return summary
