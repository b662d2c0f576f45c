"""Stage ``train_gan``: every class's GAN of a dataset, in parallel worker processes, resumably.

Around the library trainer (``training.gan.train_gan``) this adds what the pipeline needs: the
training split, checkpoints of every kept epoch and sample grids in the stage's output, the full
training state under ``artifacts/.resume`` for an interrupted run, and one MLflow run per GAN.
Every ``gan.kind`` goes through one driver (``train``); a ``Job`` holds the little that differs.
"""

from __future__ import annotations

import json
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from synthset import parallel, paths, seeds, stages
from synthset.tracking import lineage, runs
from synthset.config import GanParams, Params
from synthset.data.archives import images_of_class
from synthset.hashes import file_md5, fingerprint


@dataclass
class Attempt:
    """What an interrupted training left behind in its work directory."""

    work_dir: Path
    key: str

    @property
    def state_file(self) -> Path:
        return self.work_dir / "attempt.json"

    @property
    def backup_dir(self) -> Path:
        return self.work_dir / "backup"

    @property
    def run_dir(self) -> Path:
        return self.work_dir / "run"

    def start(self) -> tuple[str | None, int]:
        """(MLflow run id, epochs done) of a matching earlier attempt, else (None, 0) on a clean slate."""
        if self.state_file.exists():
            state = json.loads(self.state_file.read_text())
            if state.get("key") == self.key:
                metadata = self.backup_dir / "training_metadata.json"
                epochs_done = json.loads(metadata.read_text())["epoch"] if metadata.exists() else 0
                return state.get("mlflow_run_id"), epochs_done
        shutil.rmtree(self.work_dir, ignore_errors=True)
        self.work_dir.mkdir(parents=True)
        return None, 0

    def record(self, run_id: str) -> None:
        self.state_file.write_text(json.dumps({"key": self.key, "mlflow_run_id": run_id}))

    @property
    def run_id(self) -> str:
        """The MLflow run of this attempt."""
        return json.loads(self.state_file.read_text())["mlflow_run_id"]

    @property
    def done_dir(self) -> Path:
        return self.work_dir / "done"

    def is_done(self) -> bool:
        """Whether an earlier attempt with the same settings and data already finished this GAN."""
        if not (self.state_file.exists() and self.done_dir.is_dir()):
            return False
        return json.loads(self.state_file.read_text()).get("key") == self.key

    def complete(self) -> None:
        """Keep the finished run until every GAN is done: DVC empties the stage's outputs when
        an interrupted stage re-runs, and a finished GAN should not train again."""
        self.run_dir.rename(self.done_dir)

    def finish(self, outputs: dict[str, Path]) -> None:
        """Move the completed run into the DVC outputs, each part (a sub-directory of the run, ``.``
        for all of it) into its output in one rename, and forget the attempt."""
        for part, out_dir in outputs.items():
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            (self.done_dir / part).rename(out_dir)
        shutil.rmtree(self.work_dir)


def _announce_resume(tracker, attempt: Attempt, epochs_done: int, what: str, prefix: str) -> None:
    """Say where an interrupted training goes on: in the log, as a run tag and as a run file."""
    message = f"resuming {what} from its epoch {epochs_done} checkpoint ({attempt.work_dir})"
    print(f"[{prefix}] {message}", flush=True)
    tracker.set_tags({"synthset.resumed_from_epoch": epochs_done})
    tracker.log_text(message, f"resume_after_epoch_{epochs_done}.txt")



class Job(ABC):
    """One GAN training of the stage, as far as it depends on ``gan.kind``: which classes the GAN
    learns, how it is built and started, where its generators go. ``train`` does all the rest
    (data, seed, resume, MLflow run, checkpoints, sample grids) the same way for every kind."""

    labels: list[int]  # the classes whose training images it learns
    name: str  # its work directory (``paths.gan_work_dir``) and its name in the log
    what: str  # its name in the resume message
    run_label: int | str  # its MLflow run's ``synthset.label``
    run_name: str  # its MLflow run's name, after the dataset's
    shared: Attempt | None = None  # the finished shared GAN whose networks it starts from
    conditional = False  # one model told each image's class, rather than one that learns them all alike
    grouped = True  # its run is a child of the dataset's parent run of the per-class GANs

    def settings(self, gan: GanParams) -> GanParams:
        return gan

    def seed(self, seed: int) -> int:
        return seeds.gan_of_all_classes(seed)

    @abstractmethod
    def key_parts(self) -> tuple:
        """What, besides the settings and the data, tells its attempts apart."""

    def generator_dirs(self, run_dir: Path) -> dict[int, Path]:
        """Where each class's generators lie in the run (its lineage tags): none for a GAN whose
        generators no class uses."""
        return {}

    @abstractmethod
    def outputs(self, dataset: str) -> dict[str, Path]:
        """The stage's outputs the finished run goes to, by part of the run (``.``: all of it)."""

    def snapshots(self, run_dir: Path, noise: np.ndarray, gan: GanParams):
        from synthset.training.callbacks import GeneratorSnapshots

        return GeneratorSnapshots(partial(paths.generator_checkpoint, run_dir), partial(paths.sample_grid, run_dir),
                                  noise, gan.sample_grid_size, gan.checkpoint_every, gan.epochs)

    def input_example(self, noise: np.ndarray):
        return noise[:4]

    def after_training(self, trained, run_dir: Path) -> None:
        """Anything the run directory needs from the trained model besides the checkpoints."""


