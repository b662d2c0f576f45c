"""What the fault tests share: a tiny two-class project whose pipeline ran up to its synthetic set,
copied for each test, and the helpers that start, watch and interrupt `dvc repro` in it.

The tests (tests/test_faults_*.py) are a marked suite, run by `.ci/run` after the default one:
`bash scripts/test.sh -m faults`. Two files, so that the two pytest workers share them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import mlflow
import pytest
import yaml

from conftest import (built_once, commit_all, copy_project, init_repository, pipeline_environment, run_command,
                      write_tiny_mnist)

CLASSES = [0, 1]
STEPS_PER_EPOCH = 2  # 32 training images per class in batches of 16
LONG_EPOCHS = 30     # long enough to be caught in the middle: the tests interrupt after 1-5 epochs
KILL_AFTER = 5       # epochs a test waits for before it interrupts the training


@pytest.fixture(scope="session")
def base(tmp_path_factory):
    """A tiny two-class project whose pipeline ran up to the synthetic set (SQLite store), committed;
    built once for both fault modules (conftest.built_once)."""
    def build(directory: Path) -> dict:
        root = directory / "project"
        root.mkdir()
        copy_project(root)
        write_tiny_mnist(root / "data" / "mnist")
        set_params(root, scale="tiny", datasets=["mnist"], **{"mnist.data.classes": CLASSES})
        env, dvc = pipeline_environment()
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        init_repository(root, env, dvc)
        run_command(dvc + ["add", "-q", "data"], root, env)
        run_command(dvc + ["repro", "generate@mnist"], root, env)
        commit_all(root, env, "base")
        return {"root": str(root)}

    return Path(built_once(tmp_path_factory, "faults-base", build)["root"])


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
    set_params(root, **{"scales.tiny.mnist.gan.epochs": LONG_EPOCHS, "scales.tiny.mnist.gan.checkpoint_every": 1})  # a backup and a tracker send every epoch


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


