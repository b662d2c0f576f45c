"""A GAN run killed mid-training resumes from its last epoch checkpoint, in the same MLflow run."""

import json
import os
import signal
import subprocess
import sys
import time

import mlflow
import numpy as np
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


def _history_of_an_interrupted_run(directory):
    """A step history of 2 steps per epoch whose epochs 0-2 were checkpointed (epoch 3 was cut off
    before its checkpoint) and a sample grid per epoch: d_loss of step (epoch, batch) is epoch + batch / 10."""
    import numpy as np

    from synthset.imaging import save_png
    from synthset.training.callbacks import StepHistory

    history = StepHistory(directory / "history.csv", ["d_loss"], steps_per_epoch=2)
    for epoch in range(4):
        history.on_epoch_begin(epoch)
        for batch in range(2):
            history.on_train_batch_end(batch, {"d_loss": epoch + batch / 10})
        history.on_epoch_end(epoch)
        save_png(np.zeros((4, 4), np.uint8), paths.sample_grid(directory, epoch + 1))
    history.truncate_to(3)
    return history


def _logged(run_id):
    """(step, d_loss) of every value the store holds, and the steps of the sample images it holds."""
    client = mlflow.MlflowClient()
    metrics = sorted((m.step, round(m.value, 6)) for m in client.get_metric_history(run_id, "d_loss"))
    images = sorted(int(a.path.split("+")[2]) for a in client.list_artifacts(run_id, "images")
                    if a.path.endswith(".png"))  # images/samples+step+<step>+timestamp+...png
    return metrics, images


def test_backfill_sends_checkpointed_epochs_the_tracker_missed(project):
    """A kill between an epoch's checkpoint and its tracker call loses nothing on resume: against a
    real SQLite MLflow store, the run that had received epoch 0 (steps 0 and 1) gets epochs 1 and 2
    (steps 2-5, grids 2 and 3) once, and a second backfill sends nothing."""
    from synthset.tracking import runs, store
    from synthset.training.callbacks import EpochToTracker

    history = _history_of_an_interrupted_run(project / "run")
    grid_path = lambda epoch: paths.sample_grid(project / "run", epoch)  # noqa: E731
    all_steps = [(0, 0.0), (1, 0.1), (2, 1.0), (3, 1.1), (4, 2.0), (5, 2.1)]
    store.connect()
    experiment_id, _ = store.experiment("synthset-test")

    with runs.run(experiment_id, "saw-epoch-0", None, None, {}) as tracker:
        tracker.log_step_metrics(history.read(before_epoch=1), ["d_loss"])  # the interrupted attempt's epoch 0
        assert EpochToTracker(tracker, history, grid_path).backfill(epochs_done=3) == 2
        assert _logged(tracker.run_id) == (all_steps, [2, 3])
        assert EpochToTracker(tracker, history, grid_path).backfill(epochs_done=3) == 0
        assert _logged(tracker.run_id) == (all_steps, [2, 3])  # nothing sent twice

    with runs.run(experiment_id, "saw-nothing", None, None, {}) as tracker:  # killed before epoch 0 reached MLflow
        assert EpochToTracker(tracker, history, grid_path).backfill(epochs_done=3) == 3
        assert _logged(tracker.run_id) == (all_steps, [1, 2, 3])


def test_classes_finished_before_an_interruption_are_kept_not_retrained(project, capfd, monkeypatch):
    """The GAN stage killed after class 0 finished: the re-run keeps class 0 and trains class 1."""
    from synthset import config

    monkeypatch.setenv("SYNTHSET_WORKERS", "1")  # one spawned worker (a TensorFlow import) does both classes
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    stage.train(params, "mnist", stage.ClassGan(0))  # class 0 finished; the stage died before moving it into its output
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


def _set_gan(project, **settings):
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"]["tiny"]["mnist"]["gan"].update(settings)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))


class _Stop(KeyboardInterrupt):
    """What a SIGTERM becomes in a training (runs.run turns it into a KILLED run)."""


@pytest.fixture
def training_watch(monkeypatch):
    """Each training's epochs as begun, with what the sampler (class 0's view for a conditional
    GAN) makes of fixed noise at the first of them; ``stop_after(n)`` ends the next training like a
    SIGTERM right after epoch n's checkpoint and tracker call, ``stop_after(None)`` lets it finish."""
    import numpy as np

    from synthset.models.gan import class_generator
    from synthset.training.callbacks import EpochTimer, EpochToTracker

    noise = np.random.default_rng(0).standard_normal((2, 100)).astype("float32")

    class Watch:
        begun, first_images, stop = [], [], None

        def stop_after(self, epochs):
            self.stop, self.begun, self.first_images = epochs, [], []

    watch = Watch()
    send, begin = EpochToTracker.on_epoch_end, EpochTimer.on_epoch_begin

    def send_then_stop(self, epoch, logs=None):
        send(self, epoch, logs)
        if watch.stop == epoch + 1:
            raise _Stop(f"stopped after epoch {epoch + 1}")

    def record_begin(self, epoch, logs=None):
        if not watch.begun:
            sampler = self.model.sampler
            view = class_generator(sampler, 0) if self.model.num_classes else sampler
            watch.first_images.append(np.asarray(view(noise, training=False)))
        watch.begun.append(epoch)
        begin(self, epoch, logs)

    monkeypatch.setattr(EpochToTracker, "on_epoch_end", send_then_stop)
    monkeypatch.setattr(EpochTimer, "on_epoch_begin", record_begin)
    watch.noise = noise
    return watch


