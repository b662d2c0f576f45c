"""Optuna sweeps in MLflow: an experiment per dataset, a parent run per study, a nested run per trial.

The trials of one study run in several processes (and machines), so runs are addressed by id with
the client, never through the process-global active run.
"""

from __future__ import annotations

import time
from typing import Any

from synthset.tracking import store
from synthset.tracking.runs import base_tags, batches, flatten


def sweep_experiment(dataset: str) -> str:
    return f"synthset-{dataset}-sweeps"


def open_study_run(dataset: str, study: str, params: dict[str, Any], inputs: dict[str, str]) -> tuple[str, str]:
    """(run id, experiment id) of the study's parent run: found by the study's name, else created.
    A continued study reuses it, so every trial of a study is one click away from the same run."""
    import mlflow
    from mlflow.entities import Param

    store.connect()
    client = mlflow.MlflowClient()
    experiment_id = store.experiment_id(sweep_experiment(dataset))
    found = client.search_runs([experiment_id], filter_string=f"tags.`synthset.study` = '{study}' "
                               "and tags.`synthset.role` = 'study'", max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id, experiment_id
    run = client.create_run(experiment_id, run_name=f"study {study}", tags={
        **base_tags(inputs), "synthset.study": study, "synthset.role": "study", "synthset.dataset": dataset})
    for chunk in batches(list(flatten(params).items())):
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in chunk])
    return run.info.run_id, experiment_id


def start_trial_run(experiment_id: str, parent_id: str, study: str, number: int, values: dict[str, Any]) -> str:
    """A nested run for one trial, tagged with its study and number; returns its id."""
    import mlflow
    from mlflow.entities import Param

    client = mlflow.MlflowClient()
    run = client.create_run(experiment_id, run_name=f"trial {number}", tags={
        "mlflow.parentRunId": parent_id, "synthset.study": study, "synthset.trial": str(number),
        "synthset.role": "trial", "synthset.trial_state": "RUNNING"})
    client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in values.items()], synchronous=True)
    return run.info.run_id


def log_trial_class(run_id: str, position: int, label: int, scores: dict[str, float], objective: str, grid) -> None:
    """One scored class: its intermediate value (step = its position), every metric, its sample grid."""
    import mlflow
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric("intermediate_" + objective, scores[objective], now, position)]
    metrics += [Metric(f"{name}_class_{label}", value, now, 0) for name, value in scores.items()
                if value == value]  # NaN floors of tiny samples are left out
    client = mlflow.MlflowClient()
    client.log_batch(run_id, metrics=metrics, synchronous=True)
    client.log_image(run_id, grid[..., 0] if grid.shape[-1] == 1 else grid, artifact_file=f"samples/class_{label}.png")


_MLFLOW_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "KILLED", "FAIL": "FAILED"}


def end_trial_run(run_id: str, state: str, values: dict[str, float], reason: str | None = None) -> None:
    """Close a trial's run with its Optuna state (COMPLETE, PRUNED, FAIL) as tag and status."""
    import mlflow
    from mlflow.entities import Metric, RunTag

    client = mlflow.MlflowClient()
    now = int(time.time() * 1000)
    tags = [RunTag("synthset.trial_state", state)] + ([RunTag("synthset.trial_reason", reason[:5000])] if reason else [])
    client.log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in values.items() if v == v], tags=tags,
                     synchronous=True)
    client.set_terminated(run_id, _MLFLOW_STATUS.get(state, "KILLED"))


def log_study_progress(run_id: str, number: int, values: dict[str, float], best: dict[str, str]) -> None:
    """The study's best value so far (step = trial number), and the best trial as tags."""
    import mlflow
    from mlflow.entities import Metric, RunTag

    now = int(time.time() * 1000)
    mlflow.MlflowClient().log_batch(
        run_id, metrics=[Metric(k, v, now, number) for k, v in values.items() if v == v],
        tags=[RunTag(f"synthset.best.{k}", str(v)) for k, v in best.items()], synchronous=True)


def close_study_run(run_id: str, interrupted: bool) -> None:
    import mlflow

    mlflow.MlflowClient().set_terminated(run_id, "KILLED" if interrupted else "FINISHED")


def run_status(run_id: str) -> str:
    import mlflow

    return mlflow.MlflowClient().get_run(run_id).info.status
