"""Side effects of training (history files, MLflow, sample grids, checkpoints) as Keras callbacks."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import keras
import numpy as np

from synthset import paths
from synthset.datasets import from_tanh_range
from synthset.imaging import image_grid, save_png


class StepHistory(keras.callbacks.Callback):
    """Per-step values returned by ``train_step``, appended to a CSV and sent to the tracker each epoch.

    Rows are buffered within an epoch and written at its end, in step with the epoch checkpoints:
    after an interrupted run resumes, the file holds exactly the steps of the completed epochs.
    """

    def __init__(self, path: Path, tracker, keys: list[str], steps_per_epoch: int):
        super().__init__()
        self.path, self.tracker, self.keys, self.steps_per_epoch = Path(path), tracker, keys, steps_per_epoch
        self.rows: list[dict] = []
        self.epoch = 0

    def truncate_to(self, epochs_done: int) -> None:
        """Drop rows of epochs that were interrupted before their checkpoint."""
        if not self.path.exists():
            return
        with self.path.open() as handle:
            kept = [row for row in csv.DictReader(handle) if int(row["epoch"]) < epochs_done]
        self._write(kept, mode="w")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.rows = epoch, []

    def on_train_batch_end(self, batch, logs=None):
        step = self.epoch * self.steps_per_epoch + batch
        self.rows.append({"step": step, "epoch": self.epoch, **{k: float(logs[k]) for k in self.keys}})

    def on_epoch_end(self, epoch, logs=None):
        self._write(self.rows, mode="a")
        self.tracker.log_step_metrics(self.rows, self.keys)

    def _write(self, rows, mode):
        new_file = mode == "w" or not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open(mode, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "epoch", *self.keys])
            if new_file:
                writer.writeheader()
            writer.writerows(rows)


class GeneratorSnapshots(keras.callbacks.Callback):
    """Each epoch: save the generator and a grid of images from fixed noise (the paper's Figures 3 and 5)."""

    def __init__(self, run_dir: Path, noise: np.ndarray, grid_size: int, tracker):
        super().__init__()
        self.run_dir, self.noise, self.grid_size, self.tracker = Path(run_dir), noise, grid_size, tracker

    def on_epoch_end(self, epoch, logs=None):
        generator = self.model.generator
        number = epoch + 1
        generator.save(_fresh(paths.generator_checkpoint(self.run_dir, number)))
        images = from_tanh_range(generator(self.noise, training=False))
        grid = image_grid(images, self.grid_size)
        save_png(grid, _fresh(paths.sample_grid(self.run_dir, number)))
        self.tracker.log_image(grid, key="samples", step=number)


class EpochTimer(keras.callbacks.Callback):
    """One progress line per epoch for logs that are files, not terminals."""

    def __init__(self, label: str, epochs: int, tracker=None):
        super().__init__()
        self.label, self.epochs, self.tracker = label, epochs, tracker

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        seconds = time.perf_counter() - self.started
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items())
        print(f"[{self.label}] epoch {epoch + 1}/{self.epochs} in {seconds:.1f}s: {shown}", flush=True)
        if self.tracker is not None:
            self.tracker.log_metrics({"epoch_seconds": seconds}, step=epoch + 1)


def _fresh(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
