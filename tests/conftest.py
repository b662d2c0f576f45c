"""Shared fixtures: the project's own params.yaml, and a tiny MNIST-shaped dataset drawn here."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
PROJECT = Path(__file__).resolve().parents[1]


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
