"""The one module that talks to MLflow.

Default store: ``mlflow.db`` (SQLite) in the project root. ``MLFLOW_TRACKING_URI`` points
elsewhere, for example a shared tracking server. Under ``mlflow run`` (``MLFLOW_RUN_ID`` set),
synthset's runs become children of that run instead of starting their own tree.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from synthset.errors import SynthsetError, without_password
from synthset.versions import data_version, dvc_md5, git_commit

DEFAULT_STORE = Path("mlflow.db")
_METRICS_PER_BATCH = 1000
_PARAMS_PER_BATCH = 100


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE.resolve()}"


def connect() -> str:
    """Point MLflow at the configured store and fail fast, naming it, when it cannot be reached."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    try:
        with _machine_lock(f"store-{fingerprint(uri)}"):  # a new SQLite store: one process creates its tables
            mlflow.MlflowClient().search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise _unreachable(uri, error) from None
    return uri


def _unreachable(uri: str, error: Exception) -> SynthsetError:
    return SynthsetError(f"MLflow tracking store {without_password(uri)} is unreachable: {type(error).__name__}: "
                         f"{str(error).strip()[:300]}\nStart the server (`synthset services up`), fix "
                         "MLFLOW_TRACKING_URI, or unset it to use the project's SQLite store (mlflow.db).")


_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")


def preflight() -> str:
    """Check the configured store before a command does any work, without opening MLflow's own
    database engine (a forked worker must not share one): a known scheme, a tracking server that
    answers ``/health``, a database that accepts the login. Names the URI and what is wrong."""
    uri = tracking_uri()
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    shown = without_password(uri)
    if scheme not in _SCHEMES:
        raise SynthsetError(f"MLFLOW_TRACKING_URI={shown}: unknown scheme {scheme or '(none)'!r}; use http(s)://HOST:PORT "
                            "(a tracking server), a database URL (postgresql://, mysql://, sqlite:///FILE) or unset it "
                            "for the project's mlflow.db")
    try:
        if scheme in ("http", "https"):
            import urllib.request

            with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10) as response:
                response.read()
        elif scheme not in ("sqlite", "file", "databricks"):
            import sqlalchemy

            engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
    except Exception as error:  # noqa: BLE001 - refused, unknown host, bad login, missing driver: all unusable
        raise _unreachable(uri, error) from None
    return uri


def store_absent() -> bool:
    """True when the default SQLite store has never been written: reading it must not create it."""
    uri = tracking_uri()
    return uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists()


def read_runs(experiment_name: str):
    """Every run of one experiment (tags, params, status, start time) as a DataFrame, newest first;
    empty when the store or the experiment does not exist, so a report can say what is missing."""
    import mlflow
    import pandas as pd

    if store_absent():
        return pd.DataFrame()
    connect()
    if mlflow.MlflowClient().get_experiment_by_name(experiment_name) is None:
        return pd.DataFrame()
    return mlflow.search_runs(experiment_names=[experiment_name], output_format="pandas",
                              order_by=["attributes.start_time DESC"])


def run_url(experiment_id: str, run_id: str) -> str | None:
    """The run's page in the MLflow UI, when the store is a tracking server; None for a local store."""
    uri = tracking_uri()
    if not uri.startswith(("http://", "https://")):
        return None
    return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of settings and input hashes: same inputs, same parent run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _experiment_id(name: str) -> str:
    import mlflow

    client = mlflow.MlflowClient()
    with _machine_lock(f"experiment-{fingerprint(tracking_uri(), name)}"):  # worker processes race to create it
        experiment = client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment else client.create_experiment(name)


def experiment(name: str) -> tuple[str, str | None]:
    """(experiment id, parent run id) for a run that has no parent of its own: the outer run, if any."""
    outer_id, outer_experiment = _outer_run()
    if outer_id:
        return outer_experiment, outer_id
    return _experiment_id(name), None


