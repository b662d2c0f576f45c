"""What a stage process pays before its first useful work: imports and the MLflow connection.

    python benchmarks/startup.py [--repeats 3]

Each part runs in a fresh interpreter (as each DVC stage and each worker does), ``--repeats``
times; prints the median seconds and the ratio to the baseline (an interpreter that does nothing),
then the sum over the processes of one default `dvc repro` (stages from ``dvc.yaml``, plus one
worker per core for the stages that train in ``synthset.parallel``).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARTS = {
    "baseline (python -c pass)": "pass",
    "synthset CLI": "import synthset.cli",
    "keras (TensorFlow)": "import keras",
    "mlflow": "import mlflow",
    "mlflow + connect (existing SQLite store)": "from synthset import tracking; tracking.connect()",
    "a training stage's preamble": "import keras; from synthset import tracking; tracking.connect()",
}
PARALLEL_STAGES = ("train_gan", "train_cnn_")  # stages whose trainings run in worker processes


def seconds(code: str, env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=cwd, capture_output=True)
    return time.perf_counter() - started


def stage_processes() -> tuple[int, int]:
    """(stage processes, worker processes) of one `dvc repro` of this checkout's dvc.yaml."""
    from dvc.repo import Repo

    from synthset import parallel

    with Repo(".") as repo:
        names = [stage.addressing for stage in repo.index.stages]
    workers = sum(parallel.cores() for name in names if name.startswith(PARALLEL_STAGES))
    return len(names), workers


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db"}
        seconds("from synthset import tracking; tracking.connect()", env, Path(scratch))  # create the store
        medians = {name: statistics.median(seconds(code, env, Path(scratch)) for _ in range(args.repeats))
                   for name, code in PARTS.items()}
    base = medians["baseline (python -c pass)"]
    for name, value in medians.items():
        print(f"{name:42s} {value:6.2f} s  ratio {value / base:6.1f}")
    stages, workers = stage_processes()
    preamble = medians["a training stage's preamble"]
    print(f"\none default `dvc repro`: {stages} stage processes + {workers} worker processes; at "
          f"{preamble:.1f} s each (an upper bound: a few stages import neither), "
          f"{(stages + workers) * preamble / 60:.1f} min before first useful work in all")


if __name__ == "__main__":
    main()
