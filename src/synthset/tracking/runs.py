"""An MLflow run's life cycle: how a stage opens its run, logs to it and ends it, also on SIGTERM.

A stage opens its run with ``stage_run``: in its dataset's experiment, tagged with the stage and
its inputs' versions. The per-class GAN runs of one stage meet under a parent run (``RunGroup``)
that the stage's own process finds or creates before it starts their workers (``open_group``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from synthset.errors import SynthsetError, without_password
from synthset.tracking import store
from synthset.tracking.lineage import DataUse, log_data_uses
from synthset.hashes import data_version, git_commit

_METRICS_PER_BATCH = 1000
_PARAMS_PER_BATCH = 100


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def base_tags(inputs: dict[str, str]) -> dict[str, str]:
    tags = {"synthset.git_commit": git_commit(), "synthset.data_version": data_version()}
    tags.update({f"synthset.input_md5.{name}": md5 for name, md5 in inputs.items()})
    return tags


def _names_the_store(method):
    """A failing call to the store (a tracking server that stopped, a full disk) becomes an error that
    names the store and says the work done so far is kept."""
    import functools

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except SynthsetError:
            raise
        except Exception as error:  # noqa: BLE001 - anything from MLflow's client here is a store failure
            raise _store_failure(method.__name__, self.run_id, error) from None

    return call


def _store_failure(call: str, run_id: str, error: Exception) -> SynthsetError:
    return SynthsetError(
        f"MLflow tracking store {without_password(store.tracking_uri())} failed during {call} of run "
        f"{run_id}: {type(error).__name__}: {str(error).strip()[:300]}\nCheckpoints written so far are "
        "kept: once the store answers again, run `dvc repro` (or the same command) to resume.")


class Tracker:
    """Logging for one active MLflow run; the training callbacks call it. Every method's failure
    names the store (``_names_the_store``)."""

    def __init__(self, run_id: str):
        self.run_id = run_id

    @_names_the_store
    def log_params(self, params: dict[str, Any]) -> None:
        import mlflow

        existing = mlflow.MlflowClient().get_run(self.run_id).data.params
        fresh = {k: str(v) for k, v in flatten(params).items() if k not in existing}
        for chunk in batches(list(fresh.items())):
            mlflow.log_params(dict(chunk))

    @_names_the_store
    def log_metrics(self, values: dict[str, float], step: int) -> None:
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in values.items()}, step=step)

    @_names_the_store
    def log_step_metrics(self, rows: list[dict], keys: list[str]) -> None:
        import mlflow
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(key, float(row[key]), now, int(row["step"])) for row in rows for key in keys]
        client = mlflow.MlflowClient()
        for chunk in batches(metrics, _METRICS_PER_BATCH):
            client.log_batch(self.run_id, metrics=chunk, synchronous=True)

    @_names_the_store
    def last_step(self, key: str) -> int:
        """The highest step logged for metric ``key`` in this run, -1 if none."""
        import mlflow

        return max((m.step for m in mlflow.MlflowClient().get_metric_history(self.run_id, key)), default=-1)

    @_names_the_store
    def log_image(self, image, key: str, step: int) -> None:
        import mlflow

        # Synchronously (MLflow's fluent default queues the upload on a thread): the grid is in the
        # store before the epoch counts as sent, so a kill cannot lose it after its metrics arrived.
        mlflow.log_image(image, key=key, step=step, synchronous=True)

    @_names_the_store
    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        import mlflow

        if Path(path).is_dir():
            mlflow.log_artifacts(str(path), artifact_path)
        else:
            mlflow.log_artifact(str(path), artifact_path)

    @_names_the_store
    def log_text(self, text: str, name: str) -> None:
        import mlflow

        mlflow.log_text(text, name)

    @_names_the_store
    def set_tags(self, tags: dict[str, Any]) -> None:
        import mlflow

        mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_keras_model(self, model, name: str, example_input) -> None:
        """The model with a signature inferred from one real input and its output.

        ``log_model`` both serialises the model here and sends it to the store; its failure names
        the store only when the store no longer answers, so a model Keras cannot save says so."""
        import mlflow
        from mlflow.models import infer_signature

        import synthset

        signature = infer_signature(example_input, model.predict(example_input, verbose=0))
        try:
            mlflow.keras.log_model(model, name=name, signature=signature, pip_requirements=_requirements(),
                                   metadata={"synthset_version": synthset.__version__})
        except Exception as error:  # noqa: BLE001 - sorted below into the model's and the store's
            try:
                mlflow.MlflowClient().get_run(self.run_id)
            except Exception:  # noqa: BLE001 - the store does not answer: it is the store's failure
                raise _store_failure("log_keras_model", self.run_id, error) from None
            raise SynthsetError(f"model {name!r} of run {self.run_id} could not be saved for MLflow: "
                                f"{type(error).__name__}: {str(error).strip()[:300]}") from error


@contextlib.contextmanager
def run(experiment_id: str, name: str, parent_id: str | None, resume_id: str | None, tags: dict[str, str]) -> Iterator[Tracker]:
    """An MLflow run that ends FINISHED, FAILED or KILLED (SIGTERM included), never left RUNNING.

    ``resume_id`` continues the run of an interrupted attempt, so one training is one run.
    """
    import mlflow

    os.environ.pop("MLFLOW_RUN_ID", None)  # start_run() would otherwise reuse the outer run
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        if resume_id:
            active = mlflow.start_run(run_id=resume_id)
        else:
            active = mlflow.start_run(experiment_id=experiment_id, run_name=name, parent_run_id=parent_id, tags=tags)
        status = "FAILED"
        try:
            yield Tracker(active.info.run_id)
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            try:
                mlflow.end_run(status)
            except Exception as error:  # noqa: BLE001 - the store is gone: the error above says so
                print(f"[mlflow] could not mark run {active.info.run_id} {status}: {type(error).__name__}; "
                      "it stays RUNNING until it is resumed", file=sys.stderr, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass(frozen=True)
class RunGroup:
    """A parent run that groups stage runs sharing ``key`` (one per dataset and settings): the
    per-class GAN runs, trained side by side in worker processes, meet under it."""

    name: str
    key: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Parent:
    """Where a stage's runs go: their experiment, and the run they are nested under (if any)."""

    experiment_id: str
    run_id: str | None


