"""Every benchmark under benchmarks/ runs, at a tiny size, and prints its ratio against the baseline
it measured in the same process: a benchmark that no longer runs is a number nobody can measure
again. Marker ``benchmarks`` (`bash scripts/test.sh -m benchmarks`; .ci/run runs it)."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

from conftest import PROJECT, copy_project, pipeline_environment, run_command, write_tiny_mnist

pytestmark = pytest.mark.benchmarks

NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
# Each benchmark's tiny arguments, where it runs (the checkout, or a prepared tiny project for one
# that reads the pipeline's splits) and the ratios its output must hold.
TINY = {
    "classifier_epoch.py": (["--scale", "tiny", "--images", "64", "--threads", "1"], "checkout",
                            rf"images/s, {NUMBER}x baseline"),
    "feature_network.py": (["--variants", "baseline", "params_yaml"], "prepared", rf"time ratio {NUMBER}"),
    "gan_step.py": (["--scales", "tiny", "--steps", "2", "--warmup", "1", "--threads", "1"], "checkout",
                    rf"^tiny +\w+ +\d+ +{NUMBER} +{NUMBER} +{NUMBER} "),
    "parallel_stage.py": (["--scale", "tiny", "--tasks", "2", "--steps", "2"], "checkout", rf"ratio {NUMBER}"),
    "study2_throughput.py": (["--models", "cnn_5l", "--images", "64", "--batch-size", "32", "--matrix", "128",
                              "--threads", "1"], "checkout", rf"ratio {NUMBER} to the matmul baseline"),
    "startup.py": (["--repeats", "1"], "checkout", rf"ratio {NUMBER} to `dvc repro`"),
    "tracking_load.py": (["--clients", "1", "--seconds", "1"], "checkout", rf"metrics/s x{NUMBER}, p50 x{NUMBER}"),
}


def test_every_benchmark_has_a_tiny_run():
    assert sorted(TINY) == sorted(path.name for path in (PROJECT / "benchmarks").glob("*.py"))


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A tiny MNIST project whose real splits exist (what feature_network.py reads)."""
    root = copy_project(tmp_path_factory.mktemp("benchmark-project"))
    write_tiny_mnist(root / "data" / "mnist")
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("scale: default", "scale: tiny", 1))
    env, _ = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    run_command([str(Path(sys.executable).parent / "synthset"), "prepare", "mnist"], root, env)
    return root


@pytest.mark.parametrize("name", sorted(TINY))
def test_the_benchmark_runs_at_a_tiny_size_and_prints_its_ratios(name, prepared, tmp_path):
    arguments, where, pattern = TINY[name]
    cwd = PROJECT if where == "checkout" else prepared
    env, _ = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    output = run_command([sys.executable, str(PROJECT / "benchmarks" / name), *arguments], cwd, env)
    found = re.findall(pattern, output, flags=re.MULTILINE)
    assert found, f"{name} printed no line matching {pattern!r}:\n{output[-3000:]}"
    values = [float(v) for row in found for v in (row if isinstance(row, tuple) else (row,))]
    assert all(math.isfinite(v) and v > 0 for v in values), (name, values)
