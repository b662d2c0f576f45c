"""Score a set of images against held-out real ones, with every metric and its real-vs-real floor.

The holdout of each class is split in two halves that no GAN has seen: the first half is the
reference every candidate set is compared with; the second half, scored the same way, is the
floor, the value a perfect generator would reach at this sample size. The near-copy threshold
comes from the reference half's distances to the training images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthset.config import QUALITY_METRICS, QualityParams
from synthset.models.features import FeatureExtractor
from synthset.quality import measures


@dataclass(frozen=True)
class Embedded:
    """Images as the metrics see them: features, class probabilities, flattened [0, 1] pixels, class indices."""

    features: np.ndarray
    probabilities: np.ndarray
    pixels: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: np.ndarray) -> "Embedded":
        return Embedded(self.features[keep], self.probabilities[keep], self.pixels[keep], self.labels[keep])

    @staticmethod
    def concatenate(parts: list["Embedded"]) -> "Embedded":
        return Embedded(*(np.concatenate([getattr(p, name) for p in parts]) for name in
                          ("features", "probabilities", "pixels", "labels")))


def embed(extractor: FeatureExtractor, images: np.ndarray, labels: np.ndarray) -> Embedded:
    features, probabilities = extractor(images)
    pixels = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return Embedded(features, probabilities, pixels, np.asarray(labels))


@dataclass(frozen=True)
class ClassReference:
    """One class's yardsticks: the reference half, the floor half, its training pixels and near-copy threshold."""

    reference: Embedded
    floor_half: Embedded
    train_pixels: np.ndarray
    near_copy_threshold: float


def class_reference(extractor: FeatureExtractor, holdout: np.ndarray, train: np.ndarray, index: int,
                    spec: QualityParams) -> ClassReference:
    """``holdout`` and ``train``: uint8 images of one class; ``index``: its output index in the feature network."""
    half = len(holdout) // 2
    both = embed(extractor, holdout[: 2 * half], np.full(2 * half, index))
    train_pixels = train.reshape(len(train), -1).astype(np.float32) / 255.0
    reference = both.subset(np.arange(half))
    threshold = measures.near_copy_threshold(reference.pixels, train_pixels, spec.near_copy_quantile)
    return ClassReference(reference, both.subset(np.arange(half, 2 * half)), train_pixels, threshold)


def score(candidate: Embedded, reference: Embedded, spec: QualityParams, seed: int,
          near_copy_share: float) -> dict[str, float]:
    """Every metric of ``QUALITY_METRICS`` for ``candidate`` against ``reference`` (same size)."""
    kid, kid_std = measures.kernel_distance(candidate.features, reference.features, spec.kid_subsets,
                                           spec.kid_subset_size, seed, rescale=spec.feature_scale == "reference")
    scores = {
        "fid": measures.frechet_distance(candidate.features, reference.features),
        "kid": kid,
        "kid_std": kid_std,
        "classifier_score": measures.classifier_score(candidate.probabilities),
        **measures.manifold_metrics(reference.features, candidate.features, spec.nearest_k),
        "near_copy_share": near_copy_share,
        "label_fidelity": measures.label_fidelity(candidate.probabilities, candidate.labels),
    }
    assert set(QUALITY_METRICS) <= set(scores)
    return scores


def copies_of_training(candidate: Embedded, ref: ClassReference) -> float:
    """Share of ``candidate`` closer to a training image of its class than the near-copy threshold."""
    return measures.near_copy_share(candidate.pixels, ref.train_pixels, ref.near_copy_threshold)


def score_class(candidate: Embedded, ref: ClassReference, spec: QualityParams, seed: int) -> dict[str, float]:
    return score(candidate, ref.reference, spec, seed, copies_of_training(candidate, ref))


def floor_of_class(ref: ClassReference, spec: QualityParams, seed: int) -> dict[str, float]:
    """The same metrics for real images the generator never saw: what a perfect generator scores."""
    return score_class(ref.floor_half, ref, spec, seed)


def references(extractor: FeatureExtractor, holdout: tuple[np.ndarray, np.ndarray], train: tuple[np.ndarray, np.ndarray],
               labels: list[int], spec: QualityParams) -> dict[int, ClassReference]:
    """Every class's yardsticks, from the (images, labels) of the holdout and the training split."""
    return {label: class_reference(extractor, holdout[0][holdout[1] == label], train[0][train[1] == label], index, spec)
            for index, label in enumerate(labels)}
