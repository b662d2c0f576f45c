"""Side effects of training (history files, MLflow, sample grids, checkpoints) as Keras callbacks."""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
from PIL import Image

from synthset.data.archives import from_tanh_range
from synthset.imaging import image_grid, save_png
from synthset.io import names_a_full_disk, save_model, write_atomically


class StepHistory(keras.callbacks.Callback):
    """Per-step values returned by ``train_step``: kept in ``all_rows`` and, given a ``path``,
    appended to a CSV at the end of each epoch.

    Rows are buffered within an epoch and written at its end, in step with the epoch checkpoints:
    after an interrupted run resumes, the file holds exactly the steps of the completed epochs.
    """

    def __init__(self, path: Path | None, keys: list[str], steps_per_epoch: int):
        super().__init__()
        self.path, self.keys, self.steps_per_epoch = (Path(path) if path else None), keys, steps_per_epoch
        self.rows: list[dict] = []
        self.all_rows: list[dict] = []
        self.epoch = 0

    def truncate_to(self, epochs_done: int) -> None:
        """Drop rows of epochs that were interrupted before their checkpoint."""
        self._write(self.read(before_epoch=epochs_done), mode="w")

    def read(self, before_epoch: int | None = None) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        with self.path.open() as handle:
            rows = [{"step": int(r["step"]), "epoch": int(r["epoch"]), **{k: float(r[k]) for k in self.keys}}
                    for r in csv.DictReader(handle)]
        return [r for r in rows if before_epoch is None or r["epoch"] < before_epoch]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.rows = epoch, []

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        row = {"step": step, "epoch": self.epoch, **{k: float(logs[k]) for k in self.keys}}
        self.rows.append(row)
        self.all_rows.append(row)

    def on_epoch_end(self, epoch, logs=None):
        self._write(self.rows, mode="a")

    def _write(self, rows, mode):
        if self.path is None:
            return
        new_file = mode == "w" or not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open(mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "epoch", *self.keys])
            if new_file:
                writer.writeheader()
            writer.writerows(rows)


class GeneratorSnapshots(keras.callbacks.Callback):
    """Every ``every`` epochs and at the last: the generator, a candidate for epoch selection, and a
    grid of images from fixed noise (the paper's Figures 3 and 5), at the paths the caller names
    for an epoch number."""

    def __init__(self, checkpoint_path: Callable[[int], Path], grid_path: Callable[[int], Path], noise: np.ndarray,
                 grid_size: int, every: int, epochs: int):
        super().__init__()
        self.checkpoint_path, self.grid_path, self.noise, self.grid_size = checkpoint_path, grid_path, noise, grid_size
        self.every, self.epochs = every, epochs

    def on_epoch_end(self, epoch, logs=None):
        generator = self.model.sampler
        number = epoch + 1
        if is_checkpoint_epoch(epoch, self.every, self.epochs):  # a kept epoch: its generator and its grid
            save_model(generator, self.checkpoint_path(number))
            images = from_tanh_range(generator(self.noise, training=False))
            save_png(image_grid(images, self.grid_size), fresh_path(self.grid_path(number)))


