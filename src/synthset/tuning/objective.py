"""One trial: train the GAN of each sweep class with the library trainer on a fixed step budget,
score its generator with the quality code against the holdout's reference half, report per class.
With ``gan.kind: shared_then_per_class`` the trial first trains the shared GAN on every class's
images for its ``shared_epochs`` (a setting the space may tune), and each class starts from it.

The pipeline's seeds are used (``synthset.seeds``: ``gan_of_class`` for training,
``selection_noise`` for the scored images), so the trial of the current settings trains and scores
the pipeline's GANs; with another number of threads per process the floating-point order differs,
and so do the scores a little (class 2 of MNIST at the default scale: FID 6.66 in a two-worker
sweep, 5.73 in `dvc repro`).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from synthset import paths, seeds
from synthset.config import QUALITY_METRICS, Params
from synthset.data.archives import from_tanh_range, images_of_class, load_images
from synthset.errors import SynthsetError
from synthset.imaging import image_grid
from synthset.models.features import FeatureExtractor
from synthset.quality.scoring import ClassReference, class_reference
from synthset.quality.selection import score_checkpoints
from synthset.tuning.space import SettingsRefused, check_buildable, settings_for, suggest
from synthset.training.gan import save_networks, train_gan

SWEPT_KINDS = ("per_class", "shared_then_per_class")


class TrainingFailed(Exception):
    """The trial's GAN diverged (a score that is not a number): a failed trial."""


@dataclass
class SweepData:
    """What every trial of a dataset reads: each sweep class's training images and yardsticks."""

    labels: list[int]
    images: dict[int, np.ndarray]
    references: dict[int, ClassReference]
    feature_index: dict[int, int]  # label -> the class's output in the feature network
    extractor: FeatureExtractor
    inputs: dict[str, str] = field(default_factory=dict)  # input name -> md5, for the tracker
    shared_images: np.ndarray | None = None  # every class's training images: the shared GAN's (shared_then_per_class)


def load_data(params: Params, dataset: str) -> SweepData:
    """The pipeline's training split, holdout and feature network; an error says how to make them."""
    from synthset.quality.references import feature_extractor
    from synthset.hashes import file_md5

    if params.gan.kind not in SWEPT_KINDS:
        raise SynthsetError(f"{dataset}'s gan.kind is {params.gan.kind!r}: a sweep tunes a GAN per class, trained from "
                            f"scratch or from a shared GAN (set {dataset}'s gan.kind to one of {list(SWEPT_KINDS)} to sweep)")
    needed = [paths.real_split(dataset, "train"), paths.real_split(dataset, "holdout"), paths.feature_network(dataset)]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise SynthsetError(f"a sweep scores with the pipeline's real splits and feature network, and "
                            f"{', '.join(missing)} is missing: run `dvc repro train_features@{dataset}` first")
    labels = params.sweep_labels
    extractor = feature_extractor(params, dataset)
    feature_index = {label: params.data.labels.index(label) for label in labels}
    (train, train_labels), (holdout, holdout_labels) = load_images(needed[0]), load_images(needed[1])
    return SweepData(  # yardsticks of the sweep's classes only: each costs a near-copy threshold
        labels=labels,
        images={label: images_of_class(needed[0], label, params.gan.train_images_per_class) for label in labels},
        references={label: class_reference(extractor, holdout[holdout_labels == label], train[train_labels == label],
                                           feature_index[label], params.quality) for label in labels},
        feature_index=feature_index,
        extractor=extractor,
        inputs={name: file_md5(path) for name, path in zip(("train", "holdout", "feature_network"), needed)},
        shared_images=(np.concatenate([images_of_class(needed[0], label, params.gan.train_images_per_class)
                                       for label in params.data.labels])
                       if params.gan.kind == "shared_then_per_class" else None),
    )


@dataclass
class ClassResult:
    label: int
    scores: dict[str, float]  # every quality metric and its real-vs-real floor
    grid: np.ndarray  # uint8 sample grid of the trained generator
    seconds_per_step: float


class _StepClock(keras.callbacks.Callback):
    """Seconds per training step after the first (which includes tracing and compiling)."""

    def on_train_batch_end(self, batch, logs=None):
        self.times = getattr(self, "times", []) + [time.perf_counter()]

    @property
    def seconds_per_step(self) -> float:
        times = getattr(self, "times", [])
        return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else float("nan")


