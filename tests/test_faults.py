"""The faults a team meets, each on a real tiny pipeline: a tracking server that stops mid-training,
SIGKILL during training and generation, a full disk, two `dvc repro` at once, a bad tracking URI.

A marked suite (`-m faults`), run by `.ci/run` after the default suite: `bash scripts/test.sh -m faults`.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml

from conftest import copy_project, pipeline_environment, run_command, write_tiny_mnist

pytestmark = pytest.mark.faults
CLASSES = [0, 1]
STEPS_PER_EPOCH = 2  # 32 training images per class in batches of 16
LONG_EPOCHS = 150    # long enough to be caught in the middle


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny two-class project whose pipeline ran up to the synthetic set (SQLite store), committed."""
    root = tmp_path_factory.mktemp("faults") / "project"
    root.mkdir()
    copy_project(root)
    write_tiny_mnist(root / "data" / "mnist")
    set_params(root, scale="tiny", datasets=["mnist"], **{"mnist.data.classes": CLASSES})
    env, dvc = pipeline_environment()
    run_command(["git", "init", "-q"], root, env)
    run_command(dvc + ["init", "-q"], root, env)
    run_command(dvc + ["add", "-q", "data"], root, env)
    run_command(dvc + ["repro", "generate@mnist"], root, env)
    run_command(["git", "add", "-A"], root, env)
    run_command(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"], root, env)
    return root


@pytest.fixture
def project(base, tmp_path):
    root = tmp_path / "project"
    shutil.copytree(base, root, symlinks=True)
    env, dvc = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return root, env, dvc


def set_params(root: Path, **values) -> None:
    """params.yaml with ``values`` set, dotted keys for nested ones."""
    raw = yaml.safe_load((root / "params.yaml").read_text())
    for dotted, value in values.items():
        *parents, key = dotted.split(".")
        node = raw
        for name in parents:
            node = node[name]
        node[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def long_gans(root: Path) -> None:
    set_params(root, **{"scales.tiny.mnist.gan.epochs": LONG_EPOCHS, "scales.tiny.mnist.gan.checkpoint_every": 50})


def start(command: list[str], root: Path, env: dict, **kwargs) -> subprocess.Popen:
    """A command in its own process group, so that a signal reaches it and everything it started."""
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)


def wait_until(condition, process: subprocess.Popen, what: str, timeout: float = 180, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := condition()):
            return found
        if process.poll() is not None:
            pytest.fail(f"finished before {what}:\n{process.stdout.read()[-3000:]}")
        time.sleep(every)
    process.kill()
    pytest.fail(f"no {what} within {timeout} s")


def epochs_checkpointed(root: Path, label: int) -> int:
    """Epochs the interrupted-training backup of class ``label`` holds (Keras BackupAndRestore)."""
    metadata = root / "artifacts" / ".resume" / "mnist" / "gan" / str(label) / "backup" / "training_metadata.json"
    try:
        return json.loads(metadata.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def assert_complete_history(root: Path) -> None:
    """Each class's GAN output holds every step of every epoch, once."""
    for label in CLASSES:
        with (root / "artifacts" / "mnist" / "gan" / str(label) / "history.csv").open() as handle:
            steps = [int(line.split(",")[0]) for line in handle.readlines()[1:]]
        assert steps == list(range(LONG_EPOCHS * STEPS_PER_EPOCH)), label


def gan_runs(tracking_uri: str) -> dict[int, mlflow.entities.Run]:
    client = mlflow.MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("synthset-mnist")
    runs = client.search_runs([experiment.experiment_id], "tags.`synthset.stage` = 'train_gan' and "
                              f"params.`gan.epochs` = '{LONG_EPOCHS}'") if experiment else []
    by_label: dict[int, list] = {}
    for run in runs:
        by_label.setdefault(int(run.data.tags["synthset.label"]), []).append(run)
    assert all(len(found) == 1 for found in by_label.values()), "one training, one run"
    return {label: found[0] for label, found in by_label.items()}


def test_tracking_server_stopped_mid_gan_fails_fast_naming_it_and_repro_resumes_without_gaps(project, team_services):
    root, env, dvc = project
    running, directory = team_services
    env["MLFLOW_TRACKING_URI"] = running.tracking_uri
    long_gans(root)
    client = mlflow.MlflowClient(running.tracking_uri)

    def logged_epochs() -> int:
        runs = gan_runs(running.tracking_uri)
        return min((len(client.get_metric_history(r.info.run_id, "g_loss")) // STEPS_PER_EPOCH
                    for r in runs.values()), default=0) if len(runs) == len(CLASSES) else 0

    repro = start(dvc + ["repro", "train_gan@mnist"], root, env)
    wait_until(lambda: logged_epochs() >= 5, repro, "five epochs on the server", every=0.5)
    from synthset import services

    services._stop_server(running.mlflow_pid)
    stopped = time.monotonic()
    output, _ = repro.communicate(timeout=120)
    failed_after = time.monotonic() - stopped
    assert repro.returncode != 0
    assert failed_after < 20, f"took {failed_after:.0f} s to notice"
    assert f"MLflow tracking store {running.tracking_uri} failed during" in output, output[-3000:]
    assert "run `dvc repro` (or the same command) to resume" in output
    assert max(epochs_checkpointed(root, label) for label in CLASSES) < LONG_EPOCHS

    services.up(running, directory)
    log = run_command(dvc + ["repro", "train_gan@mnist"], root, env)
    assert "resuming class" in log
    assert_complete_history(root)
    for label, run in gan_runs(running.tracking_uri).items():  # the same run, every step exactly once
        assert run.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "g_loss"))
        assert steps == list(range(LONG_EPOCHS * STEPS_PER_EPOCH)), label


