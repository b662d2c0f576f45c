"""synthset.warm: stage commands forked from one interpreter that imported the libraries once."""

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from synthset import cli, warm

PROJECT = Path(__file__).resolve().parents[1]
LIGHT = ("synthset.cli", "synthset.config")  # enough for `check-params`, without TensorFlow's seconds


@pytest.fixture(scope="module")
def light_server():
    with warm.server(cli.main, LIGHT) as server:
        yield server


@pytest.fixture
def params_dir(tmp_path, monkeypatch):
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_command_runs_in_a_warm_child_on_the_callers_streams_and_directory(light_server, params_dir, monkeypatch, capfd):
    monkeypatch.setenv(warm.SOCKET_ENV, light_server.env[warm.SOCKET_ENV])
    assert warm.run_in_server(["check-params"]) == 0  # not None: the server ran it
    out, _ = capfd.readouterr()
    assert out.strip() == "params.yaml: valid"  # written by the child to this process's own stdout


def test_the_childs_errors_and_exit_status_come_back(light_server, params_dir, monkeypatch, capfd):
    monkeypatch.setenv(warm.SOCKET_ENV, light_server.env[warm.SOCKET_ENV])
    (params_dir / "params.yaml").write_text("seed: [not, a, number]\n")
    assert warm.run_in_server(["check-params"]) == 2
    assert "params.yaml" in capfd.readouterr().err
    assert warm.run_in_server(["no-such-command"]) == 2  # argparse's usage error, as in a cold process
    assert "invalid choice" in capfd.readouterr().err


def test_the_child_gets_the_callers_arguments_and_environment_not_the_servers(light_server, params_dir, monkeypatch,
                                                                              capfd):
    monkeypatch.setenv(warm.SOCKET_ENV, light_server.env[warm.SOCKET_ENV])
    (params_dir / "other.yaml").write_text((params_dir / "params.yaml").read_text())
    assert warm.run_in_server(["--params", "other.yaml", "check-params"]) == 0
    assert "other.yaml: valid" in capfd.readouterr().out
    monkeypatch.setenv("SYNTHSET_WORKERS", "bad")  # only this process has it: the stage refuses it before any work
    assert warm.run_in_server(["train-gan", "mnist"]) == 2
    assert "SYNTHSET_WORKERS='bad'" in capfd.readouterr().err


def test_without_a_reachable_server_the_command_runs_cold(tmp_path, monkeypatch):
    monkeypatch.delenv(warm.SOCKET_ENV, raising=False)
    assert warm.run_in_server(["check-params"]) is None
    monkeypatch.setenv(warm.SOCKET_ENV, str(tmp_path / "gone"))
    assert warm.run_in_server(["check-params"]) is None


def test_the_cli_goes_through_the_server_and_falls_back_when_it_is_gone(light_server, params_dir):
    env = {**os.environ, warm.SOCKET_ENV: light_server.env[warm.SOCKET_ENV]}
    served_before = len(light_server.served)
    warm_run = subprocess.run([sys.executable, "-m", "synthset", "check-params"], env=env, capture_output=True, text=True)
    env[warm.SOCKET_ENV] = str(params_dir / "gone")
    cold_run = subprocess.run([sys.executable, "-m", "synthset", "check-params"], env=env, capture_output=True, text=True)
    assert warm_run.returncode == cold_run.returncode == 0
    assert warm_run.stdout == cold_run.stdout == "params.yaml: valid\n"
    # The server counted the first command only (its line reaches the launcher's reader thread).
    for _ in range(100):
        if len(light_server.served) > served_before:
            break
        time.sleep(0.05)
    assert light_server.served[served_before:] == [["check-params"]]


def _fork_check(script: str, cwd: Path) -> list[str]:
    """What ``script`` prints, run after ``import tensorflow`` (as in a child of the warm server)."""
    code = "import tensorflow as tf\nfrom synthset import parallel\n" + textwrap.dedent(script)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=cwd,
                          env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}"}).stdout.split()


def test_fork_only_while_tensorflow_and_mlflow_are_unstarted(tmp_path):
    """Workers are forked from a process that imported TensorFlow and MLflow but started neither,
    and spawned once TensorFlow's runtime (its threads) or a pooled MLflow database connection
    exists: both are planted here, and each must be seen."""
    assert _fork_check("""
        import mlflow.store.tracking.sqlalchemy_store
        print(parallel.start_method(), parallel.runtime_started())
        tf.constant(1.0)
        print(parallel.start_method(), parallel.runtime_started())
    """, tmp_path) == ["fork", "False", "spawn", "True"]
    assert _fork_check("""
        from synthset.tracking import store
        store.connect()  # MLflow's engine keeps its connection (and the SQLite file) open for the next call
        print(parallel.start_method())
    """, tmp_path) == ["spawn"]


