"""A GAN run killed mid-training resumes from its last epoch checkpoint, in the same MLflow run."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import pandas as pd
import pytest
import yaml

from synthset import paths


def _slow_tiny(project, epochs=40, images=256):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"]["tiny"]["mnist"]["gan"].update(epochs=epochs, train_images_per_class=images)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))


def _train(label=3):
    return subprocess.Popen([sys.executable, "-m", "synthset", "train-gan", "mnist", str(label)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


@pytest.mark.faults  # a real SIGTERM mid-training: the fault suite
def test_killed_run_resumes_where_it_stopped(project):
    from synthset import config
    from synthset.stages.prepare import run as prepare

    _slow_tiny(project)
    prepare(config.load(dataset="mnist"), "mnist")
    metadata = paths.gan_work_dir("mnist", 3) / "backup" / "training_metadata.json"

    first = _train()
    deadline = time.time() + 240
    while not (metadata.exists() and json.loads(metadata.read_text())["epoch"] >= 2):
        assert first.poll() is None, first.stdout.read()
        assert time.time() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    first_log = first.communicate(timeout=120)[0]
    assert first.returncode != 0, first_log
    assert not paths.gan_dir("mnist", 3).exists()  # nothing half-done under the output's name
    epochs_done = json.loads(metadata.read_text())["epoch"]

    second = _train()
    second_log = second.communicate(timeout=600)[0]
    assert second.returncode == 0, second_log
    assert f"resuming class 3 from its epoch {epochs_done} checkpoint" in second_log

    out = paths.gan_dir("mnist", 3)
    history = pd.read_csv(paths.gan_history(out))
    assert list(history["epoch"].unique()) == list(range(40))  # every epoch once, none repeated
    assert history["step"].is_unique
    assert len(list((out / "checkpoints").glob("*.keras"))) == 40
    assert not paths.gan_work_dir("mnist", 3).exists()

    client = mlflow.MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    runs = client.search_runs(
        [client.get_experiment_by_name("synthset-mnist").experiment_id],
        filter_string="tags.`synthset.label` = '3'",
    )
    assert len(runs) == 1, "the resumed attempt continues the interrupted run"
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["synthset.resumed_from_epoch"] == str(epochs_done)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
    assert len(steps) == len(history)  # no duplicate steps from the interrupted epoch


class _RecordingTracker:
    def __init__(self, last_step):
        self.last, self.images, self.rows = last_step, [], []

    def last_step(self, key):
        return self.last

    def log_image(self, image, key, step):
        self.images.append(step)

    def log_step_metrics(self, rows, keys):
        self.rows.extend(rows)


def test_backfill_sends_checkpointed_epochs_the_tracker_missed(tmp_path):
    """A kill between an epoch's checkpoint and its tracker call loses nothing on resume."""
    import numpy as np

    from synthset.imaging import save_png
    from synthset.training.callbacks import EpochToTracker, StepHistory

    history = StepHistory(tmp_path / "history.csv", ["d_loss"], steps_per_epoch=2)
    for epoch in range(4):  # epoch 3 was interrupted before its checkpoint
        history.on_epoch_begin(epoch)
        for batch in range(2):
            history.on_train_batch_end(batch, {"d_loss": epoch + batch / 10})
        history.on_epoch_end(epoch)
        save_png(np.zeros((4, 4), np.uint8), paths.sample_grid(tmp_path, epoch + 1))
    history.truncate_to(3)
    tracker = _RecordingTracker(last_step=1)  # saw epoch 0 only

    grid_path = lambda epoch: paths.sample_grid(tmp_path, epoch)  # noqa: E731
    assert EpochToTracker(tracker, history, grid_path).backfill(epochs_done=3) == 2
    assert [row["step"] for row in tracker.rows] == [2, 3, 4, 5]
    assert tracker.images == [2, 3]
    assert EpochToTracker(_RecordingTracker(last_step=5), history, grid_path).backfill(epochs_done=3) == 0


def test_classes_finished_before_an_interruption_are_kept_not_retrained(project, capfd):
    """The GAN stage killed after class 0 finished: the re-run keeps class 0 and trains class 1."""
    from synthset import config
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    stage.train_class(params, "mnist", 0)  # class 0 finished; the stage died before moving it into its output
    assert not paths.gan_dir("mnist", 0).exists()

    outputs = stage.run(params, "mnist", [0, 1])

    assert "[gan mnist/0] finished by an earlier attempt with these settings: kept" in capfd.readouterr().out
    assert outputs == [paths.gan_dir("mnist", 0), paths.gan_dir("mnist", 1)]
    assert all((out / "history.csv").exists() for out in outputs)
    assert not paths.gan_work_dir("mnist", 0).exists() and not paths.gan_work_dir("mnist", 1).exists()
    client = mlflow.MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("synthset-mnist").experiment_id],
                              filter_string="tags.`synthset.stage` = 'train_gan'")
    assert sorted(r.data.tags["synthset.label"] for r in runs) == ["0", "1"]  # one run per class, none repeated


def _tiny_model():
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


def test_a_kill_while_the_checkpoint_is_written_leaves_the_last_complete_epoch(tmp_path, monkeypatch):
    """Keras writes its weights file in place; a SIGTERM during the write once left a half-written
    file that the resumed run could not load (and that did not trigger Keras's fall-back)."""
    import numpy as np

    from synthset.training.callbacks import AtomicBackupAndRestore

    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 1))

    def backup():
        return AtomicBackupAndRestore(str(tmp_path / "backup"), double_checkpoint=True, delete_checkpoint=False)

    model = _tiny_model()
    model.fit(x, y, epochs=2, verbose=0, callbacks=[backup()])
    after_two = [w.copy() for w in model.get_weights()]

    def killed_mid_write(filepath, overwrite=True):
        import h5py

        h5py.File(filepath, "w").close()  # a valid HDF5 file with no weights in it yet
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "save_weights", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[backup()])

    resumed = _tiny_model()
    resumed.build((None, 4))
    callback = backup()
    callback.set_model(resumed)
    callback.on_train_begin()
    assert resumed._initial_epoch == 2
    for restored, saved in zip(resumed.get_weights(), after_two, strict=True):
        np.testing.assert_array_equal(restored, saved)
