"""What the processes of one `dvc repro` pay before their first useful work: imports and the MLflow connection.

    python benchmarks/startup.py [--repeats 3]

Each process of a `dvc repro` of this checkout's dvc.yaml is replayed in a fresh interpreter, up to
its first useful work: a stage process imports the CLI and its stage module (and connects to MLflow
when it opens a run itself); a worker process of a parallel stage (``synthset.parallel``, one per
core) imports what its task imports and connects to MLflow. Each distinct preamble runs
``--repeats`` times; the medians are summed over the processes and printed beside a baseline (an
interpreter that does nothing), and beside the same sum for a layout of one stage per training
(38 stage processes, 20 workers, every one importing TensorFlow and MLflow).

Then the same processes under ``synthset repro`` (``synthset.warm``): one server imports the
libraries once; each stage process only imports the CLI and hands its command to the server
(measured through a real server, up to the child having loaded params.yaml); the stages that
track and every worker are forked warm and open their own MLflow connection (measured by forking).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

CONNECT = "from synthset.tracking import store; store.connect()"
# The stages whose own process opens an MLflow run (the parallel stages' runs are opened by their
# workers; train_gan's process also opens the parent run that groups the classes). Every stage's
# process imports its module, synthset.stages.<stage>, first.
TRACKING_STAGES = {"train_gan", "train_features", "select_epochs", "assess", "audit_labels", "explain", "report"}
# What a worker of each parallel stage imports before its task's first step.
WORKER_IMPORTS = {
    "train-gan": "import synthset.training.gan, synthset.training.callbacks",
    "train-cnn-on-real": "import synthset.training.classifier, synthset.training.callbacks",
    "train-cnn-on-synthetic": "import synthset.training.classifier, synthset.training.callbacks",
    "train-study2": "import synthset.tasks.study2_classifier, synthset.tasks.semi_supervised, synthset.tasks.ssl_gan",
}
STAGE_PER_TRAINING = {"stages": 38, "workers": 20}
FULL_PREAMBLE = f"import keras; {CONNECT}"
WARM_SERVER = "import synthset.cli; from synthset import warm; warm.preload()"
WARM_CLIENT = "from synthset.cli import main; main(['check-params'])"  # its child loads params.yaml, as every stage


def seconds(code: str, env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=cwd, capture_output=True)
    return time.perf_counter() - started


def processes() -> Counter:
    """How many processes of one `dvc repro` run each cold preamble (Python code)."""
    counts: Counter = Counter()
    for command, workers in commands():
        stage = command.replace("-", "_")
        counts[f"import synthset.cli, synthset.stages.{stage}" + (f"; {CONNECT}" if stage in TRACKING_STAGES else "")] += 1
        if workers:
            counts[f"{WORKER_IMPORTS[command]}; {CONNECT}"] += workers
    return counts


def commands() -> list[tuple[str, int]]:
    """(CLI command, worker processes) of each stage process of one `dvc repro` of dvc.yaml."""
    from dvc.repo import Repo

    from synthset import parallel

    with Repo(".") as repo:
        names = [stage.cmd.split()[1] for stage in repo.index.stages if getattr(stage, "cmd", None)]
    return [(name, parallel.cores() if name in WORKER_IMPORTS else 0) for name in names]


def forked_connect_seconds(repeats: int) -> float:
    """A child forked from a warm process (the libraries imported) opening its MLflow connection:
    what a warm stage that tracks, or a warm worker, pays before its first useful work."""
    import synthset.cli  # noqa: F401 - as the server, which imports its entry function, the CLI's main
    from synthset import warm
    from synthset.tracking import store

    warm.preload()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        child = os.fork()
        if child == 0:
            store.connect()
            os._exit(0)
        os.waitpid(child, 0)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    counts = processes()
    stages = commands()
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db",
               "PYTHONPATH": str(Path("src").resolve())}
        shutil.copy("params.yaml", scratch)
        seconds(CONNECT, env, Path(scratch))  # create the store, as the first stage would
        codes = ["pass", FULL_PREAMBLE, WARM_SERVER, *counts]
        medians = {code: statistics.median(seconds(code, env, Path(scratch)) for _ in range(args.repeats))
                   for code in codes}
        os.environ.update(env)
        from synthset import cli, warm

        with warm.server(cli.main) as server:  # a stage process under `synthset repro`: the CLI hands its command over
            client = statistics.median(seconds(WARM_CLIENT, server.env, Path(scratch)) for _ in range(args.repeats))
        connect = forked_connect_seconds(args.repeats)
    base = medians["pass"]
    print(f"{'processes':>9}  {'median s':>8}  {'ratio':>6}  cold preamble (`dvc repro`)")
    print(f"{'':>9}  {base:8.2f}  {1:6.1f}  baseline: an interpreter that does nothing")
    for code, count in counts.most_common():
        print(f"{count:9d}  {medians[code]:8.2f}  {medians[code] / base:6.1f}  {code}")
    cold = sum(count * medians[code] for code, count in counts.items())
    before = sum(STAGE_PER_TRAINING.values()) * medians[FULL_PREAMBLE]
    tracked = sum(command.replace("-", "_") in TRACKING_STAGES for command, _ in stages)
    workers = sum(count for _, count in stages)
    warm_total = medians[WARM_SERVER] + len(stages) * client + (tracked + workers) * connect
    print(f"\nwarm (`synthset repro`): one server `{WARM_SERVER}` {medians[WARM_SERVER]:.2f} s; {len(stages)} stage "
          f"processes handing their command to it, {client:.2f} s each (`{WARM_CLIENT}`); {tracked} stages and "
          f"{workers} workers forked warm, opening their MLflow connection: {connect:.2f} s each")
    print(f"\none `dvc repro`: {sum(counts.values())} processes, {cold / 60:.1f} min before first useful work in all; "
          f"a stage per training ({STAGE_PER_TRAINING['stages']} stages + {STAGE_PER_TRAINING['workers']} workers at "
          f"{medians[FULL_PREAMBLE]:.2f} s, `{FULL_PREAMBLE}`): {before / 60:.1f} min; ratio {cold / before:.2f}")
    print(f"`synthset repro` (warm): {warm_total / 60:.2f} min; ratio {warm_total / cold:.2f} to `dvc repro`, "
          f"{warm_total / before:.2f} to a stage per training")


if __name__ == "__main__":
    main()
