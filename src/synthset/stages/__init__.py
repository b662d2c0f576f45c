"""The pipeline's stages: thin entry points that ``dvc.yaml`` calls through ``synthset <command>``.

Each module is one stage, named as the stage in ``dvc.yaml`` and (with dashes) its command: it
loads what the stage reads (paths), calls the library (data, training, quality, tasks) and writes
the declared outputs and its MLflow run. The names below are the stages' names; MLflow runs carry
them as ``synthset.stage`` and the report finds runs by them, so all agree.
"""

from synthset.config import CLASSIFIER_STAGES

CHECK_DATA = "check_data"
PREPARE = "prepare"
TRAIN_GAN = "train_gan"
TRAIN_FEATURES = "train_features"
SELECT_EPOCHS = "select_epochs"
GENERATE = "generate"
ASSESS = "assess"
EVALUATE = "evaluate"
GENERATE_TEST = "generate_test"
TRAIN_STUDY2 = "train_study2"
AUDIT_LABELS = "audit_labels"
EXPLAIN = "explain"
EVALUATE_STUDY2 = "evaluate_study2"
GAN_SEEDS = "gan_seeds"
REPORT = "report"


def classifier_stage(source: str) -> str:
    """The stage that trains study 1's CNN on ``source``: ``train_cnn_on_real`` or ``train_cnn_on_synthetic``."""
    return next(f"train_cnn_{group}" for group, sources in CLASSIFIER_STAGES.items() if source in sources)
