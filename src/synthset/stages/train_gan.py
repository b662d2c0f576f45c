"""Stage ``train_gan``: every class's GAN of a dataset, in parallel worker processes, resumably.

Around the library trainer (``training.gan.train_gan``) this adds what the pipeline needs: the
training split, checkpoints of every kept epoch and sample grids in the stage's output, the full
training state under ``artifacts/.resume`` for an interrupted run, and one MLflow run per class.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from synthset import parallel, paths, stages
from synthset.tracking import lineage, runs
from synthset.config import Params
from synthset.data.archives import images_of_class
from synthset.versions import file_md5


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
        """Whether an earlier attempt with the same settings and data already finished this class."""
        if not (self.state_file.exists() and self.done_dir.is_dir()):
            return False
        return json.loads(self.state_file.read_text()).get("key") == self.key

    def complete(self) -> None:
        """Keep the finished run until every class is done: DVC empties the stage's outputs when
        an interrupted stage re-runs, and a finished class should not train again."""
        self.run_dir.rename(self.done_dir)

    def finish(self, out_dir: Path) -> None:
        """Move the completed run into the DVC output in one rename and forget the attempt."""
        if out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        self.done_dir.rename(out_dir)
        shutil.rmtree(self.work_dir)

    def finish_classes(self, out_dirs: dict[str, Path]) -> None:
        """A conditional GAN's completed run: each class's part (sub-directory ``name``) into its
        class's output (which holds a copy of the shared history), then forget the attempt."""
        for name, out_dir in out_dirs.items():
            if out_dir.exists():
                shutil.rmtree(out_dir)
            out_dir.parent.mkdir(parents=True, exist_ok=True)
            (self.done_dir / name).rename(out_dir)
        shutil.rmtree(self.work_dir)


def _announce_resume(tracker, attempt: Attempt, epochs_done: int, what: str, prefix: str) -> None:
    """Say where an interrupted training goes on: in the log, as a run tag and as a run file."""
    message = f"resuming {what} from its epoch {epochs_done} checkpoint ({attempt.work_dir})"
    print(f"[{prefix}] {message}", flush=True)
    tracker.set_tags({"synthset.resumed_from_epoch": epochs_done})
    tracker.log_text(message, f"resume_after_epoch_{epochs_done}.txt")


def run(params: Params, dataset: str, labels: list[int]) -> list[Path]:
    """Train the GAN of each class in ``labels``, in as many worker processes as there are cores
    (``synthset.parallel``), then move them into the stage's output once all have finished."""
    parallel.worker_count(len(labels))  # a bad SYNTHSET_WORKERS is named before any work
    if params.gan.kind == "conditional":
        [attempt] = parallel.run_tasks(train_conditional, [(params, dataset, labels)])
        attempt.finish_classes({str(label): paths.gan_dir(dataset, label) for label in labels})
        return [paths.gan_dir(dataset, label) for label in labels]
    # The classes' parent run, made here once: their workers' runs go under it.
    parent = runs.open_group(dataset, gan_group(params, dataset))
    shared = None
    if params.gan.kind == "shared_then_per_class":  # one task: its worker gets every core
        [shared] = parallel.run_tasks(train_shared, [(params, dataset, labels, parent)])
    attempts = parallel.run_tasks(train_class, [(params, dataset, label, shared, parent) for label in labels])
    outputs = []
    for label, attempt in zip(labels, attempts, strict=True):
        attempt.finish(paths.gan_dir(dataset, label))
        outputs.append(paths.gan_dir(dataset, label))
    if shared is not None:
        shared.finish(paths.shared_gan_dir(dataset))
    return outputs


