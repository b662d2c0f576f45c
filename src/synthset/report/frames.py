"""The report's inputs as pandas DataFrames: the one place that reads metrics, plots, archives and MLflow.

Every function returns a tidy frame the figures draw without further reshaping. A missing file
raises ``MissingInput`` naming it, which the pages turn into a note instead of a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from synthset import paths, stages
from synthset.config import QUALITY_METRICS, SEMI_VARIANTS, SOURCES
from synthset.errors import SynthsetError
from synthset.tracking.store import read_runs, run_url

GAN_METRICS = ["d_loss", "g_loss", "d_acc_real", "d_acc_fake"]
CURVE_METRICS = ["train_accuracy", "val_accuracy", "train_loss", "val_loss"]
# Every quality metric but the classifier score, which has no meaningful floor to draw beside it.
SHOWN_QUALITY_METRICS = [metric for metric in QUALITY_METRICS if metric != "classifier_score"]


class MissingInput(SynthsetError):
    """An input of the report does not exist (yet): the stage that writes it has not run."""


def _require(path: Path, what: str) -> Path:
    if not Path(path).exists():
        raise MissingInput(f"{path}: missing ({what}); run `dvc repro` first")
    return Path(path)


def class_name(class_names: dict[int, str] | list[str], label: int) -> str:
    """A label's class name: ``class_names`` maps labels to names (a list maps positions, FIDS30's labels)."""
    names = class_names if isinstance(class_names, dict) else dict(enumerate(class_names))
    return names.get(int(label), str(label))


def _json(path: Path, what: str) -> dict:
    return json.loads(_require(path, what).read_text())


# --- study 1: classifiers -------------------------------------------------------------------------


def classifier_curves(dataset: str) -> pd.DataFrame:
    """Mean and std over seeds per source, epoch and curve (columns source, epoch, metric, mean, std, seeds)."""
    frames = []
    for source in SOURCES:
        wide = pd.read_csv(_require(paths.classifier_history(dataset, source), f"{source} classifier curves"))
        seeds = pd.read_csv(_require(paths.classifier_seed_history(dataset, source), f"{source} curves per seed"))
        for metric in CURVE_METRICS:
            if metric not in wide or f"{metric}_std" not in wide:
                raise SynthsetError(f"{paths.classifier_history(dataset, source)}: no column {metric} or {metric}_std")
            frames.append(pd.DataFrame({"source": source, "epoch": wide["epoch"], "metric": metric,
                                        "mean": wide[metric], "std": wide[f"{metric}_std"],
                                        "seeds": seeds["seed"].nunique()}))
    return pd.concat(frames, ignore_index=True)


def classifier_final(dataset: str) -> pd.DataFrame:
    """Study 1's final validation accuracy and loss per source (``study1.json``): source, metric, mean, std."""
    study = _json(paths.study1_metrics(dataset), "study 1's final numbers")["study1"][dataset]
    rows = [{"source": source, "metric": metric, "mean": study[f"{metric}_{source}"], "std": study[f"{metric}_{source}_std"]}
            for source in SOURCES for metric in ("val_accuracy", "val_loss")]
    return pd.DataFrame(rows)


def gan_seeds(dataset: str) -> dict:
    """Each synthetic source's accuracy over trainings of the GANs, with its interval (stage gan_seeds)."""
    return _json(paths.gan_seeds_summary(dataset), "the synthetic sources' intervals over GAN seeds")


# --- study 1: GANs, epoch choice, samples ---------------------------------------------------------


def epoch_choice(dataset: str, class_names: dict[int, str] | list[str]) -> pd.DataFrame:
    """The chosen epoch per class with the last training step of that epoch (label, class, epoch, metric, score, step)."""
    choice = _json(paths.epoch_choice(dataset), "the epoch choice")
    frame = pd.json_normalize([{"label": int(label), **entry} for label, entry in choice["classes"].items()])
    frame = frame.rename(columns={choice["metric"]: "score"}).assign(metric=choice["metric"])
    frame["class"] = [class_name(class_names, label) for label in frame["label"]]
    frame["step"] = [_last_step(dataset, label, epoch) for label, epoch in zip(frame["label"], frame["epoch"])]
    return frame[["label", "class", "epoch", "metric", "score", "step"]].sort_values("label", ignore_index=True)


def _last_step(dataset: str, label: int, epoch: int) -> float:
    """The last step of 1-based ``epoch`` in the GAN's per-step history (its ``epoch`` column is 0-based)."""
    path = paths.gan_history_of(dataset, label)
    if not path.exists():
        return float("nan")
    history = pd.read_csv(path, usecols=["step", "epoch"])
    steps = history.loc[history["epoch"] == epoch - 1, "step"]
    return float(steps.max()) if len(steps) else float("nan")


