"""``params.yaml`` as typed, validated settings: the one source of truth for every stage.

The file holds the settings every scale shares, a ``scale`` selector, and under ``scales`` one
block per scale (``default``, ``paper``, ``tiny``) with the sizes and epochs that differ. Loading
merges the selected block into the shared settings and validates the result. Nothing has a default
in code: a setting missing from the file is an error, not a silent fallback. Every scale is
validated on every load, so a typo in ``scales.paper`` is caught on a default run, before any work.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthset.errors import SynthsetError

PositiveInt = Annotated[int, Field(gt=0)]
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]
LearningRate = Annotated[float, Field(gt=0.0, le=1.0)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OverridableSection = Literal["gan", "generate", "augment", "classifier", "features", "quality"]


class MnistParams(Strict):
    """Which real images each part of study 1 sees.

    The 10,000-image MNIST test set is the real validation set of the final comparison. Anything
    used for model selection (GAN epochs, later issues) comes from ``holdout_per_class`` images
    carved off the end of each class's training images, never from the validation set.
    """

    image_shape: tuple[PositiveInt, PositiveInt, PositiveInt]
    classes: list[Annotated[int, Field(ge=0, le=9)]] = Field(min_length=2)
    holdout_per_class: Annotated[int, Field(ge=0)]
    validation_images: Annotated[int, Field(gt=0, le=10_000)]
    overrides: dict[OverridableSection, dict[str, Any]]  # MNIST's own values of the shared sections

    @property
    def labels(self) -> list[int]:
        """The integer labels of the selected classes: the digits themselves."""
        return list(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [str(digit) for digit in self.classes]


class Fids30Params(Strict):
    """The fruit photos of FIDS30 (the paper's colour, few-data case).

    ``source`` is the user's FIDS30 download, a folder or a zip in the original layout;
    ``synthset fetch-fids30`` copies the selected classes into ``data/fids30``. Labels are the
    classes' positions in ``classes``. Each class is split ``1 - validation_fraction`` /
    ``validation_fraction`` with the seed; ``holdout_per_class`` images of the training part are
    kept for model selection, and 0 lets model selection compare with the training images
    themselves (with ~28 photos per class, there is nothing to spare).
    """

    source: str
    image_shape: tuple[PositiveInt, PositiveInt, Literal[3]]
    classes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=2)
    resize: Literal["squash", "center_crop"]  # squash: the paper's plain resize; center_crop keeps proportions
    on_corrupt: Literal["skip", "refuse"]  # an unreadable photo is skipped (and counted) or stops the run
    validation_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    holdout_per_class: Annotated[int, Field(ge=0)]
    overrides: dict[OverridableSection, dict[str, Any]]  # FIDS30's own values of the shared sections

    @model_validator(mode="after")
    def _square_images_and_distinct_classes(self):
        if self.image_shape[0] != self.image_shape[1]:
            raise ValueError(f"image_shape {list(self.image_shape)} must be square")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes {self.classes} lists a class twice")
        return self

    @property
    def labels(self) -> list[int]:
        return list(range(len(self.classes)))

    @property
    def class_names(self) -> list[str]:
        return list(self.classes)


DATASETS = ("mnist", "fids30")
DatasetName = Literal[DATASETS]


class GeneratorParams(Strict):
    base_size: PositiveInt
    base_filters: PositiveInt
    filters: list[PositiveInt] = Field(min_length=1)
    kernel_size: PositiveInt
    dropout: Rate
    bn_momentum: Rate


class DiscriminatorParams(Strict):
    filters: list[PositiveInt] = Field(min_length=1)
    strides: list[PositiveInt] = Field(min_length=1)
    kernel_size: PositiveInt
    dropout: Rate
    leaky_relu_slope: Annotated[float, Field(ge=0.0, lt=1.0)]

    @model_validator(mode="after")
    def _one_stride_per_layer(self):
        if len(self.filters) != len(self.strides):
            raise ValueError(f"filters has {len(self.filters)} layers but strides has {len(self.strides)}")
        return self


class AdamParams(Strict):
    learning_rate: LearningRate
    beta_1: Rate
    beta_2: Rate


class RmspropRates(Strict):
    learning_rate: LearningRate
    decay: Annotated[float, Field(ge=0.0)]


class RmspropParams(Strict):
    """The paper's second try (section 2.2): separate rates for each network, with Keras 2's time decay."""

    generator: RmspropRates
    discriminator: RmspropRates


class GanParams(Strict):
    latent_dim: PositiveInt
    generator: GeneratorParams
    discriminator: DiscriminatorParams
    optimizer: Literal["adam", "rmsprop"]
    adam: AdamParams
    rmsprop: RmspropParams
    epochs: PositiveInt
    batch_size: PositiveInt
    train_images_per_class: Annotated[int | None, Field(gt=0)]  # None: every training image of the class
    sample_grid_size: Annotated[int, Field(ge=2, le=16)]
    checkpoint_every: PositiveInt  # keep the generator every N epochs (and the last) for epoch selection
    jit_compile: bool  # XLA: 85 vs 170 ms per step at the default scale on 2 CPUs (benchmarks/gan_step.py)


class GenerateParams(Strict):
    images_per_class: PositiveInt
    # Which generator checkpoint: "selected" (the epoch-selection stage's choice per class), -1 (the
    # last epoch) or an epoch number, the same for every class.
    epoch: Literal["selected"] | Annotated[int, Field(ge=-1)]
    batch_size: PositiveInt


class FeatureNetworkParams(Strict):
    """The classifier whose penultimate layer is the feature space of the quality metrics."""

    filters: list[PositiveInt] = Field(min_length=1)
    feature_dim: PositiveInt
    dropout: Rate
    learning_rate: LearningRate
    epochs: PositiveInt
    batch_size: PositiveInt
    train_images_per_class: Annotated[int | None, Field(gt=0)]  # None: the whole training split


QUALITY_METRICS = {  # name: True when higher is better
    "fid": False, "kid": False, "classifier_score": True, "precision": True, "recall": True,
    "density": True, "coverage": True, "near_copy_share": False, "label_fidelity": True,
}


class QualityParams(Strict):
    """How synthetic images are compared with held-out real ones (``mnist.holdout_per_class`` per class)."""

    kid_subsets: PositiveInt
    kid_subset_size: Annotated[int, Field(ge=2)]
    nearest_k: PositiveInt  # k of the k-NN balls of precision, recall, density and coverage
    near_copy_quantile: Annotated[float, Field(gt=0.0, lt=0.5)]
    selection_metric: Literal[tuple(QUALITY_METRICS)]  # picks each class's generator epoch
    # training: every metric sees features z-scored with the training split's mean and std;
    # reference: KID divides each feature by its std in the reference set (earlier runs; unstable per class)
    feature_scale: Literal["reference", "training"]


class AugmentParams(Strict):
    """Paper section 3: flip, brightness, zoom and rotation, each drawn per image."""

    horizontal_flip: bool
    brightness: tuple[Annotated[float, Field(ge=0.0)], Annotated[float, Field(gt=0.0)]]
    zoom: tuple[Annotated[float, Field(gt=0.0)], Annotated[float, Field(gt=0.0)]]
    rotation_degrees: Annotated[float, Field(ge=0.0, le=180.0)]
    fill_mode: Literal["constant", "nearest", "reflect", "wrap"]  # Keras 2's default, as the paper used

    @model_validator(mode="after")
    def _ordered_ranges(self):
        for name in ("brightness", "zoom"):
            low, high = getattr(self, name)
            if low > high:
                raise ValueError(f"{name} range [{low}, {high}] has its lower bound above its upper bound")
        return self


SOURCES = ("real", "augmented", "synthetic", "real_plus_synthetic")  # what study 1's CNN trains on


class ClassifierParams(Strict):
    """The paper's CNN (Figure 15): five conv+max-pool blocks, flatten, dropout, two dense layers."""

    filters: list[PositiveInt] = Field(min_length=5, max_length=5)
    kernel_size: PositiveInt
    dropout: Rate
    dense_units: PositiveInt
    learning_rate: LearningRate
    epochs: PositiveInt
    batch_size: PositiveInt
    # Images per class taken from each part of a source. None: all of them (real: the training
    # split; synthetic: everything generated; real_plus_synthetic: both, so twice as many).
    train_images_per_class: Annotated[int | None, Field(gt=0)]
    seeds: PositiveInt  # trainings per source, with seeds seed, seed+1, ...: the metrics give mean and std


POSTER_MODELS = ("linear_softmax", "fcnn", "cnn_4l", "cnn_5l")  # study 2's classifiers, simplest first
SEMI_VARIANTS = ("labelled_only", "with_synthetic")  # the poster's semi-gan* and semi-gan**


class SemiParams(Strict):
    """The poster's semi-supervised discriminator: 5,400 labelled real images (*), plus 5,400
    unlabelled synthetic ones (**) in its second variant."""

    labelled_per_class: PositiveInt
    unlabelled_per_class: PositiveInt


class SslParams(Strict):
    """The complete semi-supervised GAN (Salimans et al. 2016): its MNIST networks and optimiser."""

    labels: list[PositiveInt] = Field(min_length=1)  # one training per count, labels spread evenly over classes
    discriminator_widths: list[PositiveInt] = Field(min_length=1)
    generator_widths: list[PositiveInt] = Field(min_length=1)
    input_noise: Annotated[float, Field(ge=0.0)]  # std of the Gaussian noise on D's input and hidden layers
    hidden_noise: Annotated[float, Field(ge=0.0)]
    latent_dim: PositiveInt
    learning_rate: LearningRate
    beta_1: Rate
    batch_size: PositiveInt
    epochs: PositiveInt  # passes over the unlabelled images
    unlabelled_per_class: Annotated[int | None, Field(gt=0)]  # None: the whole training split


class AttentionParams(Strict):
    """Grad-CAM and saliency: cnn-5l's maps on both test sets, and study 1's CNNs compared map by map."""

    sources: list[Literal[SOURCES]] = Field(min_length=2)  # study 1's CNNs (first seed) whose maps are compared
    min_cam_size: PositiveInt  # Grad-CAM uses the deepest conv layer whose output is at least this wide
    top_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]  # share of pixels in the top-pixel IoU
    sanity_max_correlation: Annotated[float, Field(gt=-1.0, lt=1.0)]  # a method fails above it
    grid_images_per_class: Annotated[int, Field(ge=1, le=16)]


