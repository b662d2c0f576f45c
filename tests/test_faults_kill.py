"""Faults of the processes: SIGKILL of `dvc repro` during GAN training and during generation, and
two `dvc repro` at once in one checkout (`bash scripts/test.sh -m faults`; fixtures in faults.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess

import mlflow
import numpy as np
import pytest

from faults import (CLASSES, KILL_AFTER, LONG_EPOCHS, STEPS_PER_EPOCH, assert_complete_history, base, epochs_checkpointed,  # noqa: F401 (fixtures)
                    gan_runs, long_gans, project, run_command, set_params, start, wait_until)

pytestmark = pytest.mark.faults


def test_sigkill_during_gan_training_then_repro_resumes_from_the_last_checkpoint(project):
    root, env, dvc = project
    long_gans(root)
    repro = start(dvc + ["repro", "train_gan@mnist"], root, env)
    wait_until(lambda: min(epochs_checkpointed(root, label) for label in CLASSES) >= KILL_AFTER, repro,
               f"{KILL_AFTER} checkpointed epochs")
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait(30)
    assert not (root / "artifacts" / "mnist" / "gan").exists()  # nothing under the output's name
    assert max(epochs_checkpointed(root, label) for label in CLASSES) < LONG_EPOCHS  # killed mid-training

    log = run_command(dvc + ["repro", "train_gan@mnist"], root, env)
    assert "resuming class 0" in log and "resuming class 1" in log
    assert_complete_history(root)
    assert "up to date" in run_command(dvc + ["status", "train_gan@mnist"], root, env)
    for label, run in gan_runs(env["MLFLOW_TRACKING_URI"]).items():
        history = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).get_metric_history(run.info.run_id, "g_loss")
        assert sorted(m.step for m in history) == list(range(LONG_EPOCHS * STEPS_PER_EPOCH)), label


def test_sigkill_during_generation_leaves_no_set_under_its_name_and_repro_rewrites_it(project):
    from synthset.synthetic import load_synthetic

    root, env, dvc = project
    per_class = 6000  # a few seconds of writing
    set_params(root, **{"scales.tiny.mnist.generate.images_per_class": per_class})
    partial = root / "artifacts" / "mnist" / "synthetic.partial"
    repro = start(dvc + ["repro", "generate@mnist"], root, env)
    # The partial set's directory exists from the start of generation to its rename: the widest
    # window to kill in (the first archive alone is written a fraction of a second before the next).
    wait_until(partial.exists, repro, "the partial set", every=0.01)
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait(30)
    assert not (root / "artifacts" / "mnist" / "synthetic").exists()  # the half-written set never got the name

    run_command(dvc + ["repro", "generate@mnist"], root, env)
    assert not partial.exists()
    images, labels = load_synthetic(root / "artifacts" / "mnist" / "synthetic", CLASSES)  # checks every md5
    assert images.shape == (per_class * len(CLASSES), 28, 28, 1) and np.bincount(labels).tolist() == [per_class] * 2
    assert "up to date" in run_command(dvc + ["status", "generate@mnist"], root, env)


def test_a_second_dvc_repro_stops_with_dvcs_lock_message_naming_the_first_which_is_unharmed(project):
    root, env, dvc = project
    long_gans(root)
    first = start(dvc + ["repro", "train_gan@mnist"], root, env)
    wait_until(lambda: epochs_checkpointed(root, 0) >= 1, first, "the first repro training")
    second = subprocess.run(dvc + ["repro", "train_gan@mnist"], cwd=root, env=env, capture_output=True, text=True)
    assert second.returncode != 0
    # DVC's lock on the stage's outputs, naming the process that holds it
    assert re.search(rf"is being blocked by:\s+\(PID {first.pid}\): ", second.stderr), second.stdout + second.stderr
    output, _ = first.communicate(timeout=300)
    assert first.returncode == 0, output[-3000:]
    assert_complete_history(root)
    assert "up to date" in run_command(dvc + ["status", "train_gan@mnist"], root, env)