def latest_runs(runs: pd.DataFrame, dataset: str, stage: str, *keys: str) -> pd.DataFrame:
    """The newest finished run of ``stage`` on ``dataset``, per value of the tags ``keys`` (e.g. the class)."""
    needed = {"tags.synthset.stage", "tags.synthset.dataset", "status", "start_time"}
    if runs.empty or not needed <= set(runs.columns):
        return runs.iloc[0:0]
    chosen = runs[(runs["tags.synthset.stage"] == stage) & (runs["tags.synthset.dataset"] == dataset)
                  & (runs["status"] == "FINISHED")].sort_values("start_time", ascending=False)
    if not keys:
        return chosen.head(1)
    columns = [f"tags.synthset.{key}" for key in keys]
    if not set(columns) <= set(chosen.columns):
        return chosen.iloc[0:0]
    return chosen.dropna(subset=columns).drop_duplicates(columns)  # a stage's runs of other kinds lack the keys


def gan_curves(dataset: str, labels: list[int], class_names: dict[int, str] | list[str]) -> pd.DataFrame:
    """D and G loss and D accuracy per step, per class, from each class's ``history.csv`` (a DVC output)
    (columns label, class, step, metric, value)."""
    frames = []
    for label in labels:
        history = pd.read_csv(_require(paths.gan_history_of(dataset, label), f"class {label}'s GAN history"))
        missing = [metric for metric in GAN_METRICS if metric not in history]
        if missing:
            raise SynthsetError(f"{paths.gan_history_of(dataset, label)}: no column(s) {', '.join(missing)}")
        frames.append(history.melt(id_vars=["step"], value_vars=GAN_METRICS, var_name="metric").assign(label=label))
    frame = pd.concat(frames, ignore_index=True)
    frame["class"] = frame["label"].map(lambda label: class_name(class_names, label))
    return frame.sort_values(["label", "metric", "step"], ignore_index=True)[["label", "class", "step", "metric", "value"]]


