"""Stage ``audit_labels``: label audit of the synthetic test set, where the real-trained cnn-5l disputes the generator's label.

The poster labelled its synthetic test images by hand; ours carry the label of the per-class
generator that drew them. That label can be wrong (a "7" generator drawing something like a 9),
so the images the best real-trained classifier disagrees with are counted per class and saved
as grids for a person to look at.
"""

from __future__ import annotations

import json

import keras
import numpy as np

from synthset import paths, stages
from synthset.tracking import runs
from synthset.config import Params
from synthset.imaging import image_grid, save_png
from synthset.io import write_atomically
from synthset.synthetic import load_synthetic, manifest_md5
from synthset.hashes import file_md5

AUDITOR = "cnn_5l"


def predicted_labels(model: keras.Model, images: np.ndarray, classes: list[int]) -> np.ndarray:
    """The class the model gives each image (dataset labels, not output indices)."""
    probabilities = model.predict(images, batch_size=1000, verbose=0)
    return np.asarray(classes)[np.argmax(probabilities, axis=1)]


def run(params: Params, dataset: str) -> dict:
    """Count and draw, per class, the synthetic test images whose label cnn-5l disputes."""
    classes = params.data.labels
    model_file = paths.study2_model(dataset, AUDITOR)
    model = keras.saving.load_model(model_file)
    images, labels = load_synthetic(paths.synthetic_test_dir(dataset), classes)
    predicted = predicted_labels(model, images, classes)
    disputed = predicted != labels

    per_class = {}
    columns = params.study2.audit_grid_size
    with write_atomically(paths.label_audit_dir(dataset)) as grid_dir:
        grid_dir.mkdir(parents=True)
        for label in classes:
            mine = labels == label
            wrong = mine & disputed
            taken_for = {str(c): int((predicted[wrong] == c).sum()) for c in classes if (predicted[wrong] == c).any()}
            per_class[str(label)] = {"images": int(mine.sum()), "disputed": int(wrong.sum()),
                                     "disputed_share": round(float(wrong.sum() / mine.sum()), 4),
                                     "taken_for": taken_for}
            if wrong.any():
                save_png(image_grid(images[wrong][: columns**2], columns), paths.label_audit_grid(grid_dir, label))
    summary = {"auditor": AUDITOR, "images": int(len(labels)), "disputed": int(disputed.sum()),
               "disputed_share": round(float(disputed.mean()), 4), "per_class": per_class}
    with write_atomically(paths.label_audit_summary(dataset)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")

    inputs = {"auditor": file_md5(model_file), "synthetic_test": manifest_md5(paths.synthetic_test_dir(dataset))}
    with runs.stage_run(dataset, stages.AUDIT_LABELS, f"{dataset}-label-audit", inputs) as tracker:
        tracker.log_metrics({"disputed_share": summary["disputed_share"],
                             **{f"disputed_share_class_{k}": v["disputed_share"] for k, v in per_class.items()}}, step=0)
        tracker.log_artifact(paths.label_audit_summary(dataset))
        if any(paths.label_audit_dir(dataset).iterdir()):
            tracker.log_artifact(paths.label_audit_dir(dataset), "label_audit")
    return summary
