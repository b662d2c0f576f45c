"""Files every study 2 stage reads or writes the same way: the real test set, the curves and table rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from synthset import paths
from synthset.config import Params
from synthset.data.archives import load_images, subset_per_class
from synthset.io import write_atomically
from synthset.hashes import file_md5


def real_test_set(params: Params, dataset: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, file md5): the first ``study2.test_images_per_class`` of each class of the validation split."""
    path = paths.real_split(dataset, "validation")
    images, labels = subset_per_class(*load_images(path), params.data.labels, params.study2.test_images_per_class)
    return images, labels, file_md5(path)


def write_results(dataset: str, name: str, curves: pd.DataFrame, summary: dict) -> dict:
    """A study 2 model's per-epoch curves (DVC plots) and its summary (DVC metrics); returns the summary."""
    with write_atomically(paths.study2_history(dataset, name)) as partial:
        curves.to_csv(partial, index=False, float_format="%.6f")
    with write_atomically(paths.study2_summary(dataset, name)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    return summary
