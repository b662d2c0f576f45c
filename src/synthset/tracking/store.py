"""The MLflow tracking store: which one, whether it answers, its experiments, and reads for reports.

Default store: ``mlflow.db`` (SQLite) in the project root. ``MLFLOW_TRACKING_URI`` points
elsewhere, for example a shared tracking server. Under ``mlflow run`` (``MLFLOW_RUN_ID`` set),
synthset's runs become children of that run instead of starting their own tree.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

from synthset.errors import SynthsetError, without_password

DEFAULT_STORE = Path("mlflow.db")
_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file", "databricks")
# MLflow's setting of the connection pool of its database store, read when its engine is made.
_POOL_SETTING = "MLFLOW_SQLALCHEMYSTORE_POOLCLASS"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{DEFAULT_STORE.resolve()}"


def connect() -> str:
    """Point MLflow at the configured store and fail fast, naming it, when it cannot be reached.
    A new database store gets its tables here: the process that starts workers or stages side by
    side connects first, so they never race to create them."""
    import mlflow

    uri = tracking_uri()
    if uri.startswith(("http://", "https://")):
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.MlflowClient().search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise _unreachable(uri, error) from None
    return uri


@contextlib.contextmanager
def unpooled() -> Iterator[None]:
    """Make this process's database engine without a connection pool (SQLAlchemy's ``NullPool``):
    no connection outlives a call, so a process that forks workers afterwards shares none with
    them (SQLAlchemy's advice for ``os.fork``). Only an engine made inside the block is unpooled;
    the setting is not left to the processes started later."""
    previous = os.environ.get(_POOL_SETTING)
    os.environ[_POOL_SETTING] = "NullPool"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_POOL_SETTING, None)
        else:
            os.environ[_POOL_SETTING] = previous


def _unreachable(uri: str, error: Exception) -> SynthsetError:
    return SynthsetError(f"MLflow tracking store {without_password(uri)} is unreachable: {type(error).__name__}: "
                         f"{str(error).strip()[:300]}\nStart the server (`synthset services up`), fix "
                         "MLFLOW_TRACKING_URI, or unset it to use the project's SQLite store (mlflow.db).")


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


def experiment_id(name: str) -> str:
    """The id of experiment ``name``, created if missing. Stage processes running side by side may
    both create it: the one that loses is told by the store (RESOURCE_ALREADY_EXISTS) and reads it."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(name).experiment_id


def outer_run() -> tuple[str | None, str | None]:
    """The run ``mlflow run`` started for us, if any: (run id, experiment id)."""
    import mlflow

    run_id = os.environ.get("MLFLOW_RUN_ID")  # start_run() would otherwise reuse it for every run
    if not run_id:
        return None, None
    return run_id, mlflow.MlflowClient().get_run(run_id).info.experiment_id


def experiment(name: str) -> tuple[str, str | None]:
    """(experiment id, parent run id) for a run that has no parent of its own: the outer run, if any."""
    outer_id, outer_experiment = outer_run()
    if outer_id:
        return outer_experiment, outer_id
    return experiment_id(name), None


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