def train_shared(params: Params, settings, data: SweepData, directory: Path) -> Path:
    """The shared GAN of ``shared_then_per_class`` with the trial's settings, trained as the stage
    trains it (same images and seed, ``shared_epochs`` epochs); its networks saved in ``directory``."""
    shared = settings.model_copy(update={"epochs": settings.shared_epochs})
    training = train_gan(shared, data.shared_images, seed=seeds.gan_of_all_classes(params.seed))
    save_networks(training.model, directory)
    return directory


def train_and_score(params: Params, settings, data: SweepData, label: int, start_from: Path | None = None) -> ClassResult:
    """Train one class's GAN for ``sweep.steps`` steps (from the shared GAN's networks, if given) and
    score its last generator."""
    clock = _StepClock()
    training = train_gan(settings, data.images[label], seed=seeds.gan_of_class(params.seed, label), steps=params.sweep.steps,
                         callbacks=[clock], start_from=start_from)
    generator = training.generator
    curve = score_checkpoints([(params.sweep.steps, generator)], data.references[label], data.extractor,
                              data.feature_index[label], params.quality, settings.latent_dim,
                              noise_seed=seeds.selection_noise(params.seed, label), seed=params.seed)
    size = settings.sample_grid_size
    noise = np.random.default_rng(seeds.gan_of_class(params.seed, label)).standard_normal((size**2, settings.latent_dim)).astype("float32")
    grid = image_grid(from_tanh_range(generator(noise, training=False)), size)
    return ClassResult(label, {k: float(v) for k, v in curve.iloc[0].items() if k != "epoch"}, grid,
                       clock.seconds_per_step)


def directions(params: Params) -> list[str]:
    """The study's directions: the selection metric's (and, with speed, fewer seconds per step)."""
    quality = "maximize" if QUALITY_METRICS[params.quality.selection_metric] else "minimize"
    return [quality] if params.sweep.objectives == "quality" else [quality, "minimize"]


class Objective:
    """Optuna's objective: the mean of the selection metric over the sweep classes (and, in
    ``quality_and_speed`` mode, seconds per step). ``on_start`` hears of the trial's values before
    any training, ``on_class`` of every scored class."""

    def __init__(self, params: Params, data: SweepData, on_start: Callable | None = None,
                 on_class: Callable | None = None):
        self.params, self.data, self.on_start, self.on_class = params, data, on_start, on_class
        self.metric = params.quality.selection_metric
        self.prune = params.sweep.objectives == "quality" and params.sweep.pruner.kind != "none"

    @property
    def directions(self) -> list[str]:
        return directions(self.params)

    def settings(self, values: dict):
        """The trial's GAN settings, refused (``SettingsRefused``) before any training if invalid."""
        counts = [len(self.data.images[label]) for label in self.data.labels]
        settings = settings_for(self.params.gan, values, self.params.sweep.steps, round(sum(counts) / len(counts)))
        check_buildable(settings, tuple(self.params.data.image_shape))
        return settings

    def __call__(self, trial) -> float | tuple[float, float]:
        values = suggest(trial, self.params.sweep.space)
        if self.on_start:
            self.on_start(trial, values)
        try:
            settings = self.settings(values)
        except SettingsRefused as error:
            trial.set_user_attr("failure", f"settings: {error}")
            raise
        with tempfile.TemporaryDirectory(prefix="synthset-shared-gan-") as scratch:
            start_from = (train_shared(self.params, settings, self.data, Path(scratch))
                          if self.params.gan.kind == "shared_then_per_class" else None)
            return self._classes(trial, settings, start_from)

    def _classes(self, trial, settings, start_from: Path | None) -> float | tuple[float, float]:
        import optuna

        scores, speeds = [], []
        for position, label in enumerate(self.data.labels):
            result = train_and_score(self.params, settings, self.data, label, start_from)
            value = result.scores[self.metric]
            if not math.isfinite(value):
                trial.set_user_attr("failure", f"training: class {label}'s {self.metric} is {value} (diverged)")
                raise TrainingFailed(f"class {label}: {self.metric} is {value}")
            scores.append(value)
            speeds.append(result.seconds_per_step)
            trial.set_user_attr(f"{self.metric}_class_{label}", value)
            if self.on_class:
                self.on_class(trial, position, result)
            if self.prune:
                trial.report(value, position)
                if position < len(self.data.labels) - 1 and trial.should_prune():  # the last class completes
                    trial.set_user_attr("pruned", f"after class {label} ({self.metric} {value:.4g})")
                    raise optuna.TrialPruned(f"class {label}: {self.metric} {value:.4g}")
        trial.set_user_attr("seconds_per_step", float(np.nanmean(speeds)))
        mean = float(np.mean(scores))
        return mean if self.params.sweep.objectives == "quality" else (mean, float(np.nanmean(speeds)))
