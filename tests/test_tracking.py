import http.server
import importlib
import os
import threading

import mlflow
import numpy as np
import pytest

from synthset.tracking import lineage, runs, store
from synthset.errors import SynthsetError

_HTTP_SETTINGS = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")


def _unset(monkeypatch, *names):
    """Unset ``names`` for this test only: whatever the code under test sets is undone afterwards."""
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def test_unreachable_server_fails_fast_with_its_address(monkeypatch):
    """Fast without a clock: no retries and a 10 s answer limit (MLflow's defaults are 7 retries
    with exponential back-off, minutes against a dead server, and 120 s per request)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    _unset(monkeypatch, *_HTTP_SETTINGS)
    with pytest.raises(SynthsetError, match=r"(?s)http://127.0.0.1:9 is unreachable.*unset it"):
        store.connect()
    assert {name: os.environ[name] for name in _HTTP_SETTINGS} == {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def test_a_failing_server_is_asked_once_not_retried(monkeypatch):
    """A server that answers 503 (which MLflow retries) is asked exactly once: counted, not timed."""
    asked = []

    class Unavailable(http.server.BaseHTTPRequestHandler):
        def _refuse(self):
            asked.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _refuse

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        uri = f"http://127.0.0.1:{server.server_port}"
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        _unset(monkeypatch, *_HTTP_SETTINGS)
        # Were the code to retry, no back-off: the test then fails on the count, at once.
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", "0")
        with pytest.raises(SynthsetError, match=rf"MLflow tracking store {uri} is unreachable: "):
            store.connect()
    finally:
        server.shutdown()
        server.server_close()
    assert asked == ["/api/2.0/mlflow/experiments/search"]


def test_default_store_is_sqlite_in_the_project(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert store.tracking_uri() == f"sqlite:///{tmp_path / 'mlflow.db'}"


def test_runs_with_the_same_key_share_one_parent(project):
    first = runs.open_group("test", runs.RunGroup("parent", "key-a", {"gan": {"epochs": 3}}))
    again = runs.open_group("test", runs.RunGroup("parent", "key-a", {"gan": {"epochs": 3}}))
    other = runs.open_group("test", runs.RunGroup("parent", "key-b", {"gan": {"epochs": 4}}))
    assert first == again != other
    parent = mlflow.MlflowClient().get_run(first.run_id)
    assert parent.data.params["gan.epochs"] == "3" and parent.info.status == "FINISHED"
    assert parent.data.tags["synthset.parent_key"] == "key-a" and parent.info.run_name == "parent"


def _class_run(parent: runs.Parent, label: int) -> str:
    with runs.stage_run("test", "train_gan", f"test-gan-class-{label}", {}, parent=parent, label=label) as tracker:
        return tracker.run_id


def test_worker_runs_go_under_the_parent_the_stage_process_opened(project, monkeypatch):
    """The stage's own process opens the parent run once; its workers only nest their runs under it."""
    from synthset import parallel

    monkeypatch.setenv("SYNTHSET_WORKERS", "2")
    parent = runs.open_group("test", runs.RunGroup("test-gans", "key-w", {}))
    children = parallel.run_tasks(_class_run, [(parent, label) for label in range(3)])
    client = mlflow.MlflowClient()
    assert {client.get_run(child).data.tags["mlflow.parentRunId"] for child in children} == {parent.run_id}
    groups = client.search_runs([parent.experiment_id], "tags.`synthset.parent_key` = 'key-w'")
    assert [group.info.run_id for group in groups] == [parent.run_id]
    assert mlflow.get_experiment_by_name("synthset-test").experiment_id == parent.experiment_id


def test_an_experiment_another_process_created_first_is_read_not_an_error(project, monkeypatch):
    """Two stage processes may both find no experiment and both create it: the second reads it."""
    store.connect()
    made = mlflow.MlflowClient().create_experiment("synthset-race")
    unseen = iter([None])  # the first lookup happens before the other process's create
    looked_up = mlflow.MlflowClient.get_experiment_by_name
    monkeypatch.setattr(mlflow.MlflowClient, "get_experiment_by_name",
                        lambda self, name: next(unseen, None) or looked_up(self, name))
    assert store.experiment_id("synthset-race") == made


def test_a_dataset_is_logged_with_its_dvc_hash_and_path(project):
    """The MLflow entity is built from MLflow's public dataset description: name, DVC hash as
    digest, the local path as source, the use as context tag."""
    import json

    from synthset import paths
    from synthset.hashes import dvc_md5

    path = paths.raw("mnist")
    use = lineage.DataUse("mnist-real", path, "training")
    entity = use.entity()
    assert (entity.dataset.name, entity.dataset.digest, entity.dataset.source_type) == (
        "mnist-real", dvc_md5(path), "local")
    assert json.loads(entity.dataset.source)["uri"] == str(path.resolve())
    assert (entity.dataset.schema, entity.dataset.profile) == (None, None)
    assert [(tag.key, tag.value) for tag in entity.tags] == [("mlflow.data.context", "training")]
    store.connect()
    experiment_id, _ = store.experiment("synthset-test")
    with runs.run(experiment_id, "reads", None, None, {}) as tracker:
        pass
    lineage.log_data_uses(tracker.run_id, [use])
    logged = mlflow.MlflowClient().get_run(tracker.run_id).inputs.dataset_inputs
    assert [(put.dataset.name, put.dataset.digest) for put in logged] == [("mnist-real", dvc_md5(path))]