def test_the_stage_process_opens_the_gan_parent_run_and_still_forks_its_workers(tmp_path):
    """A stage that makes the parent run of its workers' runs (``runs.open_group``) holds no
    database connection afterwards: its workers are still forked warm."""
    assert _fork_check("""
        from synthset.tracking import runs
        parent = runs.open_group("mnist", runs.RunGroup("mnist-gans", "key", {"gan": {"epochs": 1}}))
        print(parent.run_id is not None, parallel.start_method())
    """, tmp_path) == ["True", "fork"]


def test_the_warm_server_refuses_to_serve_once_an_import_started_tensorflow(tmp_path):
    """A preloaded module that runs TensorFlow stops the server before it forks any child."""
    (tmp_path / "starts_tensorflow.py").write_text("import tensorflow as tf\n\nONE = tf.constant(1.0)\n")
    script = "import sys; from synthset import warm; warm.preload(sys.argv[1:])"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    light = subprocess.run([sys.executable, "-c", script, "tensorflow"], capture_output=True, text=True, env=env)
    assert light.returncode == 0, light.stderr[-2000:]
    started = subprocess.run([sys.executable, "-c", script, "tensorflow", "starts_tensorflow"], capture_output=True,
                             text=True, env=env)
    assert started.returncode != 0 and "its children cannot be forked" in started.stderr


def _train_tiny(seed):
    import keras
    import numpy as np

    keras.utils.set_random_seed(seed)
    images = np.random.default_rng(seed).standard_normal((256, 8, 8, 1)).astype("float32")
    labels = (images.mean(axis=(1, 2, 3)) > 0).astype("int32")
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(2, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=2, batch_size=32, verbose=0)
    return [weights.tobytes() for weights in model.get_weights()]


def test_forked_workers_train_the_same_weights_as_spawned_ones(monkeypatch):
    monkeypatch.setenv("SYNTHSET_WORKERS", "1")  # one worker, two tasks: each side imports TensorFlow once
    script = textwrap.dedent("""
        import pickle, sys
        if sys.argv[1] == "warm":
            import tensorflow  # imported, never started: as in a child of the warm server
        from synthset import parallel
        from test_warm import _train_tiny
        print("start method:", parallel.start_method(), file=sys.stderr)
        sys.stdout.buffer.write(pickle.dumps(parallel.run_tasks(_train_tiny, [(1,), (2,)])))
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    runs = {how: subprocess.run([sys.executable, "-c", script, how], capture_output=True, check=True, env=env)
            for how in ("warm", "cold")}
    assert [re.search(r"start method: (\w+)", runs[how].stderr.decode())[1] for how in ("warm", "cold")] == [
        "fork", "spawn"]
    assert runs["warm"].stdout == runs["cold"].stdout


def test_repro_counts_the_stages_that_started_warm_and_names_the_cold_ones(tmp_path, monkeypatch):
    """`synthset repro`'s closing line comes from the warm server's own count: of a `synthset`
    stage and a plain-Python one, only the first is run by the server, so one started cold."""
    import yaml

    from synthset import repro

    stages = {"check": {"cmd": "synthset check-params > checked.txt", "deps": ["params.yaml"], "outs": ["checked.txt"]},
              "build": {"cmd": "python -c \"open('built.txt', 'w').write('built')\"", "deps": ["checked.txt"],
                        "outs": ["built.txt"]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    steps = repro.reproduce(cli.main, jobs=1, preload=LIGHT)
    assert (tmp_path / "checked.txt").read_text() == "params.yaml: valid\n"
    assert steps.ran == ["check", "build"] and steps.warm == 1
    assert repro.describe(steps, 1) == "pipeline up to date: 2 stages, 2 ran, up to 1 at once, 1 of them started cold"
    again = repro.reproduce(cli.main, jobs=1, preload=LIGHT)
    assert again.ran == [] and again.warm == 0
    assert repro.describe(again, None) == ("pipeline up to date: 2 stages, 0 ran, up to one per core at once, "
                                           "every one started warm")
