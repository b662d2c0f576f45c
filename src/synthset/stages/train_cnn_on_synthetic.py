"""Stage ``train_cnn_on_synthetic``: study 1's CNN on the synthetic set, alone and beside the real images
(``config.CLASSIFIER_STAGES["on_synthetic"]``), every seed a task of the worker processes."""

from __future__ import annotations

from synthset.config import CLASSIFIER_STAGES, Params
from synthset.tasks import study1_cnn

SOURCES = CLASSIFIER_STAGES["on_synthetic"]


def run(params: Params, dataset: str) -> dict[str, dict[str, float]]:
    """Each source's summary: final validation accuracy and loss, mean and standard deviation over seeds."""
    return study1_cnn.run(params, dataset, list(SOURCES))
