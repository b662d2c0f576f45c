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


def raw_data_record() -> Path:
    """The first stage's record that every dataset of ``datasets`` was in ``data/``: the files it found."""
    return ARTIFACTS / "raw_data.json"


def real_dir(dataset: str) -> Path:
    """Stage ``prepare``'s output: the real splits and what is in each."""
    return ARTIFACTS / dataset / "real"


def real_split(dataset: str, split: str) -> Path:
    """``train`` (GANs and classifiers), ``holdout`` (model selection), ``validation`` (final comparison)."""
    return real_dir(dataset) / f"{split}.npz"


def split_record(dataset: str) -> Path:
    """What is in each real split: images per class and, for FIDS30, which photo went where."""
    return real_dir(dataset) / "split.json"


def gans_dir(dataset: str) -> Path:
    """The GAN stage's output: one ``gan_dir`` per class."""
    return ARTIFACTS / dataset / "gan"


def gan_dir(dataset: str, label: int) -> Path:
    return gans_dir(dataset) / str(label)


def shared_gan_dir(dataset: str) -> Path:
    """``shared_then_per_class``: the GAN of every class that each class's GAN started from."""
    return gans_dir(dataset) / "shared"


def shared_networks(run_dir: Path) -> Path:
    """The shared GAN's networks (``training.gan.save_networks``) in its run directory."""
    return run_dir / "networks"


def gan_work_dir(dataset: str, label: int | str) -> Path:
    return RESUME / dataset / "gan" / str(label)


def generator_checkpoint(run_dir: Path, epoch: int) -> Path:
    return run_dir / "checkpoints" / f"generator_epoch_{epoch:03d}.keras"


def sample_grid(run_dir: Path, epoch: int) -> Path:
    return run_dir / "samples" / f"epoch_{epoch:03d}.png"


def gan_history(run_dir: Path) -> Path:
    return run_dir / "history.csv"


def synthetic_dir(dataset: str) -> Path:
    return ARTIFACTS / dataset / "synthetic"


def synthetic_archive(directory: Path, label: int) -> Path:
    """One class's archive in a synthetic set's directory (``synthetic_dir`` or ``synthetic_test_dir``)."""
    return directory / f"class_{label}.npz"


def synthetic_test_dir(dataset: str) -> Path:
    """Study 2's synthetic test set: as many images per class as the real test set, other noise."""
    return ARTIFACTS / dataset / "synthetic_test"


def classifier_dir(dataset: str, source: str) -> Path:
    return ARTIFACTS / dataset / "classifier" / source


def classifier_history(dataset: str, source: str) -> Path:
    """Per-epoch train and validation curves: a DVC plots file, committed."""
    return METRICS / dataset / "classifier" / f"{source}.csv"


def gan_seeds_dir(dataset: str) -> Path:
    """Stage ``gan_seeds``'s output: each extra draw's synthetic set, ``draw_<n>/synthetic``."""
    return ARTIFACTS / dataset / "gan_seeds"


def gan_seeds_work_dir(dataset: str) -> Path:
    return RESUME / dataset / "gan_seeds"


def gan_seeds_summary(dataset: str) -> Path:
    """Each synthetic source's accuracy per GAN draw, mean and 95 % interval."""
    return METRICS / dataset / "gan_seeds.json"


def classifier_seed_history(dataset: str, source: str) -> Path:
    """The curves of every seed, for bands in the report."""
    return METRICS / dataset / "classifier" / f"{source}_seeds.csv"


def classifier_summary(dataset: str, source: str) -> Path:
    return METRICS / dataset / "classifier" / f"{source}.json"


def study1_metrics(dataset: str) -> Path:
    """Study 1's final numbers for one dataset, under ``study1.<dataset>`` (every source's mean and std)."""
    return METRICS / dataset / "study1.json"


def headline_metrics(dataset: str) -> Path:
    """The handful of study 1 and quality numbers `dvc metrics show` prints, a row per dataset: the
    same keys in every dataset's file, so the rows share their columns and the table stays narrow."""
    return METRICS / dataset / "headline.json"


def features_dir(dataset: str) -> Path:
    return ARTIFACTS / dataset / "features"


def feature_network(dataset: str) -> Path:
    """The quality metrics' feature network, trained on the training split."""
    return features_dir(dataset) / "model.keras"


def feature_statistics(dataset: str) -> Path:
    """Mean and std of each feature over the whole training split (``FeatureExtractor.statistics``),
    computed once here for every stage that z-scores features."""
    return features_dir(dataset) / "training_statistics.npz"


def feature_network_summary(dataset: str) -> Path:
    return METRICS / dataset / "features.json"


def quality_by_epoch(dataset: str) -> Path:
    """Every quality metric of every kept generator checkpoint, per class: a DVC plots file."""
    return METRICS / dataset / "quality_by_epoch.csv"


def selection_curve(dataset: str) -> Path:
    """The selection metric against epoch, one column per class (``class_<label>``): a DVC plots file."""
    return METRICS / dataset / "selection_curve.csv"


def epoch_choice(dataset: str) -> Path:
    """The chosen generator epoch per class, like the paper's Table 1: a DVC metrics file."""
    return METRICS / dataset / "epoch_choice.json"


