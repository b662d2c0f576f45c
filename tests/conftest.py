"""Shared fixtures: the project's own params.yaml, tiny MNIST- and FIDS30-shaped datasets drawn
here, and one tiny pipeline run that every end-to-end module reads."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT = Path(__file__).resolve().parents[1]
# A fresh machine has no git identity, and the tests commit (as `dvc exp run` does): give every
# git the tests start, and every process they start, one of their own.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "synthset tests", "GIT_AUTHOR_EMAIL": "tests@synthset.invalid",
                "GIT_COMMITTER_NAME": "synthset tests", "GIT_COMMITTER_EMAIL": "tests@synthset.invalid"}
os.environ.update(GIT_IDENTITY)
# Two pytest workers share the machine's cores with the pipelines they start (a stage per core):
# one TensorFlow thread per process, as synthset's own worker processes get (parallel.py), rather
# than every process starting a thread per core and all of them contending (measured: the default
# suite's CPU time 810 s -> 703 s on 2 cores).
for _threads in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")


def draw_digits(count_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (N, 28, 28) images of the digit glyphs 0-9, jittered, so classes are learnable offline."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    font = ImageFont.load_default(size=22)
    images, labels = [], []
    for label in range(10):
        for _ in range(count_per_class):
            canvas = Image.new("L", (28, 28), 0)
            dx, dy = rng.integers(-3, 4, size=2)
            ImageDraw.Draw(canvas).text((8 + dx, 1 + dy), str(label), fill=int(rng.integers(180, 256)), font=font)
            images.append(np.asarray(canvas))
            labels.append(label)
    return np.stack(images).astype(np.uint8), np.asarray(labels, dtype=np.uint8)


def write_tiny_mnist(directory: Path, train_per_class: int = 60, test_per_class: int = 20) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = draw_digits(train_per_class, seed=0)
    test_images, test_labels = draw_digits(test_per_class, seed=1)
    for name, array in {"train_images": train_images, "train_labels": train_labels,
                        "test_images": test_images, "test_labels": test_labels}.items():
        np.save(directory / f"{name}.npy", array, allow_pickle=False)


def write_tiny_fids30(directory: Path, classes: list[str], per_class: int = 12, seed: int = 0) -> Path:
    """A FIDS30-like download: a folder per class of JPEGs of different sizes, each class its own
    colour and shape; the first class has a CMYK photo and the last one an unreadable file."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        folder = directory / name
        folder.mkdir(parents=True, exist_ok=True)
        colour = tuple(int(c) for c in rng.integers(40, 256, size=3))
        for number in range(1, per_class + 1):
            width, height = (int(v) for v in rng.integers(60, 200, size=2))
            photo = Image.new("RGB", (width, height), tuple(int(c) for c in rng.integers(0, 60, size=3)))
            box = [width * 0.2, height * 0.2, width * 0.8, height * 0.8]
            draw = ImageDraw.Draw(photo)
            (draw.ellipse if index % 2 == 0 else draw.rectangle)(box, fill=colour)
            if number == 1 and index == 0:
                photo.convert("CMYK").save(folder / f"{number}.jpg", "JPEG")
            else:
                photo.save(folder / f"{number}.jpg", "JPEG")
    (directory / classes[-1] / f"{per_class + 1}.jpg").write_bytes(b"not a photo at all")
    return directory


@pytest.fixture(autouse=True)
def _forget_mlflow_tracking_uri():
    """mlflow.set_tracking_uri() is process-global, outranks MLFLOW_TRACKING_URI and (MLflow 3) also
    sets that variable: put both back as they were before the test, so that a test's server or
    store (gone after it) is not the next test's."""
    outer = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    import mlflow

    mlflow.set_tracking_uri(None)  # also unsets the variable
    if outer is not None:
        os.environ["MLFLOW_TRACKING_URI"] = outer


@pytest.fixture
def params_raw() -> dict:
    return yaml.safe_load((PROJECT / "params.yaml").read_text())


@pytest.fixture
def tiny_params(params_raw):
    from synthset import config

    return config.resolve(params_raw, "params.yaml", scale="tiny", dataset="mnist")


@pytest.fixture
def project(tmp_path, monkeypatch, params_raw):
    """A scratch project directory with tiny MNIST in data/ and params.yaml at the tiny scale; cwd set there."""
    write_tiny_mnist(tmp_path / "data" / "mnist")
    params_raw["scale"] = "tiny"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params_raw, sort_keys=False))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    return tmp_path