def classifier_runs(runs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The newest run of study 1's CNN per source and seed."""
    classifier_stages = dict.fromkeys(stages.classifier_stage(source) for source in SOURCES)
    return pd.concat([latest_runs(runs, dataset, stage, "source", "seed") for stage in classifier_stages])


def ema(values: pd.Series, weight: float) -> pd.Series:
    """TensorBoard-style smoothing: each point is ``weight`` of the previous smoothed point."""
    return values.ewm(alpha=1.0 - weight, adjust=False).mean() if weight > 0 else values


def sample_grids(dataset: str, class_names: dict[int, str] | list[str], labels: list[int]) -> pd.DataFrame:
    """Every kept epoch's sample grid per class (label, class, epoch, path)."""
    rows = [{"label": label, "class": class_name(class_names, label), "epoch": int(path.stem.split("_")[1]), "path": path}
            for label in labels for path in paths.gan_sample_grids(dataset, label)]
    if not rows:
        raise MissingInput(f"{paths.gan_dir(dataset, labels[0]) / 'samples'}: no sample grids; run `dvc repro` first")
    return pd.DataFrame(rows)


def real_images(dataset: str, labels: list[int], per_class: int) -> dict[int, np.ndarray]:
    """The first ``per_class`` real training images of each class (uint8, N x H x W x C)."""
    with np.load(_require(paths.real_split(dataset, "train"), "the real training split")) as archive:
        images, classes = archive["images"], archive["labels"]
    images = images[..., None] if images.ndim == 3 else images
    return {label: images[classes == label][:per_class] for label in labels}


# --- study 1: quality -----------------------------------------------------------------------------


def quality(dataset: str, class_names: dict[int, str] | list[str]) -> pd.DataFrame:
    """Each quality metric with its real-vs-real floor, for the whole set (class ``all``) and per class
    (columns class, metric, value, floor, images_per_class)."""
    summary = _json(paths.quality_metrics(dataset), "the synthetic set's quality")["quality"][dataset]
    scopes = {"all": summary, **{class_name(class_names, k): v for k, v in summary.get("per_class", {}).items()}}
    rows = [{"class": scope, "metric": metric, "value": values[metric], "floor": values[f"{metric}_floor"]}
            for scope, values in scopes.items() for metric in SHOWN_QUALITY_METRICS if metric in values]
    return pd.DataFrame(rows).assign(images_per_class=summary.get("images_per_class"))


def quality_by_epoch(dataset: str, class_names: dict[int, str] | list[str]) -> pd.DataFrame:
    """Every quality metric of every kept generator epoch per class (class, label, epoch, metric, value, floor)."""
    wide = pd.read_csv(_require(paths.quality_by_epoch(dataset), "the quality of every kept epoch"))
    present = [m for m in SHOWN_QUALITY_METRICS if m in wide]
    values = wide.melt(id_vars=["class", "epoch"], value_vars=present, var_name="metric", value_name="value")
    floors = wide.melt(id_vars=["class", "epoch"], value_vars=[f"{m}_floor" for m in present],
                       var_name="metric", value_name="floor")
    floors["metric"] = floors["metric"].str.removesuffix("_floor")
    frame = values.merge(floors, on=["class", "epoch", "metric"]).rename(columns={"class": "label"})
    frame["class"] = frame["label"].map(lambda label: class_name(class_names, label))
    return frame.sort_values(["metric", "label", "epoch"], ignore_index=True)


# --- study 2 --------------------------------------------------------------------------------------


def study2() -> dict:
    return _json(paths.study2_metrics(), "study 2's numbers")["study2"]


def study2_table(models: list[str]) -> pd.DataFrame:
    """Ours at each table epoch: model, epoch, train, test_real, test_synthetic (``metrics/study2.json``)."""
    summary = study2()
    rows = [{"model": model, "epoch": int(epoch), "train": cell["train_accuracy"], "test_real": cell["test_accuracy_real"],
             "test_synthetic": cell["test_accuracy_synthetic"]}
            for model in models for epoch, cell in summary[model]["at_epoch"].items()]
    frame = pd.DataFrame(rows)
    frame["model"] = pd.Categorical(frame["model"], categories=models, ordered=True)  # the poster's order
    return frame.sort_values(["model", "epoch"], ignore_index=True).astype({"model": str})


def semi_table() -> pd.DataFrame:
    """The semi-supervised discriminators per epoch: both heads' train / test accuracy on real images."""
    summary = study2()
    rows = [{"variant": variant, "epoch": int(epoch),
             "d_train": cell["train_real_or_fake_accuracy"], "d_test": cell["test_real_or_fake_accuracy_real"],
             "label_train": cell["train_class_or_fake_accuracy"], "label_test": cell["test_class_or_fake_accuracy_real"]}
            for variant in SEMI_VARIANTS for epoch, cell in summary[paths.semi_name(variant)]["at_epoch"].items()]
    return pd.DataFrame(rows).sort_values(["variant", "epoch"], ignore_index=True)


def ssl_gan(label_counts: list[int], dataset: str) -> pd.DataFrame:
    """The complete semi-supervised GAN's test accuracy per epoch and label count (labels, epoch, test_accuracy)."""
    frames = [pd.read_csv(_require(paths.study2_history(dataset, paths.ssl_gan_name(count)),
                                   f"the semi-supervised GAN with {count} labels")).assign(labels=count)
              for count in label_counts]
    return pd.concat(frames, ignore_index=True)[["labels", "epoch", "test_accuracy"]]


def attention_similarity(dataset: str) -> pd.DataFrame:
    """How alike two CNNs' maps are, overall: images, method, pair, rank_correlation, top_iou."""
    summary = _json(paths.attention_summary(dataset), "the attention comparison")["similarity"]
    frame = pd.json_normalize([{"method": method, "images": images.removesuffix("_images"), "pair": pair, **values}
                               for method, by_set in summary.items() for images, pairs in by_set.items()
                               for pair, values in pairs.items()])
    return frame


def attention_grids(dataset: str) -> list[Path]:
    grids = sorted(paths.attention_dir(dataset).glob("*.png"))
    if not grids:
        raise MissingInput(f"{paths.attention_dir(dataset)}: no attention grids; run `dvc repro` first")
    return grids


def label_audit(dataset: str) -> dict:
    return _json(paths.label_audit_summary(dataset), "the label audit")


# --- provenance -----------------------------------------------------------------------------------


def runs(dataset: str) -> pd.DataFrame:
    """Every MLflow run of the dataset's experiment (empty when there is no store)."""
    return read_runs(f"synthset-{dataset}")


def provenance(selected: pd.DataFrame) -> pd.DataFrame:
    """run_id, experiment_id, name, data_version and UI url (None for a local store) of the runs a figure used."""
    if selected.empty:
        return pd.DataFrame(columns=["run_id", "experiment_id", "name", "data_version", "url"])
    frame = pd.DataFrame({"run_id": selected["run_id"], "experiment_id": selected["experiment_id"],
                          "name": selected.get("tags.mlflow.runName", selected["run_id"]),
                          "data_version": selected.get("tags.synthset.data_version", "unknown")})
    frame["url"] = [run_url(e, r) for e, r in zip(frame["experiment_id"], frame["run_id"])]
    return frame.reset_index(drop=True)