@dataclass(frozen=True)
class ClassGan(Job):
    """Class ``label``'s GAN (kinds ``per_class`` and ``shared_then_per_class``), from scratch or
    from the networks of ``shared``."""

    label: int
    shared: Attempt | None = None

    @property
    def labels(self) -> list[int]:
        return [self.label]

    @property
    def name(self) -> str:
        return str(self.label)

    @property
    def what(self) -> str:
        return f"class {self.label}"

    @property
    def run_label(self) -> int:
        return self.label

    @property
    def run_name(self) -> str:
        return f"gan-class-{self.label}"

    def seed(self, seed: int) -> int:
        return seeds.gan_of_class(seed, self.label)

    def key_parts(self) -> tuple:
        return (self.label,) if self.shared is None else (self.label, self.shared.key)

    def generator_dirs(self, run_dir: Path) -> dict[int, Path]:
        return {self.label: run_dir}

    def outputs(self, dataset: str) -> dict[str, Path]:
        return {".": paths.gan_dir(dataset, self.label)}


@dataclass(frozen=True)
class SharedGan(Job):
    """The GAN of every class in ``labels`` for ``gan.shared_epochs`` (the first part of
    ``shared_then_per_class``): its networks, saved in its run (``paths.shared_networks``), are
    where each class's GAN starts; its sample grids mix the classes."""

    labels: list[int]
    name = "shared"
    run_name = "gan-shared"
    what = "the shared GAN"
    run_label = "all"

    def settings(self, gan: GanParams) -> GanParams:
        # Its own epochs: a change to the classes' fine-tune alone does not train it again.
        return gan.model_copy(update={"epochs": gan.shared_epochs})

    def key_parts(self) -> tuple:
        return self.labels, "shared"

    def outputs(self, dataset: str) -> dict[str, Path]:
        return {".": paths.shared_gan_dir(dataset)}

    def after_training(self, trained, run_dir: Path) -> None:
        from synthset.training.gan import save_networks

        save_networks(trained.model, paths.shared_networks(run_dir))


@dataclass(frozen=True)
class ConditionalGan(Job):
    """One class-conditional GAN of every class in ``labels``: its run holds a sub-directory per
    class (``str(label)``) with that class's generator checkpoints and grids, and a copy of the
    shared history, as a per-class GAN's output; its overview grids have a row per class."""

    labels: list[int]
    name = "conditional"
    run_name = "gan-conditional"
    what = "the conditional GAN"
    run_label = "all"
    conditional = True
    grouped = False

    def key_parts(self) -> tuple:
        return (self.labels,)

    def generator_dirs(self, run_dir: Path) -> dict[int, Path]:
        return {label: run_dir / str(label) for label in self.labels}

    def outputs(self, dataset: str) -> dict[str, Path]:
        return {str(label): paths.gan_dir(dataset, label) for label in self.labels}

    def snapshots(self, run_dir: Path, noise: np.ndarray, gan: GanParams):
        from synthset.training.gan import ClassGeneratorSnapshots

        class_dir = list(self.generator_dirs(run_dir).values())
        return ClassGeneratorSnapshots(lambda index, epoch: paths.generator_checkpoint(class_dir[index], epoch),
                                       lambda index, epoch: paths.sample_grid(class_dir[index], epoch),
                                       partial(paths.sample_grid, run_dir), len(self.labels), noise,
                                       gan.sample_grid_size, gan.checkpoint_every, gan.epochs)

    def input_example(self, noise: np.ndarray):
        one_hot = np.eye(len(self.labels), dtype="float32")[np.arange(4) % len(self.labels)]
        return {"noise": noise[:4], "class_one_hot": one_hot}

    def after_training(self, trained, run_dir: Path) -> None:
        for part in self.generator_dirs(run_dir).values():  # each class's output holds the shared history
            shutil.copyfile(paths.gan_history(run_dir), paths.gan_history(part))


def run(params: Params, dataset: str, labels: list[int]) -> list[Path]:
    """Train the GANs of the classes in ``labels`` as ``gan.kind`` says, in as many worker processes
    as there are cores (``synthset.parallel``), then move them into the stage's output once all
    have finished."""
    parallel.worker_count(len(labels))  # a bad SYNTHSET_WORKERS is named before any work
    # The per-class GANs' parent run, made here once: their workers' runs go under it.
    parent = None if params.gan.kind == "conditional" else runs.open_group(dataset, gan_group(params, dataset))
    first: list[tuple[Job, Attempt]] = []  # the shared GAN, which the classes' GANs start from
    if params.gan.kind == "shared_then_per_class":  # one task: its worker gets every core
        shared_gan = SharedGan(labels)
        first = [(shared_gan, *parallel.run_tasks(train, [(params, dataset, shared_gan, parent)]))]
    shared = first[0][1] if first else None
    jobs = [ConditionalGan(labels)] if params.gan.kind == "conditional" else [ClassGan(label, shared) for label in labels]
    attempts = parallel.run_tasks(train, [(params, dataset, job, parent) for job in jobs])
    for job, attempt in [*zip(jobs, attempts, strict=True), *first]:
        attempt.finish(job.outputs(dataset))
    return [paths.gan_dir(dataset, label) for label in labels]


