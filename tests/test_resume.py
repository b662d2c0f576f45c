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
    raw["scales"]["tiny"]["gan"].update(epochs=epochs, train_images_per_class=images)
    (project / "params.yaml").write_text(yaml.safe_dump(raw))


def _train(label=3):
    return subprocess.Popen([sys.executable, "-m", "synthset", "train-gan", "mnist", str(label)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy())


def test_killed_run_resumes_where_it_stopped(project):
    from synthset import config
    from synthset.prepare import prepare_mnist

    _slow_tiny(project)
    prepare_mnist(config.load())
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

    client = mlflow.MlflowClient()
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
