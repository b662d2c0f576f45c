"""Study 2's real test set, read the same way by every stage that tests on it."""

from __future__ import annotations

import numpy as np

from synthset import paths
from synthset.config import Params
from synthset.data.archives import load_images, subset_per_class
from synthset.versions import file_md5


def real_test_set(params: Params, dataset: str) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, file md5): the first ``study2.test_images_per_class`` of each class of the validation split."""
    path = paths.real_split(dataset, "validation")
    images, labels = subset_per_class(*load_images(path), params.data.labels, params.study2.test_images_per_class)
    return images, labels, file_md5(path)
