"""What the quality stages (epoch selection, assessment) score against: the feature network and each
class's reference and floor halves of the holdout."""

from __future__ import annotations

from synthset import paths
from synthset.config import Params
from synthset.data.archives import load_images, read_members
from synthset.models.features import FeatureExtractor
from synthset.quality import scoring


def feature_extractor(params: Params, dataset: str) -> FeatureExtractor:
    """The dataset's feature network, z-scoring with the training split's statistics if
    ``quality.feature_scale`` says so (computed by stage ``train_features``)."""
    extractor = FeatureExtractor.load(paths.feature_network(dataset))
    if params.quality.feature_scale == "training":
        extractor = extractor.with_statistics(*read_members(paths.feature_statistics(dataset), "shift", "scale"))
    return extractor


def references(params: Params, dataset: str, extractor: FeatureExtractor) -> dict[int, scoring.ClassReference]:
    """Every class's reference and floor halves of the holdout, with its training images."""
    holdout = load_images(paths.real_split(dataset, "holdout"))
    train = load_images(paths.real_split(dataset, "train"))
    return scoring.references(extractor, holdout, train, params.data.labels, params.quality)
