"""Which dataset version each MLflow run read or made, by DVC hash (``mlflow.log_input``).

Names: ``<dataset>-real`` (the real splits: training, holdout, validation contexts),
``<dataset>-synthetic`` (study 1's generated training set) and ``<dataset>-synthetic-test`` (study
2's generated test set). The GAN runs learn which set their generators made when the generation
stage writes it: it logs the set on them with the context ``generated``.
"""

from __future__ import annotations

from pathlib import Path

from synthset import paths, tracking
from synthset.tracking import DataUse
from synthset.versions import dvc_md5

# The tag a GAN run leaves on itself: the DVC hash of each class's generator output.
OUTPUT_TAG = "synthset.output_md5.class_{label}"


def real(dataset: str, split: str, context: str) -> DataUse:
    return DataUse(f"{dataset}-real", paths.real_split(dataset, split), context)


def synthetic(dataset: str, context: str) -> DataUse:
    return DataUse(f"{dataset}-synthetic", paths.synthetic_dir(dataset), context)


def synthetic_test(dataset: str, context: str) -> DataUse:
    return DataUse(f"{dataset}-synthetic-test", paths.synthetic_test_dir(dataset), context)


def generator_tags(outputs: dict[int, Path]) -> dict[str, str]:
    """Tags for a GAN run whose class ``label`` wrote its checkpoints to ``outputs[label]``."""
    return {OUTPUT_TAG.format(label=label): dvc_md5(out) for label, out in outputs.items()}


def record_generated(dataset: str, use: DataUse, labels: list[int]) -> list[str]:
    """Log the set ``use`` on every GAN run whose generators drew it (found by their output tag);
    returns their run ids. Deterministic training means an identical re-run tags the same hash, so
    each such run is named: they all made this version."""
    tracking.connect()
    run_ids: list[str] = []
    for label in labels:
        tag = OUTPUT_TAG.format(label=label)
        md5 = dvc_md5(paths.gan_dir(dataset, label))
        for run_id in tracking.find_runs(f"tags.`{tag}` = '{md5}'"):
            if run_id not in run_ids:
                run_ids.append(run_id)
    for run_id in run_ids:
        tracking.log_data_uses(run_id, [use])
    return run_ids
