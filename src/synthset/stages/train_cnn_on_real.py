"""Stage ``train_cnn_on_real``: study 1's CNN on the real training images, as they are and augmented
(``config.CLASSIFIER_STAGES["on_real"]``), every seed a task of the worker processes."""

from __future__ import annotations

from synthset.config import CLASSIFIER_STAGES, Params
from synthset.tasks import study1_cnn

SOURCES = CLASSIFIER_STAGES["on_real"]


def run(params: Params, dataset: str) -> dict[str, dict[str, float]]:
    """Each source's summary: final validation accuracy and loss, mean and standard deviation over seeds."""
    return study1_cnn.run(params, dataset, list(SOURCES))