def test_failed_and_interrupted_runs_are_never_left_running(project):
    store.connect()
    experiment_id, _ = store.experiment("synthset-test")
    ids = {}
    for name, error in (("failed", RuntimeError), ("killed", KeyboardInterrupt)):
        with pytest.raises(error):
            with runs.run(experiment_id, name, None, None, {}) as tracker:
                ids[name] = tracker.run_id
                raise error("stop")
    client = mlflow.MlflowClient()
    assert client.get_run(ids["failed"]).info.status == "FAILED"
    assert client.get_run(ids["killed"]).info.status == "KILLED"


def test_a_model_that_cannot_be_saved_is_not_called_a_store_failure(project, monkeypatch):
    """log_model serialises locally and sends to the store: its failure names the store only when
    the store stops answering."""
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])

    def fails(*args, **kwargs):
        raise ValueError("planted: cannot serialise")

    # the flavour module itself: ``mlflow.keras`` is a lazy loader in front of it
    monkeypatch.setattr(importlib.import_module("mlflow.keras"), "log_model", fails)
    store.connect()
    experiment_id, _ = store.experiment("synthset-test")
    with pytest.raises(SynthsetError) as raised:
        with runs.run(experiment_id, "model", None, None, {}) as tracker:
            tracker.log_keras_model(model, "classifier", np.zeros((1, 2), "float32"))
    assert "model 'classifier' of run" in str(raised.value) and "planted: cannot serialise" in str(raised.value)
    assert "tracking store" not in str(raised.value)

    previous = mlflow.get_tracking_uri()
    try:
        with pytest.raises(SynthsetError, match=r"MLflow tracking store http://127.0.0.1:9 failed during log_keras_model"):
            with runs.run(experiment_id, "store", None, None, {}) as tracker:
                # the store stops answering (asked once, as store.connect sets for a server)
                monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
                monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
                mlflow.set_tracking_uri("http://127.0.0.1:9")
                tracker.log_keras_model(model, "classifier", np.zeros((1, 2), "float32"))
    finally:
        mlflow.set_tracking_uri(previous)  # process-wide: the next test's store is its own


def test_outer_mlflow_run_becomes_the_parent(project, monkeypatch):
    store.connect()
    outer = mlflow.MlflowClient().create_run(store.experiment("outer")[0])
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    experiment_id, parent = store.experiment("synthset-mnist")
    assert (experiment_id, parent) == (outer.info.experiment_id, outer.info.run_id)
    with runs.run(experiment_id, "child", parent, None, {}) as tracker:
        assert tracker.run_id != outer.info.run_id
    child = mlflow.MlflowClient().get_run(tracker.run_id)
    assert child.data.tags["mlflow.parentRunId"] == outer.info.run_id


@pytest.mark.parametrize("uri, expected", [
    ("htp://127.0.0.1:5000", "MLFLOW_TRACKING_URI=htp://127.0.0.1:5000: unknown scheme 'htp'"),
    ("127.0.0.1:5000", "unknown scheme '(none)'"),
    ("http://127.0.0.1:1", "MLflow tracking store http://127.0.0.1:1 is unreachable: URLError"),
    ("postgresql://me:secret@127.0.0.1:1/mlflow", "MLflow tracking store postgresql://me:***@127.0.0.1:1/mlflow is unreachable"),
])
def test_preflight_names_a_wrong_or_unreachable_store_without_its_password(monkeypatch, uri, expected):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with pytest.raises(SynthsetError) as raised:
        store.preflight()
    assert expected in str(raised.value) and "secret" not in str(raised.value)


def test_preflight_accepts_the_default_sqlite_store_without_creating_it(project):
    assert store.preflight().startswith("sqlite:///") and store.store_absent()


@pytest.mark.parametrize("violation", [
    '(psycopg.errors.UniqueViolation) duplicate key value violates unique constraint "dataset_pk"',
    "(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name, datasets.digest",
])
def test_a_dataset_another_writer_created_first_is_logged_on_retry(monkeypatch, violation):
    """The store's unique-key race on datasets (two workers, one dataset), on PostgreSQL as on
    SQLite, is retried, not fatal."""
    from mlflow.exceptions import MlflowException

    calls = []

    class Racing:
        def log_inputs(self, run_id, datasets):
            calls.append(run_id)
            if len(calls) == 1:
                raise MlflowException(violation)

    class Use:
        def entity(self):
            return "dataset"

    monkeypatch.setattr(mlflow, "MlflowClient", Racing)
    monkeypatch.setattr(lineage.time, "sleep", lambda seconds: None)
    lineage.log_data_uses("run-1", [Use()])
    assert calls == ["run-1", "run-1"]

    calls.clear()
    Racing.log_inputs = lambda self, run_id, datasets: (_ for _ in ()).throw(MlflowException("permission denied"))
    with pytest.raises(MlflowException, match="permission denied"):
        lineage.log_data_uses("run-2", [Use()])
