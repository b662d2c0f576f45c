"""Which dataset version each MLflow run read or made, by DVC hash (``mlflow.log_input``).

Names: ``<dataset>-real`` (the real splits: training, holdout, validation contexts),
``<dataset>-synthetic`` (study 1's generated training set) and ``<dataset>-synthetic-test`` (study
2's generated test set). The GAN runs learn which set their generators made when the generation
stage writes it: it logs the set on them with the context ``generated``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from synthset import paths
from synthset.tracking import store
from synthset.hashes import dvc_md5

# The tag a GAN run leaves on itself: the DVC hash of each class's generator output.
OUTPUT_TAG = "synthset.output_md5.class_{label}"


@dataclass(frozen=True)
class DataUse:
    """A dataset a run read or made, logged with ``mlflow.log_input``: the MLflow UI's Datasets
    column then names each run's data by its DVC hash, the version `synthset datasets list` shows."""

    name: str       # <dataset>-real, <dataset>-synthetic, <dataset>-synthetic-test
    path: Path      # a DVC output (file or directory), relative to the project root
    context: str    # training | validation | holdout | generated | test

    def entity(self):
        """MLflow's DatasetInput: digest = DVC hash (36 characters, MLflow's limit), source = the path."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():  # MLflow registers its local-file source twice and warns it picked one
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
            source = resolve_dataset_source(str(Path(self.path).resolve()))
        described = MetaDataset(source, name=self.name, digest=dvc_md5(self.path)).to_dict()  # name, digest, source(_type)
        return DatasetInput(Dataset(**described), tags=[InputTag(MLFLOW_DATASET_CONTEXT, self.context)])


# How a unique-key violation reads in MLflow's error: PostgreSQL's (psycopg) and SQLite's.
UNIQUE_VIOLATION = ("UniqueViolation", "duplicate key", "UNIQUE constraint failed")


def log_data_uses(run_id: str, uses: list[DataUse], attempts: int = 4) -> None:
    """Record ``uses`` on a run, also a finished one (the GAN runs learn later which set they made).

    MLflow's database store finds-or-creates each dataset without guarding against a concurrent
    insert: two processes logging the same dataset at once (the per-class GANs' workers, say) make
    the second fail with a unique-key violation, on PostgreSQL and on SQLite alike. The loser tries
    again, and then finds the dataset the other one created.
    """
    import mlflow

    if not uses:
        return
    entities = [use.entity() for use in uses]
    for attempt in range(attempts):
        try:
            mlflow.MlflowClient().log_inputs(run_id, datasets=entities)
            return
        except mlflow.exceptions.MlflowException as error:
            if not any(text in str(error) for text in UNIQUE_VIOLATION) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


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
    store.connect()
    run_ids: list[str] = []
    for label in labels:
        tag = OUTPUT_TAG.format(label=label)
        md5 = dvc_md5(paths.gan_dir(dataset, label))
        for run_id in store.find_runs(f"tags.`{tag}` = '{md5}'"):
            if run_id not in run_ids:
                run_ids.append(run_id)
    for run_id in run_ids:
        log_data_uses(run_id, [use])
    return run_ids