def test_sigkill_during_gan_training_then_repro_resumes_from_the_last_checkpoint(project):
    root, env, dvc = project
    long_gans(root)
    repro = start(dvc + ["repro", "train_gan@mnist"], root, env)
    wait_until(lambda: min(epochs_checkpointed(root, label) for label in CLASSES) >= 10, repro, "ten checkpointed epochs")
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait(30)
    assert not (root / "artifacts" / "mnist" / "gan").exists()  # nothing under the output's name

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
    wait_until(lambda: (partial / "class_0.npz").exists(), repro, "the first archive", every=0.01)
    os.killpg(repro.pid, signal.SIGKILL)
    repro.wait(30)
    assert not (root / "artifacts" / "mnist" / "synthetic").exists()  # the half-written set never got the name

    run_command(dvc + ["repro", "generate@mnist"], root, env)
    assert not partial.exists()
    images, labels = load_synthetic(root / "artifacts" / "mnist" / "synthetic", CLASSES)  # checks every md5
    assert images.shape == (per_class * len(CLASSES), 28, 28, 1) and np.bincount(labels).tolist() == [per_class] * 2
    assert "up to date" in run_command(dvc + ["status", "generate@mnist"], root, env)


def _file_size_limit(limit: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


@pytest.mark.parametrize("what", ["archive", "checkpoint"])
def test_disk_full_while_writing_is_a_clear_error_and_leaves_nothing_half_written(project, team_services, what):
    """RLIMIT_FSIZE stands in for a full disk (the write fails the same way, EFBIG instead of
    ENOSPC); runs go to the server, so the only files the command writes are its outputs."""
    root, env, dvc = project
    env["MLFLOW_TRACKING_URI"] = team_services[0].tracking_uri
    if what == "archive":
        set_params(root, **{"scales.tiny.mnist.generate.images_per_class": 3000})
        command, output = ["synthset", "generate", "mnist"], root / "artifacts" / "mnist" / "synthetic"
        before = sorted(p.name for p in output.iterdir())
    else:
        long_gans(root)
        command, output = ["synthset", "train-gan", "mnist", "0"], root / "artifacts" / ".resume" / "mnist" / "gan" / "0"
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                            preexec_fn=_file_size_limit(20_000))
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "File too large while writing it; nothing half-written is left" in result.stderr, result.stderr[-2000:]
    assert not list(root.rglob("*.partial*")), "a partial file was left behind"
    if what == "archive":  # the previous complete set is untouched
        assert sorted(p.name for p in output.iterdir()) == before
        assert "Traceback" not in result.stderr
    else:  # whatever was checkpointed loads; the same command without the limit finishes
        run_command(command, root, env)
        assert (root / "artifacts" / "mnist" / "gan" / "0" / "history.csv").exists()


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


@pytest.mark.parametrize("uri, expected", [
    ("htp://127.0.0.1:5000", "unknown scheme 'htp'"),
    ("postgresql://intruder:secret@127.0.0.1:{port}/mlflow", 'role "intruder" does not exist'),
])
def test_a_bad_tracking_uri_is_named_before_any_work(project, team_services, uri, expected):
    root, env, dvc = project
    long_gans(root)
    env["MLFLOW_TRACKING_URI"] = uri.format(port=team_services[0].postgres_port)
    result = subprocess.run(dvc + ["repro", "train_gan@mnist"], cwd=root, env=env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output and uri.format(port=team_services[0].postgres_port).replace("secret", "***") in output, output
    assert "secret" not in output
    assert not list((root / "artifacts" / ".resume" / "mnist" / "gan").glob("*"))  # no training started
