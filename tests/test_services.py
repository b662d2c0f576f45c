"""`synthset services`: a real PostgreSQL cluster and MLflow server on loopback, stopped and started again."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import optuna
import pytest
import sqlalchemy

from synthset import services
from synthset.errors import SynthsetError
from synthset.tuning.storage import open_storage

# The services' own life cycle is in the fault suite (`-m faults`); the default suite runs the MNIST
# pipeline and a sweep against them (test_pipeline_e2e.py).
pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def test_runs_artifacts_and_studies_outlive_down_and_up(team_services, tmp_path):
    running, directory = team_services
    mlflow.set_tracking_uri(running.tracking_uri)
    with mlflow.start_run(experiment_id=mlflow.create_experiment("team")) as run:
        mlflow.log_metric("loss", 0.5, step=3)
        mlflow.log_image(np.zeros((8, 8, 3), np.uint8), "grid.png")
    assert run.info.artifact_uri.startswith("mlflow-artifacts:")  # served by the server, not a client path
    assert list((directory / "mlartifacts").rglob("grid.png"))  # ... which keeps it in .services/mlartifacts
    optuna.create_study(study_name="shared", storage=running.optuna_storage).enqueue_trial({"x": 1.0})

    services.down(directory)
    up, text = services.status(directory)
    assert not up and "PostgreSQL   stopped" in text and "MLflow       stopped" in text
    # Stopped, not broken: the database refuses connections at its address, and the project's storage
    # opener names the URL it could not reach.
    refused = rf'(?s)connection to server at "127.0.0.1", port {running.postgres_port} failed: Connection refused'
    with pytest.raises(sqlalchemy.exc.OperationalError, match=refused):
        optuna.load_study(study_name="shared", storage=running.optuna_storage)
    with pytest.raises(SynthsetError, match=rf"^study storage {re.escape(running.optuna_storage)} is unreachable: "
                                            rf"OperationalError: .*{refused[4:]}"):
        open_storage(running.optuna_storage, None, workers=1)

    again = services.up(running, directory)
    assert again.tracking_uri == running.tracking_uri and again.mlflow_pid != running.mlflow_pid
    client = mlflow.MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")] == [(3, 0.5)]
    assert (Path(client.download_artifacts(run.info.run_id, "grid.png", str(tmp_path)))).stat().st_size > 0
    assert len(optuna.load_study(study_name="shared", storage=running.optuna_storage).trials) == 1
    up, text = services.status(directory)
    assert up and f"export MLFLOW_TRACKING_URI={running.tracking_uri}" in text


def test_a_port_in_use_is_named_before_anything_is_created(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SynthsetError, match=f"port {port} on 127.0.0.1 is in use.*--mlflow-port"):
            services.up(services.Services("127.0.0.1", port + 1 if port < 65535 else port - 1, port),
                        tmp_path / ".services")
    assert not (tmp_path / ".services" / "postgres").exists()


def test_status_before_up_says_how_to_start(tmp_path):
    result = subprocess.run([str(Path(sys.executable).parent / "synthset"), "services", "status"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "no services in" in result.stdout and "synthset services up" in result.stdout