def gan_group(params: Params, dataset: str) -> runs.RunGroup:
    """The parent run of the per-class GANs (and the shared GAN they start from): one per dataset,
    GAN settings and training split."""
    inputs = {"train": file_md5(paths.real_split(dataset, "train"))}
    settings = {"gan": params.gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    return runs.RunGroup(f"{dataset}-gans", runs.fingerprint(settings, inputs, "gan-parent"), settings)


def train_class(params: Params, dataset: str, label: int, shared: Attempt | None = None,
                parent: runs.Parent | None = None) -> Attempt:
    """Train the GAN of class ``label`` on the training split; return the finished attempt.

    Given ``shared`` (the finished attempt of ``train_shared``), the class's GAN starts from the
    shared GAN's networks. A run killed mid-training leaves its last epoch checkpoint in
    ``artifacts/.resume``; the next call with the same settings and data continues from there, in
    the same MLflow run, and a class that had finished is not trained again. Its run goes under
    ``parent`` (the stage's ``gan_group``), found or made here when not given.
    """
    # Imported here, in the worker: the stage's own process never starts TensorFlow.
    from synthset.training.callbacks import (AtomicBackupAndRestore, EpochTimer, EpochToTracker, GeneratorSnapshots,
                                            StepHistory)
    from synthset.training.gan import STEP_METRICS, class_seed, steps_per_epoch, train_gan

    gan = params.gan
    train_file = paths.real_split(dataset, "train")
    images = images_of_class(train_file, label, gan.train_images_per_class)
    seed = class_seed(params.seed, label)

    inputs = {"train": file_md5(train_file)}
    settings = {"gan": gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    key = runs.fingerprint(settings, inputs, label) if shared is None else \
        runs.fingerprint(settings, inputs, label, shared.key)
    attempt = Attempt(paths.gan_work_dir(dataset, label), key)
    if attempt.is_done():
        print(f"[gan {dataset}/{label}] finished by an earlier attempt with these settings: kept", flush=True)
        return attempt
    resume_id, epochs_done = attempt.start()

    parent = parent or runs.open_group(dataset, gan_group(params, dataset))
    with runs.stage_run(dataset, stages.TRAIN_GAN, f"{dataset}-gan-class-{label}", inputs, parent=parent,
                            resume_id=resume_id, data=[lineage.real(dataset, "train", "training")],
                            label=label) as tracker:
        attempt.record(tracker.run_id)
        if epochs_done:
            _announce_resume(tracker, attempt, epochs_done, f"class {label}", f"gan {dataset}/{label}")
        tracker.log_params({**runs.flatten(settings), "label": label, "train_images": len(images)})
        if shared is not None:
            tracker.set_tags({"synthset.started_from_run": shared.run_id})

        noise = np.random.default_rng(seed).standard_normal((gan.sample_grid_size**2, gan.latent_dim)).astype("float32")
        per_epoch = steps_per_epoch(len(images), gan.batch_size)
        history = StepHistory(paths.gan_history(attempt.run_dir), STEP_METRICS, per_epoch)
        history.truncate_to(epochs_done)
        grid_path = partial(paths.sample_grid, attempt.run_dir)
        to_tracker = EpochToTracker(tracker, history, grid_path, gan.checkpoint_every, gan.epochs)
        if epochs_done and (sent := to_tracker.backfill(epochs_done)):
            print(f"[gan {dataset}/{label}] sent {sent} checkpointed epoch(s) MLflow had not received", flush=True)
        start_from = None if shared is None else paths.shared_networks(shared.done_dir)
        trained = train_gan(gan, images, seed=seed, start_from=start_from, callbacks=[
            history,
            GeneratorSnapshots(partial(paths.generator_checkpoint, attempt.run_dir), grid_path, noise,
                               gan.sample_grid_size, gan.checkpoint_every, gan.epochs),
            EpochTimer(f"gan {dataset}/{label}", gan.epochs),
            # An epoch counts as done once its checkpoint is written, after its history and
            # snapshots; only then does the tracker hear of it.
            AtomicBackupAndRestore(str(attempt.backup_dir), gan.checkpoint_every, gan.epochs, double_checkpoint=True),
            to_tracker,
        ])
        tracker.log_keras_model(trained.generator, "generator", noise[:4])
        tracker.log_artifact(paths.gan_history(attempt.run_dir))
        tracker.set_tags(lineage.generator_tags({label: attempt.run_dir}))
    attempt.complete()
    return attempt


def train_conditional(params: Params, dataset: str, labels: list[int]) -> Attempt:
    """Train one class-conditional GAN on the training images of every class in ``labels``; return
    the finished attempt, whose run directory holds a sub-directory per class (``str(label)``)
    with that class's generator checkpoints and grids, as a per-class GAN's output.

    Resumable as ``train_class``; one MLflow run, its sample grid a row per class.
    """
    # Imported here, in the worker: the stage's own process never starts TensorFlow.
    from synthset.training.callbacks import AtomicBackupAndRestore, EpochTimer, EpochToTracker, StepHistory
    from synthset.training.gan import (STEP_METRICS, ClassGeneratorSnapshots, all_classes_seed, steps_per_epoch,
                                       train_gan)

    gan = params.gan
    train_file = paths.real_split(dataset, "train")
    parts = [images_of_class(train_file, label, gan.train_images_per_class) for label in labels]
    images = np.concatenate(parts)
    indices = np.concatenate([np.full(len(part), index, np.int32) for index, part in enumerate(parts)])
    seed = all_classes_seed(params.seed)

    inputs = {"train": file_md5(train_file)}
    settings = {"gan": gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    attempt = Attempt(paths.gan_work_dir(dataset, "conditional"), runs.fingerprint(settings, inputs, labels))
    if attempt.is_done():
        print(f"[gan {dataset}/conditional] finished by an earlier attempt with these settings: kept", flush=True)
        return attempt
    resume_id, epochs_done = attempt.start()

    with runs.stage_run(dataset, stages.TRAIN_GAN, f"{dataset}-gan-conditional", inputs, resume_id=resume_id,
                            data=[lineage.real(dataset, "train", "training")], label="all") as tracker:
        attempt.record(tracker.run_id)
        if epochs_done:
            _announce_resume(tracker, attempt, epochs_done, "the conditional GAN", f"gan {dataset}/conditional")
        tracker.log_params({**runs.flatten(settings), "label": "all", "train_images": len(images)})

        noise = np.random.default_rng(seed).standard_normal((gan.sample_grid_size**2, gan.latent_dim)).astype("float32")
        history = StepHistory(paths.gan_history(attempt.run_dir), STEP_METRICS, steps_per_epoch(len(images), gan.batch_size))
        history.truncate_to(epochs_done)
        overview = partial(paths.sample_grid, attempt.run_dir)
        to_tracker = EpochToTracker(tracker, history, overview, gan.checkpoint_every, gan.epochs)
        if epochs_done and (sent := to_tracker.backfill(epochs_done)):
            print(f"[gan {dataset}/conditional] sent {sent} checkpointed epoch(s) MLflow had not received", flush=True)
        class_dir = [attempt.run_dir / str(label) for label in labels]
        trained = train_gan(gan, images, seed=seed, labels=indices, num_classes=len(labels), callbacks=[
            history,
            ClassGeneratorSnapshots(lambda index, epoch: paths.generator_checkpoint(class_dir[index], epoch),
                                    lambda index, epoch: paths.sample_grid(class_dir[index], epoch), overview,
                                    len(labels), noise, gan.sample_grid_size, gan.checkpoint_every, gan.epochs),
            EpochTimer(f"gan {dataset}/conditional", gan.epochs),
            AtomicBackupAndRestore(str(attempt.backup_dir), gan.checkpoint_every, gan.epochs, double_checkpoint=True),
            to_tracker,
        ])
        one_hot = np.eye(len(labels), dtype="float32")[np.arange(4) % len(labels)]
        tracker.log_keras_model(trained.generator, "generator", {"noise": noise[:4], "class_one_hot": one_hot})
        tracker.log_artifact(paths.gan_history(attempt.run_dir))
        for part in class_dir:  # each class's output: its checkpoints and grids, and the shared history
            shutil.copyfile(paths.gan_history(attempt.run_dir), paths.gan_history(part))
        tracker.set_tags(lineage.generator_tags(dict(zip(labels, class_dir, strict=True))))
    attempt.complete()
    return attempt


def train_shared(params: Params, dataset: str, labels: list[int], parent: runs.Parent | None = None) -> Attempt:
    """Train one GAN on the training images of every class in ``labels`` for ``gan.shared_epochs``
    (the first part of ``shared_then_per_class``); its networks, saved in the finished attempt's
    run directory (``paths.shared_networks``), are where each class's GAN starts.

    Resumable as ``train_class``; one MLflow run under the classes' ``parent``, whose sample grid
    mixes the classes.
    """
    # Imported here, in the worker: the stage's own process never starts TensorFlow.
    from synthset.training.callbacks import (AtomicBackupAndRestore, EpochTimer, EpochToTracker, GeneratorSnapshots,
                                            StepHistory)
    from synthset.training.gan import STEP_METRICS, all_classes_seed, save_networks, steps_per_epoch, train_gan

    gan = params.gan.model_copy(update={"epochs": params.gan.shared_epochs})
    train_file = paths.real_split(dataset, "train")
    images = np.concatenate([images_of_class(train_file, label, gan.train_images_per_class) for label in labels])
    seed = all_classes_seed(params.seed)

    inputs = {"train": file_md5(train_file)}
    # The shared GAN's own settings (its epochs are shared_epochs): a change to the classes'
    # fine-tune alone does not train it again.
    settings = {"gan": gan.model_dump(), "image_shape": params.data.image_shape, "seed": params.seed}
    attempt = Attempt(paths.gan_work_dir(dataset, "shared"), runs.fingerprint(settings, inputs, labels, "shared"))
    if attempt.is_done():
        print(f"[gan {dataset}/shared] finished by an earlier attempt with these settings: kept", flush=True)
        return attempt
    resume_id, epochs_done = attempt.start()

    parent = parent or runs.open_group(dataset, gan_group(params, dataset))  # the classes' parent run
    with runs.stage_run(dataset, stages.TRAIN_GAN, f"{dataset}-gan-shared", inputs, parent=parent,
                            resume_id=resume_id, data=[lineage.real(dataset, "train", "training")],
                            label="all") as tracker:
        attempt.record(tracker.run_id)
        if epochs_done:
            _announce_resume(tracker, attempt, epochs_done, "the shared GAN", f"gan {dataset}/shared")
        tracker.log_params({**runs.flatten(settings), "label": "all", "train_images": len(images)})

        noise = np.random.default_rng(seed).standard_normal((gan.sample_grid_size**2, gan.latent_dim)).astype("float32")
        history = StepHistory(paths.gan_history(attempt.run_dir), STEP_METRICS, steps_per_epoch(len(images), gan.batch_size))
        history.truncate_to(epochs_done)
        grid_path = partial(paths.sample_grid, attempt.run_dir)
        to_tracker = EpochToTracker(tracker, history, grid_path, gan.checkpoint_every, gan.epochs)
        if epochs_done and (sent := to_tracker.backfill(epochs_done)):
            print(f"[gan {dataset}/shared] sent {sent} checkpointed epoch(s) MLflow had not received", flush=True)
        trained = train_gan(gan, images, seed=seed, callbacks=[
            history,
            GeneratorSnapshots(partial(paths.generator_checkpoint, attempt.run_dir), grid_path, noise,
                               gan.sample_grid_size, gan.checkpoint_every, gan.epochs),
            EpochTimer(f"gan {dataset}/shared", gan.epochs),
            AtomicBackupAndRestore(str(attempt.backup_dir), gan.checkpoint_every, gan.epochs, double_checkpoint=True),
            to_tracker,
        ])
        save_networks(trained.model, paths.shared_networks(attempt.run_dir))
        tracker.log_keras_model(trained.generator, "generator", noise[:4])
        tracker.log_artifact(paths.gan_history(attempt.run_dir))
    attempt.complete()
    return attempt