def _gan_runs(label):
    client = mlflow.MlflowClient()
    return client.search_runs([client.get_experiment_by_name("synthset-mnist").experiment_id],
                              filter_string=f"tags.`synthset.label` = '{label}'", order_by=["attributes.start_time"])


@pytest.mark.parametrize("change", ["settings", "data"])
def test_changing_a_classs_settings_or_data_starts_it_afresh(project, capfd, training_watch, change):
    """Class 3 (16 images) stopped after 1 of 2 epochs; then its settings (batch size 16 -> 8) or
    its training images change. The next attempt must not load the stale checkpoint: it starts at
    epoch 0, step 0, in a new MLflow run, and its history holds its own 2 epochs only (2 steps each
    at batch size 8, where the stale one had 1 at 16)."""
    from synthset import config
    from synthset.data.archives import load_images, save_images
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    _set_gan(project, epochs=2, train_images_per_class=16, batch_size=16 if change == "settings" else 8)
    prepare(config.load(dataset="mnist"), "mnist")
    training_watch.stop_after(1)
    with pytest.raises(_Stop):
        stage.train(config.load(dataset="mnist"), "mnist", stage.ClassGan(3))
    metadata = paths.gan_work_dir("mnist", 3) / "backup" / "training_metadata.json"
    assert json.loads(metadata.read_text())["epoch"] == 1 and training_watch.begun == [0]

    if change == "settings":
        _set_gan(project, batch_size=8)
    else:  # one training image of class 3 altered
        images, labels = load_images(paths.real_split("mnist", "train"))
        images[np.flatnonzero(labels == 3)[0]] //= 2
        save_images(paths.real_split("mnist", "train"), images, labels)
    capfd.readouterr()
    training_watch.stop_after(None)
    attempt = stage.train(config.load(dataset="mnist"), "mnist", stage.ClassGan(3))

    assert "resuming" not in capfd.readouterr().out
    assert training_watch.begun == [0, 1]
    history = pd.read_csv(paths.gan_history(attempt.done_dir))
    assert list(history["step"]) == [0, 1, 2, 3] and list(history["epoch"]) == [0, 0, 1, 1]
    killed, fresh = _gan_runs(3)
    assert (killed.info.status, fresh.info.status) == ("KILLED", "FINISHED")
    assert "synthset.resumed_from_epoch" not in fresh.data.tags
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(fresh.info.run_id, "d_loss")]
    assert sorted(steps) == [0, 1, 2, 3]


def test_a_conditional_gan_resumes_from_its_checkpoint_at_the_epoch_it_reached(project, capfd, training_watch):
    """The conditional GAN of classes 0 and 1 (2 x 16 images, 2 steps an epoch) stopped after 2 of 3
    epochs: the next attempt continues the same MLflow run from the epoch-2 checkpoint (its first
    epoch is epoch index 2, its sampler the one saved at epoch 2), not from zero, and every step is
    logged once."""
    import keras
    import numpy as np

    from synthset import config
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"][raw["scale"]]["mnist"]["gan"]["kind"] = "conditional"  # its place: per scale
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    _set_gan(project, epochs=3, train_images_per_class=16)
    params = config.load(dataset="mnist")
    prepare(params, "mnist")

    training_watch.stop_after(2)
    with pytest.raises(_Stop):
        stage.train(params, "mnist", stage.ConditionalGan([0, 1]))
    assert training_watch.begun == [0, 1]
    capfd.readouterr()
    training_watch.stop_after(None)
    attempt = stage.train(params, "mnist", stage.ConditionalGan([0, 1]))

    work_dir = paths.gan_work_dir("mnist", "conditional")
    assert f"resuming the conditional GAN from its epoch 2 checkpoint ({work_dir})" in capfd.readouterr().out
    assert training_watch.begun == [2]
    saved = keras.saving.load_model(paths.generator_checkpoint(attempt.done_dir / "0", 2), compile=False)
    np.testing.assert_allclose(training_watch.first_images[0], saved(training_watch.noise, training=False), atol=1e-6)
    history = pd.read_csv(paths.gan_history(attempt.done_dir))
    assert list(history["step"]) == list(range(6)) and list(history["epoch"]) == [0, 0, 1, 1, 2, 2]
    [run] = _gan_runs("all")
    assert run.info.status == "FINISHED" and run.data.tags["synthset.resumed_from_epoch"] == "2"
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "d_loss")]
    assert sorted(steps) == list(range(6))