def _outer_run() -> tuple[str | None, str | None]:
    """The run ``mlflow run`` started for us, if any: (run id, experiment id)."""
    import mlflow

    run_id = os.environ.get("MLFLOW_RUN_ID")  # start_run() would otherwise reuse it for every run
    if not run_id:
        return None, None
    return run_id, mlflow.MlflowClient().get_run(run_id).info.experiment_id


def base_tags(inputs: dict[str, str]) -> dict[str, str]:
    tags = {"synthset.git_commit": git_commit(), "synthset.data_version": data_version()}
    tags.update({f"synthset.input_md5.{name}": md5 for name, md5 in inputs.items()})
    return tags


def parent_run(experiment: str, name: str, key: str, params: dict[str, Any]) -> tuple[str, str]:
    """Find or create the parent run that groups runs sharing ``key`` (one per dataset and setting).

    Each per-class GAN is its own DVC stage and process; they meet under the same parent by key.
    """
    import mlflow

    outer_id, outer_experiment = _outer_run()
    if outer_id:
        return outer_id, outer_experiment
    # The classes of a stage train in several worker processes: one finds or creates at a time.
    with _machine_lock(f"parent-{key}"):
        experiment_id = _experiment_id(experiment)
        client = mlflow.MlflowClient()
        found = client.search_runs(
            [experiment_id], filter_string=f"tags.`synthset.parent_key` = '{key}'", max_results=1
        )
        if found:
            return found[0].info.run_id, experiment_id
        run = client.create_run(experiment_id, run_name=name, tags={"synthset.parent_key": key, **base_tags({})})
        for chunk in _chunks(list(flatten(params).items())):
            client.log_batch(run.info.run_id, params=[mlflow.entities.Param(k, str(v)) for k, v in chunk])
        client.set_terminated(run.info.run_id)
        return run.info.run_id, experiment_id


@contextlib.contextmanager
def _machine_lock(name: str) -> Iterator[None]:
    """An exclusive lock among this machine's processes, released when its holder dies."""
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / f"synthset-{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class DataUse:
    """A dataset a run read or made, logged with ``mlflow.log_input``: the MLflow UI's Datasets
    column then names each run's data by its DVC hash, the version `synthset datasets list` shows."""

    name: str       # <dataset>-real, <dataset>-synthetic, <dataset>-synthetic-test
    path: Path      # a DVC output (file or directory), relative to the project root
    context: str    # training | validation | holdout | generated | test

    def entity(self):
        """MLflow's DatasetInput: digest = DVC hash (36 characters, MLflow's limit), source = the path."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        with warnings.catch_warnings():  # MLflow registers its local-file source twice and warns it picked one
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted in multiple ways")
            source = resolve_dataset_source(str(Path(self.path).resolve()))
        dataset = MetaDataset(source, name=self.name, digest=dvc_md5(self.path))
        return DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag(MLFLOW_DATASET_CONTEXT, self.context)])


def log_data_uses(run_id: str, uses: list[DataUse], attempts: int = 4) -> None:
    """Record ``uses`` on a run, also a finished one (the GAN runs learn later which set they made).

    MLflow's database store finds-or-creates each dataset without guarding against a concurrent
    insert: two workers logging the same dataset at once make the second fail with a unique-key
    violation on PostgreSQL (SQLite serializes writers, so it never shows there). This machine's
    processes take turns; a run on another machine that races us is retried, as the dataset then exists.
    """
    import mlflow

    if not uses:
        return
    entities = [use.entity() for use in uses]
    for attempt in range(attempts):
        try:
            with _machine_lock(f"datasets-{fingerprint(tracking_uri())}"):
                mlflow.MlflowClient().log_inputs(run_id, datasets=entities)
            return
        except mlflow.exceptions.MlflowException as error:
            if "UniqueViolation" not in str(error) and "duplicate key" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def runs_with_data(digest: str) -> list[dict[str, str]]:
    """Every run of every experiment that logged a dataset of this DVC hash: id, name, context."""
    import mlflow

    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = []
    for run in client.search_runs(experiments, filter_string=f"dataset.digest = '{digest}'", max_results=1000) if experiments else []:
        contexts = sorted({tag.value for put in run.inputs.dataset_inputs if put.dataset.digest == digest
                           for tag in put.tags if tag.key == "mlflow.data.context"})
        found.append({"run_id": run.info.run_id, "run_name": run.info.run_name, "context": ",".join(contexts)})
    return found


def find_runs(filter_string: str) -> list[str]:
    """Ids of the runs of every experiment that match ``filter_string``, newest first."""
    import mlflow

    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    return [run.info.run_id for run in client.search_runs(experiments, filter_string, max_results=1000,
                                                          order_by=["attributes.start_time DESC"])] if experiments else []


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
        f"MLflow tracking store {without_password(tracking_uri())} failed during {call} of run "
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
        for chunk in _chunks(list(fresh.items())):
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
        for chunk in _chunks(metrics, _METRICS_PER_BATCH):
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
    per-class GAN runs, trained one after the other, meet under it."""

    name: str
    key: str
    params: dict[str, Any]


