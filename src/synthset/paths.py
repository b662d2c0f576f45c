"""Every file the pipeline reads or writes, in one place; ``dvc.yaml`` names the same paths."""

from __future__ import annotations

from pathlib import Path

DATA = Path("data")
ARTIFACTS = Path("artifacts")
METRICS = Path("metrics")
# Work in progress lives outside every DVC output: DVC deletes a stage's outputs before running it,
# and an interrupted run must find its checkpoints again.
RESUME = ARTIFACTS / ".resume"


def raw(dataset: str) -> Path:
    return DATA / dataset


def real_split(dataset: str, split: str) -> Path:
    """``train`` (GANs and classifiers), ``holdout`` (model selection), ``validation`` (final comparison)."""
    return ARTIFACTS / dataset / "real" / f"{split}.npz"


def gan_dir(dataset: str, label: int) -> Path:
    return ARTIFACTS / dataset / "gan" / str(label)


def gan_work_dir(dataset: str, label: int) -> Path:
    return RESUME / dataset / "gan" / str(label)


def generator_checkpoint(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"generator_epoch_{epoch:03d}.keras"


def sample_grid(run_dir: Path, epoch: int) -> Path:
    return run_dir / "samples" / f"epoch_{epoch:03d}.png"


def gan_history(run_dir: Path) -> Path:
    return run_dir / "history.csv"


def synthetic_dir(dataset: str) -> Path:
    return ARTIFACTS / dataset / "synthetic"


def synthetic_archive(dataset: str, label: int) -> Path:
    return synthetic_dir(dataset) / f"class_{label}.npz"


def classifier_dir(dataset: str, source: str) -> Path:
    return ARTIFACTS / dataset / "classifier" / source


def classifier_history(dataset: str, source: str) -> Path:
    """Per-epoch train and validation curves: a DVC plots file, committed."""
    return METRICS / dataset / "classifier" / f"{source}.csv"


def classifier_summary(dataset: str, source: str) -> Path:
    return METRICS / dataset / "classifier" / f"{source}.json"


def study1_metrics() -> Path:
    return METRICS / "study1.json"