def test_a_shared_gan_resumes_and_each_class_starts_from_it(project, capfd, training_watch):
    """`gan.kind: shared_then_per_class` on classes 0 and 1 (2 x 16 images): the shared GAN (2 steps
    an epoch) stopped after 1 of 2 epochs resumes from its checkpoint; class 0's GAN then begins
    where the shared one ended (its sampler's first images are the shared sampler's last), in a run
    tagged with the shared run, and trains its own epochs (1 step each). A change to the classes'
    epochs alone keeps the shared GAN; a change to shared_epochs starts the class afresh."""
    import keras
    import numpy as np

    from synthset import config
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"][raw["scale"]]["mnist"]["gan"]["kind"] = "shared_then_per_class"  # its place: per scale
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    _set_gan(project, epochs=3, shared_epochs=2, train_images_per_class=16)
    params = config.load(dataset="mnist")
    prepare(params, "mnist")

    training_watch.stop_after(1)
    with pytest.raises(_Stop):
        stage.train(params, "mnist", stage.SharedGan([0, 1]))
    capfd.readouterr()
    training_watch.stop_after(None)
    shared = stage.train(params, "mnist", stage.SharedGan([0, 1]))
    assert "resuming the shared GAN from its epoch 1 checkpoint" in capfd.readouterr().out
    assert training_watch.begun == [1]
    history = pd.read_csv(paths.gan_history(shared.done_dir))
    assert list(history["epoch"]) == [0, 0, 1, 1]  # 32 images, batch 16
    shared_sampler = keras.saving.load_model(paths.generator_checkpoint(shared.done_dir, 2), compile=False)

    training_watch.stop_after(None)
    attempt = stage.train(params, "mnist", stage.ClassGan(0, shared))
    assert training_watch.begun == [0, 1, 2]
    np.testing.assert_allclose(training_watch.first_images[0], shared_sampler(training_watch.noise, training=False),
                               atol=1e-5)
    assert list(pd.read_csv(paths.gan_history(attempt.done_dir))["epoch"]) == [0, 1, 2]  # 16 images, batch 16
    [shared_run] = _gan_runs("all")
    [class_run] = _gan_runs(0)
    assert shared_run.info.run_name == "mnist-gan-shared" and shared_run.info.status == "FINISHED"
    assert class_run.data.tags["synthset.started_from_run"] == shared_run.info.run_id

    _set_gan(project, epochs=2)
    capfd.readouterr()
    assert stage.train(config.load(dataset="mnist"), "mnist", stage.SharedGan([0, 1])).key == shared.key
    assert "[gan mnist/shared] finished by an earlier attempt with these settings: kept" in capfd.readouterr().out
    _set_gan(project, shared_epochs=1)
    assert stage.train(config.load(dataset="mnist"), "mnist", stage.SharedGan([0, 1])).key != shared.key


def test_a_gan_checkpointed_every_other_epoch_resumes_from_its_last_checkpoint(project, capfd, training_watch):
    """Class 3 (16 images, 1 step an epoch) with checkpoint_every 2 of 5 epochs, stopped after epoch 3:
    epoch 3 had no checkpoint and the tracker had not heard of it, so the next attempt resumes from
    epoch 2, trains epochs 3-5 again, and MLflow and the history hold every step once."""
    from synthset import config
    from synthset.stages import train_gan as stage
    from synthset.stages.prepare import run as prepare

    _set_gan(project, epochs=5, checkpoint_every=2, train_images_per_class=16)
    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    training_watch.stop_after(3)
    with pytest.raises(_Stop):
        stage.train(params, "mnist", stage.ClassGan(3))
    [killed] = _gan_runs(3)
    assert sorted(m.step for m in mlflow.MlflowClient().get_metric_history(killed.info.run_id, "d_loss")) == [0, 1]
    capfd.readouterr()
    training_watch.stop_after(None)
    attempt = stage.train(params, "mnist", stage.ClassGan(3))

    assert "resuming class 3 from its epoch 2 checkpoint" in capfd.readouterr().out
    assert training_watch.begun == [2, 3, 4]
    assert list(pd.read_csv(paths.gan_history(attempt.done_dir))["epoch"]) == [0, 1, 2, 3, 4]
    assert sorted(path.name for path in (attempt.done_dir / "checkpoints").iterdir()) == [
        "generator_epoch_002.keras", "generator_epoch_004.keras", "generator_epoch_005.keras"]
    [run] = _gan_runs(3)
    assert sorted(m.step for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, "d_loss")) == [0, 1, 2, 3, 4]