class Study2Params(Strict):
    """*How real is real?*: the poster's classifiers, trained on real images, tested on real and synthetic ones.

    They train on the training split and validate on the holdout (the poster's 54,000/6,000 split is
    our 55,000/5,000). The real test set is the first ``test_images_per_class`` images of each class
    of study 1's validation split (the MNIST test set); the synthetic test set has as many per
    class, generated with other noise than the synthetic training set. The poster used 1,000 of each.
    """

    models: list[Literal[POSTER_MODELS]] = Field(min_length=1)
    learning_rate: LearningRate
    batch_size: PositiveInt
    checkpoints: list[PositiveInt] = Field(min_length=1)  # epochs at which the table is filled; the last ends training
    train_images_per_class: Annotated[int | None, Field(gt=0)]  # None: the whole training split
    test_images_per_class: PositiveInt  # capped by the validation split's images of the class
    audit_grid_size: Annotated[int, Field(ge=2, le=32)]  # a label-audit grid shows at most size**2 images
    semi: SemiParams
    ssl: SslParams
    attention: AttentionParams

    @model_validator(mode="after")
    def _ascending_checkpoints_and_an_auditor(self):
        if self.checkpoints != sorted(set(self.checkpoints)):
            raise ValueError(f"checkpoints {self.checkpoints} must be distinct epochs in ascending order")
        if "cnn_5l" not in self.models:
            raise ValueError(f"models {self.models} must include cnn_5l, which audits the synthetic test labels")
        return self


