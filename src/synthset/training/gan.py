"""Train one class's GAN, resumably, with every step and epoch tracked."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from synthset import paths, tracking
from synthset.config import GanParams, Params
from synthset.datasets import images_of_class, to_tanh_range
from synthset.models.gan import GAN, build_discriminator, build_generator
from synthset.training.callbacks import (AtomicBackupAndRestore, EpochTimer, EpochToTracker, GeneratorSnapshots,
                                        StepHistory)
from synthset.versions import file_md5

STEP_METRICS = ["d_loss", "g_loss", "d_acc_real", "d_acc_fake"]


def build_optimizers(gan: GanParams) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(discriminator, generator) optimizers: Adam as the paper settled on, or its RMSprop try.

    Keras 2's ``decay`` (lr / (1 + decay * step)) is ``InverseTimeDecay`` with one decay step.
    """
    if gan.optimizer == "adam":
        a = gan.adam
        return tuple(keras.optimizers.Adam(a.learning_rate, beta_1=a.beta_1, beta_2=a.beta_2) for _ in range(2))

    def rmsprop(rates):
        schedule = keras.optimizers.schedules.InverseTimeDecay(rates.learning_rate, decay_steps=1, decay_rate=rates.decay)
        return keras.optimizers.RMSprop(schedule)

    return rmsprop(gan.rmsprop.discriminator), rmsprop(gan.rmsprop.generator)


def build_gan(gan: GanParams, image_shape: tuple[int, int, int], seed: int) -> GAN:
    g, d = gan.generator, gan.discriminator
    generator = build_generator(
        latent_dim=gan.latent_dim, image_shape=image_shape, base_size=g.base_size, base_filters=g.base_filters,
        filters=g.filters, kernel_size=g.kernel_size, dropout=g.dropout, bn_momentum=g.bn_momentum,
    )
    discriminator = build_discriminator(
        image_shape=image_shape, filters=d.filters, strides=d.strides, kernel_size=d.kernel_size,
        dropout=d.dropout, leaky_relu_slope=d.leaky_relu_slope,
    )
    model = GAN(generator, discriminator, latent_dim=gan.latent_dim, seed=seed)
    d_optimizer, g_optimizer = build_optimizers(gan)
    model.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer, jit_compile=gan.jit_compile)
    return model


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


def train_gans(params: Params, dataset: str, labels: list[int]) -> list[Path]:
    """Train the GAN of each class in ``labels``, one after the other in this process (one
    TensorFlow start-up and one XLA compile for all), then move them into the stage's output."""
    attempts = [train_gan(params, dataset, label) for label in labels]
    outputs = []
    for label, attempt in zip(labels, attempts, strict=True):
        attempt.finish(paths.gan_dir(dataset, label))
        outputs.append(paths.gan_dir(dataset, label))
    return outputs


def train_gan(params: Params, dataset: str, label: int) -> Attempt:
    """Train the GAN of class ``label`` on the training split; return the finished attempt.

    A run killed mid-training leaves its last epoch checkpoint in ``artifacts/.resume``; the next
    call with the same settings and data continues from there, in the same MLflow run, and a class
    that had finished is not trained again.
    """
    gan = params.gan
    train_file = paths.real_split(dataset, "train")
    images = images_of_class(train_file, label, gan.train_images_per_class)
    image_shape = params.data.image_shape
    seed = params.seed * 1000 + label
    keras.backend.clear_session()  # each class starts from the same state as in a process of its own
    keras.utils.set_random_seed(seed)

    inputs = {"train": file_md5(train_file)}
    settings = {"gan": gan.model_dump(), "image_shape": image_shape, "seed": params.seed}
    attempt = Attempt(paths.gan_work_dir(dataset, label), tracking.fingerprint(settings, inputs, label))
    if attempt.is_done():
        print(f"[gan {dataset}/{label}] finished by an earlier attempt with these settings: kept", flush=True)
        return attempt
    resume_id, epochs_done = attempt.start()

    tracking.connect()
    parent_id, experiment_id = tracking.parent_run(
        experiment=f"synthset-{dataset}", name=f"{dataset}-gans",
        key=tracking.fingerprint(settings, inputs, "gan-parent"), params=settings,
    )
    tags = {**tracking.base_tags(inputs), "synthset.stage": "train_gan", "synthset.dataset": dataset,
            "synthset.label": str(label)}
    with tracking.run(experiment_id, f"{dataset}-gan-class-{label}", parent_id, resume_id, tags) as tracker:
        attempt.record(tracker.run_id)
        if epochs_done:
            message = f"resuming class {label} from its epoch {epochs_done} checkpoint ({attempt.work_dir})"
            print(f"[gan {dataset}/{label}] {message}", flush=True)
            tracker.set_tags({"synthset.resumed_from_epoch": epochs_done})
            tracker.log_text(message, f"resume_after_epoch_{epochs_done}.txt")
        tracker.log_params({**tracking.flatten(settings), "label": label, "train_images": len(images)})

        model = build_gan(gan, image_shape, seed)
        model.build(images[:1].shape)
        noise = np.random.default_rng(seed).standard_normal((gan.sample_grid_size**2, gan.latent_dim)).astype("float32")
        dataset_tf = _batches(images, gan.batch_size, seed)
        history = StepHistory(paths.gan_history(attempt.run_dir), STEP_METRICS, int(dataset_tf.cardinality()))
        history.truncate_to(epochs_done)
        to_tracker = EpochToTracker(tracker, history, attempt.run_dir)
        if epochs_done and (sent := to_tracker.backfill(epochs_done)):
            print(f"[gan {dataset}/{label}] sent {sent} checkpointed epoch(s) MLflow had not received", flush=True)
        model.fit(
            dataset_tf,
            epochs=gan.epochs,
            shuffle=False,  # the tf.data pipeline shuffles
            verbose=0,
            callbacks=[
                history,
                GeneratorSnapshots(attempt.run_dir, noise, gan.sample_grid_size, gan.checkpoint_every, gan.epochs),
                EpochTimer(f"gan {dataset}/{label}", gan.epochs),
                # An epoch counts as done once its checkpoint is written, after its history and
                # snapshots; only then does the tracker hear of it.
                AtomicBackupAndRestore(str(attempt.backup_dir), double_checkpoint=True),
                to_tracker,
            ],
        )
        tracker.log_keras_model(model.generator, "generator", noise[:4])
        tracker.log_artifact(paths.gan_history(attempt.run_dir))
    attempt.complete()
    return attempt


def _batches(images: np.ndarray, batch_size: int, seed: int):
    import tensorflow as tf

    return (
        tf.data.Dataset.from_tensor_slices(to_tanh_range(images))
        .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size, drop_remainder=len(images) >= batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