def run_command(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    """Run a command of the project's tool chain; fail the test with its output tail if it fails."""
    import subprocess

    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def pipeline_environment() -> tuple[dict[str, str], list[str]]:
    """The environment and the `dvc` command for a pipeline run in a scratch project: this
    interpreter's `synthset` and `dvc`, no MLflow variables of the outer session."""
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return env, [str(Path(sys.executable).parent / "dvc")]


def copy_project(destination: Path) -> Path:
    """The files a clone has (no data, artifacts, caches or environment)."""
    for name in ("dvc.yaml", "params.yaml", "MLproject", "pyproject.toml"):
        shutil.copy(PROJECT / name, destination / name)
    shutil.copytree(PROJECT / "src", destination / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return destination


@pytest.fixture(scope="module")
def team_services():
    """`synthset services up` in a throw-away directory on free loopback ports: PostgreSQL (Debian's
    package; scripts/test.sh installs it) and an MLflow server on it. Stopped and removed after."""
    import tempfile

    from synthset import services

    # Not under pytest's 0700 temporary directory: PostgreSQL runs as the postgres user when we are root.
    home = Path(tempfile.mkdtemp(prefix="synthset-services-"))
    home.chmod(0o755)
    try:
        yield services.up(services.Services("127.0.0.1", services.free_port(), services.free_port()),
                          home / ".services"), home / ".services"
    finally:
        services.down(home / ".services")
        shutil.rmtree(home, ignore_errors=True)


# --- one tiny pipeline for the whole suite -------------------------------------------------------

TINY_MNIST_CLASSES = [0, 1, 2]      # three digits: every stage runs, per-class ones included, in a third of the time
TINY_FIDS30_CLASSES = ["apples", "limes"]  # apples/1.jpg is CMYK, limes/13.jpg unreadable
TINY_SSL_LABELS = [30, 60]          # the tiny training split has 40 images per class
TINY_SWEEP_CLASSES = [2]            # a sweep's trials train one class


@dataclass(frozen=True)
class TinyPipeline:
    """A committed tiny project (MNIST and FIDS30) after `synthset repro`, on the default SQLite store.

    Read it; never change it: every end-to-end module of the session shares it. A test that runs
    DVC in it or changes anything works on ``copy()``."""

    root: Path
    log: str
    commit: str

    def copy(self, destination: Path) -> Path:
        """The project, its git history, DVC cache and MLflow store, at ``destination``."""
        shutil.copytree(self.root, destination, symlinks=True)
        return destination

    @staticmethod
    def environment(root: Path) -> tuple[dict[str, str], list[str]]:
        """The environment of a run in ``root`` (its own mlflow.db) and the `dvc` command."""
        env, dvc = pipeline_environment()
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
        return env, dvc


def init_repository(root: Path, env: dict[str, str], dvc: list[str]) -> None:
    run_command(["git", "init", "-q"], root, env)
    run_command(dvc + ["init", "-q"], root, env)


def commit_all(root: Path, env: dict[str, str], message: str) -> str:
    """Commit everything git sees; the new commit's hash."""
    run_command(["git", "add", "-A"], root, env)
    run_command(["git", "commit", "-qm", message], root, env)
    return run_command(["git", "rev-parse", "HEAD"], root, env).strip()


def _build_tiny_pipeline(root: Path) -> TinyPipeline:
    copy_project(root)
    write_tiny_mnist(root / "data" / "mnist")
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["scale"] = "tiny"
    raw["datasets"] = ["mnist", "fids30"]
    raw["mnist"]["data"]["classes"] = TINY_MNIST_CLASSES
    raw["mnist"]["sweep"]["classes"] = TINY_SWEEP_CLASSES
    raw["study2"]["ssl"]["labels"] = TINY_SSL_LABELS
    raw["fids30"]["data"]["classes"] = TINY_FIDS30_CLASSES
    raw["fids30"]["data"]["source"] = str(write_tiny_fids30(root.parent / "fids30_download", TINY_FIDS30_CLASSES))
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env, dvc = TinyPipeline.environment(root)
    init_repository(root, env, dvc)
    log = run_command(["synthset", "fetch-images"], root, env)  # copies into data/fids30, then `dvc add data`
    commit = commit_all(root, env, "tiny project")
    # The README's way: `synthset repro`, every stage forked from its warm server.
    log += run_command(["synthset", "repro"], root, env)
    return TinyPipeline(root, log, commit)


def built_once(tmp_path_factory, name: str, build) -> dict:
    """``build(directory)``'s record (a JSON-able dict), built once per test session: the first
    pytest worker to ask builds it under a file lock in the directory all workers share; the
    others wait for it, then read the same one."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    directory, record = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not record.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build another worker began and failed
            directory.mkdir()
            record.write_text(json.dumps(build(directory)))
        return json.loads(record.read_text())


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> TinyPipeline:
    def build(directory: Path) -> dict:
        (directory / "project").mkdir()
        pipeline = _build_tiny_pipeline(directory / "project")
        return {"root": str(pipeline.root), "log": pipeline.log, "commit": pipeline.commit}

    record = built_once(tmp_path_factory, "tiny-pipeline", build)
    return TinyPipeline(Path(record["root"]), record["log"], record["commit"])


@pytest.fixture(scope="session")
def warm_start() -> dict[str, str]:
    """What `synthset repro` gives its stages, for an end-to-end test's own commands: a warm server
    (synthset.warm) that every `synthset` process started with these variables is forked from,
    instead of importing TensorFlow and MLflow itself. Not for the fault suite, whose signals must
    reach real processes."""
    from synthset import cli, warm

    with warm.server(cli.main) as server:
        yield {warm.SOCKET_ENV: server.env[warm.SOCKET_ENV]}