class Params(Strict):
    """Every setting, resolved for one scale and, for a dataset's stages, with that dataset's overrides.

    ``dataset`` names the dataset whose ``overrides`` were merged into the shared sections (set by
    ``load(dataset=...)``); ``data`` is that dataset's block.
    """

    seed: Annotated[int, Field(ge=0)]
    datasets: list[DatasetName] = Field(min_length=1)  # study 1 runs on each; study 2 is MNIST's
    mnist: MnistParams
    fids30: Fids30Params
    gan: GanParams
    generate: GenerateParams
    augment: AugmentParams
    classifier: ClassifierParams
    features: FeatureNetworkParams
    quality: QualityParams
    study2: Study2Params
    dataset: DatasetName | None = None

    @property
    def data(self) -> MnistParams | Fids30Params:
        if self.dataset is None:
            raise ValueError("these settings were loaded for no dataset; use config.load(dataset=...)")
        return getattr(self, self.dataset)

    @model_validator(mode="after")
    def _datasets_listed_once(self):
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets {self.datasets} lists a dataset twice")
        return self

    @model_validator(mode="after")
    def _enough_for_quality(self):
        # The holdout is halved into a reference and a floor sample; k-NN balls need k other points.
        if self.dataset is None:
            return self
        holdout, k = self.data.holdout_per_class, self.quality.nearest_k
        if holdout and holdout // 2 <= k:
            raise ValueError(f"{self.dataset}.holdout_per_class={holdout} is too few for quality.nearest_k={k}: "
                             f"each half of the holdout needs more than {k} images per class")
        return self


