"""Choose each class's generator epoch by measurement: the paper's Table 1, without the eyes.

Every kept checkpoint of a class generates as many images as the class's reference half of the
holdout; every quality metric is computed and the best checkpoint by ``quality.selection_metric``
wins. Only the holdout and the training split are read, never the validation set of the final
comparison.
"""

from __future__ import annotations

from collections.abc import Iterable

import keras
import numpy as np
import pandas as pd

from synthset.config import QUALITY_METRICS, QualityParams
from synthset.models.features import FeatureExtractor
from synthset.quality import scoring
from synthset.synthetic import sample


def best_epoch(curve: pd.DataFrame, metric: str) -> int:
    """The epoch of the best ``metric`` value; the earlier epoch on a tie."""
    values = curve[metric] if QUALITY_METRICS[metric] else -curve[metric]
    return int(curve["epoch"].iloc[int(np.argmax(values.to_numpy()))])


def score_checkpoints(generators: Iterable[tuple[int, keras.Model]], ref: scoring.ClassReference,
                      extractor: FeatureExtractor, index: int, spec: QualityParams, latent_dim: int,
                      noise_seed: int, seed: int) -> pd.DataFrame:
    """Every metric of each (epoch, generator) of one class against its reference, with the floors:
    one row per epoch. ``index`` is the class's output in the feature network; every epoch draws
    from the same ``noise_seed``."""
    floor = {f"{name}_floor": value for name, value in scoring.floor_of_class(ref, spec, seed).items()}
    rows = []
    for epoch, generator in generators:
        images = sample(generator, len(ref.reference), latent_dim, seed=noise_seed)
        candidate = scoring.embed(extractor, images, np.full(len(images), index))
        rows.append({"epoch": epoch, **scoring.score_class(candidate, ref, spec, seed), **floor})
    return pd.DataFrame(rows)