# Set (to the draw's number) while stage gan_seeds runs the stages for an extra draw of the GANs.
DRAW = "SYNTHSET_GAN_DRAW"


def experiment_name(dataset: str) -> str:
    """The dataset's experiment; an extra draw of the GANs (stages.gan_seeds) has its own."""
    return f"synthset-{dataset}-gan-seeds" if os.environ.get(DRAW) else f"synthset-{dataset}"


def open_group(dataset: str, group: RunGroup) -> Parent:
    """Find or create ``group``'s parent run, once, in the stage's own process before it starts the
    workers whose runs go under it (they get the returned ``Parent``): no two processes ever race
    to create it. ``mlflow run``'s run, when there is one, is the parent instead.

    The store is opened without a connection pool (``store.unpooled``), so that the workers can
    still be forked from this process (``synthset.parallel``)."""
    import mlflow
    from mlflow.entities import Param

    with store.unpooled():
        store.connect()
    outer_id, outer_experiment = store.outer_run()
    if outer_id:
        return Parent(outer_experiment, outer_id)
    experiment_id = store.experiment_id(experiment_name(dataset))
    client = mlflow.MlflowClient()
    found = client.search_runs([experiment_id], filter_string=f"tags.`synthset.parent_key` = '{group.key}'",
                               max_results=1)
    if found:
        return Parent(experiment_id, found[0].info.run_id)
    run = client.create_run(experiment_id, run_name=group.name, tags={"synthset.parent_key": group.key, **base_tags({})})
    for chunk in batches(list(flatten(group.params).items())):
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in chunk])
    client.set_terminated(run.info.run_id)
    return Parent(experiment_id, run.info.run_id)


@contextlib.contextmanager
def stage_run(dataset: str, stage: str, name: str, inputs: dict[str, str], *, parent: Parent | None = None,
              resume_id: str | None = None, data: list[DataUse] | None = None, **tags: Any) -> Iterator[Tracker]:
    """The one way a stage opens its MLflow run: in the dataset's experiment, under ``parent``
    (``open_group``'s parent run) or ``mlflow run``'s run if any, tagged ``synthset.stage`` (the
    ``dvc.yaml`` stage name), ``synthset.dataset``, ``synthset.<tag>`` and its inputs' versions.
    ``resume_id`` continues an interrupted attempt's run, so that one training is one run.
    ``data``: the datasets it reads, logged as the run's MLflow inputs (by DVC hash)."""
    store.connect()
    if draw := os.environ.get(DRAW):  # an extra draw of the GANs (stages.gan_seeds)
        tags["gan_draw"] = draw
    if parent is not None:
        experiment_id, parent_id = parent.experiment_id, parent.run_id
    else:
        experiment_id, parent_id = store.experiment(experiment_name(dataset))
    all_tags = {**base_tags(inputs), "synthset.stage": stage, "synthset.dataset": dataset,
                **{f"synthset.{key}": str(value) for key, value in tags.items()}}
    with run(experiment_id, name, parent_id, resume_id, all_tags) as tracker:
        if not resume_id:
            log_data_uses(tracker.run_id, data or [])
        yield tracker


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def batches(items: list, size: int = _PARAMS_PER_BATCH) -> Iterator[list]:
    """``items`` in lists of at most ``size``: MLflow caps what one call may log."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _requirements() -> list[str]:
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("keras", "numpy")] + [
        f"tensorflow-cpu=={version('tensorflow-cpu')}" if _installed("tensorflow-cpu") else f"tensorflow=={version('tensorflow')}"
    ]


def _installed(name: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(name)
        return True
    except PackageNotFoundError:
        return False