class EpochToTracker(keras.callbacks.Callback):
    """Send finished epochs' step metrics and sample grids to the tracker, at each checkpoint.

    Placed after the checkpoint callback and sending at the same epochs (every ``every`` and the
    last of ``epochs``), so the tracker only ever sees epochs that a resumed run will not repeat;
    ``backfill`` sends the epochs a kill caught between checkpoint and tracker.
    """

    def __init__(self, tracker, history: StepHistory, grid_path: Callable[[int], Path], every: int = 1,
                 epochs: int | None = None):
        super().__init__()
        self.tracker, self.history, self.grid_path = tracker, history, grid_path
        self.every, self.epochs = every, epochs
        self.unsent: list[tuple[int, list[dict]]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.unsent.append((epoch, self.history.rows))
        if is_checkpoint_epoch(epoch, self.every, self.epochs):
            for finished, rows in self.unsent:
                self._send(finished, rows)
            self.unsent = []

    def backfill(self, epochs_done: int) -> int:
        """Send completed epochs the tracker has not seen; return how many there were."""
        last_step = self.tracker.last_step(self.history.keys[0])
        missing = [row for row in self.history.read(before_epoch=epochs_done) if row["step"] > last_step]
        epochs = sorted({row["epoch"] for row in missing})
        for epoch in epochs:
            self._send(epoch, [row for row in missing if row["epoch"] == epoch])
        return len(epochs)

    def _send(self, epoch: int, rows: list[dict]) -> None:
        number = epoch + 1
        grid = self.grid_path(number)
        if grid.exists():
            self.tracker.log_image(np.asarray(Image.open(grid)), key="samples", step=number)
        self.tracker.log_step_metrics(rows, self.history.keys)


class MetricsToTracker(keras.callbacks.Callback):
    """Keras's per-epoch logs (loss, accuracy, val_*) to the tracker, one step per epoch."""

    def __init__(self, tracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch, logs=None):
        self.tracker.log_metrics(logs or {}, step=epoch + 1)


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras's ``BackupAndRestore`` whose checkpoint files only ever appear complete.

    Keras writes the weights file in place: a SIGTERM or Ctrl-C during the write leaves a
    half-written HDF5 file that neither loads nor triggers the fall-back to the previous
    checkpoint (that only catches ``OSError``), so the resumed run crashed. Here the weights are
    written beside it and renamed, then the epoch record, so a kill leaves the last complete epoch.
    Overrides Keras 3's ``_save_model`` (its attribute names are pinned by the keras<4 bound).
    """

    def __init__(self, backup_dir: str, every: int = 1, epochs: int | None = None, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.every, self.epochs = every, epochs

    def on_epoch_end(self, epoch, logs=None):
        # Every ``every`` epochs and at the last: a short class of a few steps an epoch would
        # otherwise spend more time writing its checkpoint than training.
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if is_checkpoint_epoch(epoch, self.every, self.epochs):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint:
            for current, previous in ((self._weights_path, self._prev_weights_path),
                                      (self._training_metadata_path, self._prev_training_metadata_path)):
                if os.path.exists(current):
                    with write_atomically(Path(previous)) as partial:
                        shutil.copyfile(current, partial)
        partial_weights = os.path.join(self.backup_dir, "partial.weights.h5")  # Keras needs the suffix
        try:
            with names_a_full_disk(Path(self._weights_path)):
                self.model.save_weights(filepath=partial_weights, overwrite=True)
        except BaseException:
            Path(partial_weights).unlink(missing_ok=True)
            raise
        os.replace(partial_weights, self._weights_path)
        with write_atomically(Path(self._training_metadata_path)) as partial:
            partial.write_text(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))


class StopAfterSteps(keras.callbacks.Callback):
    """End ``fit()`` after ``steps`` training steps, mid-epoch if need be: a step budget makes runs
    with other batch sizes or datasets comparable (the sweep's trials)."""

    def __init__(self, steps: int):
        super().__init__()
        self.steps, self.done = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done >= self.steps:
            self.model.stop_training = True


class EpochTimer(keras.callbacks.Callback):
    """One progress line per epoch for logs that are files, not terminals."""

    def __init__(self, label: str, epochs: int):
        super().__init__()
        self.label, self.epochs = label, epochs

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        print(f"[{self.label}] epoch {epoch + 1}/{self.epochs} in {seconds:.1f}s: {shown}", flush=True)


def is_checkpoint_epoch(epoch: int, every: int, epochs: int | None) -> bool:
    """Whether epoch index ``epoch`` ends with a checkpoint: every ``every`` epochs and the last."""
    return (epoch + 1) % every == 0 or epoch + 1 == epochs


def fresh_path(path: Path) -> Path:
    """``path``, its directory created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