def quality_metrics(dataset: str) -> Path:
    """The final synthetic set's quality, with real-vs-real floors: a DVC metrics file."""
    return METRICS / dataset / "quality.json"


def semi_name(variant: str) -> str:
    """The study 2 name of a semi-supervised discriminator variant: its output folder, metrics files and run."""
    return f"semi_gan_{variant}"


def ssl_gan_name(labels: int) -> str:
    """The study 2 name of the complete semi-supervised GAN trained with ``labels`` labels."""
    return f"ssl_gan_{labels}_labels"


def study2_models_dir(dataset: str) -> Path:
    """Every study 2 model, one folder each: the output of stage ``train_study2``, however many models
    ``study2`` lists."""
    return ARTIFACTS / dataset / "study2" / "models"


def study2_results_dir(dataset: str) -> Path:
    """Every study 2 model's curves and table rows (``study2_history``, ``study2_summary``): the
    stage's uncached output, committed with the metrics; ``study2_metrics`` collects the table."""
    return METRICS / dataset / "study2" / "models"


def study2_dir(dataset: str, name: str) -> Path:
    """A study 2 model's output: a poster classifier, a ``semi_name`` or an ``ssl_gan_name``."""
    return study2_models_dir(dataset) / name


def ssl_gan_network(dataset: str, labels: int, network: str) -> Path:
    """The complete semi-supervised GAN's ``discriminator`` or ``generator``."""
    return study2_dir(dataset, ssl_gan_name(labels)) / f"{network}.keras"


def ssl_gan_samples(dataset: str, labels: int) -> Path:
    return study2_dir(dataset, ssl_gan_name(labels)) / "samples.png"


def study2_model(dataset: str, name: str) -> Path:
    """A study 2 classifier (or semi-supervised discriminator), trained on real images."""
    return study2_dir(dataset, name) / "model.keras"


def study2_history(dataset: str, name: str) -> Path:
    """Per-epoch curves of a study 2 model."""
    return study2_results_dir(dataset) / f"{name}.csv"


def study2_summary(dataset: str, name: str) -> Path:
    """Train / real test / synthetic test accuracy at each table epoch (or the test error of an ssl_gan)."""
    return study2_results_dir(dataset) / f"{name}.json"


def label_audit_dir(dataset: str) -> Path:
    """Grids of synthetic test images whose generator label the real-trained cnn-5l disputes."""
    return ARTIFACTS / dataset / "study2" / "label_audit"


def label_audit_grid(directory: Path, label: int) -> Path:
    """One class's disputed images in a label-audit directory (``label_audit_dir`` or its partial copy)."""
    return directory / f"class_{label}.png"


def attention_grid(directory: Path, name: str) -> Path:
    """One grid of maps in an attention directory (``attention_dir`` or its partial copy)."""
    return directory / f"{name}.png"


def label_audit_summary(dataset: str) -> Path:
    return METRICS / dataset / "study2" / "label_audit.json"


def study2_metrics() -> Path:
    return METRICS / "study2.json"


def study2_headline(test_set: str) -> Path:
    """A row of the poster's table for `dvc metrics show`: every model's final accuracy on the
    ``real`` or ``synth`` (synthetic) test set (both files have the same keys, the model names)."""
    return METRICS / f"study2_on_{test_set}.json"


def classifier_model(dataset: str, source: str, seed: int) -> Path:
    """Study 1's CNN trained on ``source`` with ``seed``."""
    return classifier_dir(dataset, source) / f"model_seed_{seed}.keras"


def attention_dir(dataset: str) -> Path:
    """Grids of Grad-CAM and saliency maps: cnn-5l on both test sets, study 1's CNNs side by side."""
    return ARTIFACTS / dataset / "study2" / "attention"


def attention_summary(dataset: str) -> Path:
    """Map similarity between study 1's CNNs and the randomised-weights sanity check: a DVC metrics file."""
    return METRICS / dataset / "study2" / "attention.json"


def attention_table(dataset: str) -> Path:
    """The same similarities per class, method, test set and pair of models: a DVC plots file."""
    return METRICS / dataset / "study2" / "attention.csv"


REPORTS = Path("reports")


def report_page(page: str) -> Path:
    """One page of the report stage (report/pages.py names them)."""
    return REPORTS / f"{page}.html"


def report_script() -> Path:
    """plotly.js, written once beside the report's pages: no page reaches the network."""
    return REPORTS / "plotly.min.js"


def sweeps_page() -> Path:
    """Every Optuna study's plots; written by `synthset sweep` and `sweep-report`, not by DVC."""
    return REPORTS / "sweeps.html"


def versions_page() -> Path:
    """Every version of each synthetic dataset; written by `synthset datasets list --html`, not by DVC."""
    return REPORTS / "versions.html"


def compare_page() -> Path:
    """Two versions of a synthetic dataset side by side; written by `synthset datasets compare`."""
    return REPORTS / "compare.html"


def gan_history_of(dataset: str, label: int) -> Path:
    """A class's per-step GAN history (step, epoch, losses): maps a chosen epoch to its last step."""
    return gan_history(gan_dir(dataset, label))


def gan_sample_grids(dataset: str, label: int) -> list[Path]:
    """The sample grid of every kept epoch of one class's GAN, in epoch order."""
    return sorted((gan_dir(dataset, label) / "samples").glob("epoch_*.png"))