def gan_group(params: Params, dataset: str) -> runs.RunGroup:
    """The parent run of the per-class GANs (and of the shared GAN they start from): one per
    dataset, GAN settings and training split."""
    inputs = {"train": file_md5(paths.real_split(dataset, "train"))}
    settings = {"gan": params.gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    return runs.RunGroup(f"{dataset}-gans", fingerprint(settings, inputs, "gan-parent"), settings)


def train(params: Params, dataset: str, job: Job, parent: runs.Parent | None = None) -> Attempt:
    """Train the GAN of ``job`` on the training images of its classes; return the finished attempt.

    A run killed mid-training leaves its last epoch checkpoint in ``artifacts/.resume``; the next
    call with the same settings and data continues from there, in the same MLflow run, and a GAN
    that had finished is not trained again. A grouped job's run goes under ``parent`` (the stage's
    ``gan_group``), found or made here when not given.
    """
    # Imported here, in the worker: the stage's own process never starts TensorFlow.
    from synthset.training.callbacks import AtomicBackupAndRestore, EpochTimer, EpochToTracker, StepHistory
    from synthset.training.gan import STEP_METRICS, steps_per_epoch, train_gan

    gan = job.settings(params.gan)
    train_file = paths.real_split(dataset, "train")
    parts = [images_of_class(train_file, label, gan.train_images_per_class) for label in job.labels]
    images = np.concatenate(parts)
    seed = job.seed(params.seed)
    prefix = f"gan {dataset}/{job.name}"

    inputs = {"train": file_md5(train_file)}
    settings = {"gan": gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    attempt = Attempt(paths.gan_work_dir(dataset, job.name), fingerprint(settings, inputs, *job.key_parts()))
    if attempt.is_done():
        print(f"[{prefix}] finished by an earlier attempt with these settings: kept", flush=True)
        return attempt
    resume_id, epochs_done = attempt.start()

    parent = (parent or runs.open_group(dataset, gan_group(params, dataset))) if job.grouped else None
    with runs.stage_run(dataset, stages.TRAIN_GAN, f"{dataset}-{job.run_name}", inputs, parent=parent,
                        resume_id=resume_id, data=[lineage.real(dataset, "train", "training")],
                        label=job.run_label) as tracker:
        attempt.record(tracker.run_id)
        if epochs_done:
            _announce_resume(tracker, attempt, epochs_done, job.what, prefix)
        tracker.log_params({**runs.flatten(settings), "label": job.run_label, "train_images": len(images)})
        if job.shared is not None:
            tracker.set_tags({"synthset.started_from_run": job.shared.run_id})

        noise = np.random.default_rng(seed).standard_normal((gan.sample_grid_size**2, gan.latent_dim)).astype("float32")
        history = StepHistory(paths.gan_history(attempt.run_dir), STEP_METRICS, steps_per_epoch(len(images), gan.batch_size))
        history.truncate_to(epochs_done)
        to_tracker = EpochToTracker(tracker, history, partial(paths.sample_grid, attempt.run_dir), gan.checkpoint_every,
                                    gan.epochs)
        if epochs_done and (sent := to_tracker.backfill(epochs_done)):
            print(f"[{prefix}] sent {sent} checkpointed epoch(s) MLflow had not received", flush=True)
        told_classes = {}  # a conditional GAN is told each image's class: its index in job.labels
        if job.conditional:
            told_classes = {"num_classes": len(parts), "labels": np.concatenate(
                [np.full(len(part), index, np.int32) for index, part in enumerate(parts)])}
        trained = train_gan(
            gan, images, seed=seed, **told_classes,
            start_from=None if job.shared is None else paths.shared_networks(job.shared.done_dir), callbacks=[
                history,
                job.snapshots(attempt.run_dir, noise, gan),
                EpochTimer(prefix, gan.epochs),
                # An epoch counts as done once its checkpoint is written, after its history and
                # snapshots; only then does the tracker hear of it.
                AtomicBackupAndRestore(str(attempt.backup_dir), gan.checkpoint_every, gan.epochs, double_checkpoint=True),
                to_tracker,
            ])
        tracker.log_keras_model(trained.generator, "generator", job.input_example(noise))
        tracker.log_artifact(paths.gan_history(attempt.run_dir))
        job.after_training(trained, attempt.run_dir)
        if generator_dirs := job.generator_dirs(attempt.run_dir):
            tracker.set_tags(lineage.generator_tags(generator_dirs))
    attempt.complete()
    return attempt