ScaleName = Literal["default", "paper", "tiny"]
PARAMS_FILE = Path("params.yaml")


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"  {field}: {item['msg']}{shown}")
    return f"{source}:\n" + "\n".join(lines)


def resolve(raw: dict[str, Any], source: str = str(PARAMS_FILE), scale: str | None = None,
            dataset: str | None = None) -> Params:
    """Validate a parsed params file and return the settings of its selected (or the given) scale,
    with ``dataset``'s overrides merged in when a dataset is given. Every scale and dataset is
    validated, so a typo anywhere is caught before any work."""
    if not isinstance(raw, dict):
        raise SynthsetError(f"{source}: expected a mapping of settings, got {type(raw).__name__}")
    raw = dict(raw)
    selected = scale if scale is not None else raw.pop("scale", "default")
    raw.pop("scale", None)
    scales = raw.pop("scales", {}) or {}
    if not isinstance(scales, dict):
        raise SynthsetError(f"{source}: scales: expected a mapping of scale name to overrides, got {scales!r}")
    for name in scales:
        if name not in ScaleName.__args__:
            raise SynthsetError(f"{source}: scales.{name}: unknown scale, expected one of {list(ScaleName.__args__)}")
    if "dataset" in raw:
        raise SynthsetError(f"{source}: dataset: not a setting (the stages choose their dataset); remove it")
    if dataset is not None and dataset not in DATASETS:
        raise SynthsetError(f"unknown dataset {dataset!r}, expected one of {list(DATASETS)}")
    if selected not in ScaleName.__args__:
        raise SynthsetError(f"{source}: scale: unknown scale {selected!r}, expected one of {list(ScaleName.__args__)}")

    resolved = {}
    for name in ScaleName.__args__:
        override = scales.get(name) or {}
        if not isinstance(override, dict):
            raise SynthsetError(f"{source}: scales.{name}: expected a mapping of overrides, got {override!r}")
        merged = _deep_merge(raw, override)
        where = f"{source} (scale '{name}', base settings merged with scales.{name})"
        resolved[name] = {None: _validate(merged, where)}
        for data_name in DATASETS:
            overrides = (merged.get(data_name) or {}).get("overrides") or {}
            if not isinstance(overrides, dict):
                raise SynthsetError(f"{source}: {data_name}.overrides: expected a mapping of sections, got {overrides!r}")
            with_overrides = {**_deep_merge(merged, overrides), "dataset": data_name}
            resolved[name][data_name] = _validate(
                with_overrides, f"{where}, with {data_name}.overrides merged into the shared sections")
    return resolved[selected][dataset]


def _validate(settings: dict[str, Any], where: str) -> Params:
    try:
        return Params.model_validate(settings)
    except ValidationError as error:
        raise SynthsetError("invalid settings in " + _describe(error, where)) from None


def load(path: Path | str = PARAMS_FILE, scale: str | None = None, dataset: str | None = None) -> Params:
    """Read and validate ``params.yaml``; every error names the file, the field and the value."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SynthsetError(f"{path}: settings file not found (run from the project root, where params.yaml is)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SynthsetError(f"{path}: not valid YAML: {error}") from None
    return resolve(raw, str(path), scale, dataset)


def selected_scale(path: Path | str = PARAMS_FILE) -> str:
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return raw.get("scale", "default")