# Set (to the draw's number) while stage gan_seeds runs the stages for an extra draw of the GANs.
DRAW = "SYNTHSET_GAN_DRAW"


@contextlib.contextmanager
def stage_run(dataset: str, stage: str, name: str, inputs: dict[str, str], *, group: RunGroup | None = None,
              resume_id: str | None = None, data: list[DataUse] | None = None, **tags: Any) -> Iterator[Tracker]:
    """The one way a stage opens its MLflow run: in the dataset's experiment, under ``group``'s
    parent run or ``mlflow run``'s run if any, tagged ``synthset.stage`` (the ``dvc.yaml`` stage
    name), ``synthset.dataset``, ``synthset.<tag>`` and its inputs' versions. ``resume_id``
    continues an interrupted attempt's run, so that one training is one run. ``data``: the
    datasets it reads, logged as the run's MLflow inputs (by DVC hash)."""
    connect()
    name_of_experiment = f"synthset-{dataset}"
    if draw := os.environ.get(DRAW):  # an extra draw of the GANs (stages.gan_seeds): its own experiment
        name_of_experiment += "-gan-seeds"
        tags["gan_draw"] = draw
    if group is not None:
        parent_id, experiment_id = parent_run(name_of_experiment, group.name, group.key, group.params)
    else:
        experiment_id, parent_id = experiment(name_of_experiment)
    all_tags = {**base_tags(inputs), "synthset.stage": stage, "synthset.dataset": dataset,
                **{f"synthset.{key}": str(value) for key, value in tags.items()}}
    with run(experiment_id, name, parent_id, resume_id, all_tags) as tracker:
        if not resume_id:
            log_data_uses(tracker.run_id, data or [])
        yield tracker


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _chunks(items: list, size: int = _PARAMS_PER_BATCH) -> Iterator[list]:
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


# Sweeps: an experiment per dataset, a parent run per Optuna study and a nested run per trial. The
# trials of one study run in several processes (and machines), so runs are addressed by id with
# the client, never through the process-global active run.

def sweep_experiment(dataset: str) -> str:
    return f"synthset-{dataset}-sweeps"


def open_study_run(dataset: str, study: str, params: dict[str, Any], inputs: dict[str, str]) -> tuple[str, str]:
    """(run id, experiment id) of the study's parent run: found by the study's name, else created.
    A continued study reuses it, so every trial of a study is one click away from the same run."""
    import mlflow
    from mlflow.entities import Param

    connect()
    client = mlflow.MlflowClient()
    experiment_id = _experiment_id(sweep_experiment(dataset))
    found = client.search_runs([experiment_id], filter_string=f"tags.`synthset.study` = '{study}' "
                               "and tags.`synthset.role` = 'study'", max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id, experiment_id
    run = client.create_run(experiment_id, run_name=f"study {study}", tags={
        **base_tags(inputs), "synthset.study": study, "synthset.role": "study", "synthset.dataset": dataset})
    for chunk in _chunks(list(flatten(params).items())):
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
