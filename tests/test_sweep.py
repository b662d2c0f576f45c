"""Optuna sweeps end to end on tiny MNIST: real worker processes, a real journal file and PostgreSQL
server, a real MLflow store, signals sent to real processes. No mocks."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import optuna
import pytest
import yaml
from optuna.trial import TrialState

from conftest import PROJECT, copy_project, pipeline_environment, run_command, write_tiny_mnist

pytestmark = pytest.mark.e2e
JOURNAL = "sweeps/studies.journal"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A tiny project whose real splits and feature network exist: what every sweep reads."""
    root = copy_project(tmp_path_factory.mktemp("sweep-project"))
    write_tiny_mnist(root / "data" / "mnist")
    text = (root / "params.yaml").read_text()  # edited as text: sweep-best --apply must keep its comments
    for old, new in (("scale: default", "scale: tiny"), ("datasets: [mnist, fids30]", "datasets: [mnist]"),
                     ("classes: [2, 8, 9]", "classes: [2, 8]"), ("startup_trials: 4   # median", "startup_trials: 2   # median")):
        assert old in text, old
        text = text.replace(old, new)
    (root / "params.yaml").write_text(text)
    env, _ = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    for command in (["prepare", "mnist"], ["train-features", "mnist"]):
        run_command([_synthset(), *command], root, env)
    (root / "mlflow.db").unlink(missing_ok=True)  # each test starts with an empty store
    return root


def _synthset() -> str:
    return str(Path(sys.executable).parent / "synthset")


@pytest.fixture
def project(prepared, tmp_path):
    """A copy of the prepared project whose trials train one class: workers and signals need no more."""
    root = tmp_path / "project"
    shutil.copytree(prepared, root)
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("classes: [2, 8]", "classes: [2]"))
    env, _ = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    return root, env


def sweep_command(study: str, n_trials: int, workers: int = 1, storage: str | None = None) -> list[str]:
    command = [_synthset(), "sweep", "mnist", "--study", study, "--n-trials", str(n_trials), "--workers", str(workers)]
    return command + (["--storage", storage] if storage else [])


def load(root: Path, study: str, storage: str | None = None) -> optuna.Study:
    store = storage or optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(root / JOURNAL)))
    return optuna.load_study(study_name=study, storage=store)


def trial_runs(root: Path, study: str, tracking_uri: str | None = None) -> list:
    client = mlflow.MlflowClient(tracking_uri or f"sqlite:///{root / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("synthset-mnist-sweeps")
    return client.search_runs([experiment.experiment_id], f"tags.`synthset.study` = '{study}' "
                              "and tags.`synthset.role` = 'trial'", max_results=1000)


def assert_exact_total(study: optuna.Study, n_trials: int) -> None:
    """N trials used up the budget, each number once, none left running."""
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    counted = [t for t in trials if t.state in FINISHED or (t.state == TrialState.FAIL and t.user_attrs.get(
        "failure", "interrupted") != "interrupted")]
    assert len(counted) == n_trials, [(t.number, t.state.name, t.user_attrs.get("failure")) for t in trials]


# --- one sweep, looked at from every side -------------------------------------------------------

@pytest.fixture(scope="module")
def swept(prepared, tmp_path_factory):
    root = tmp_path_factory.mktemp("swept") / "project"
    shutil.copytree(prepared, root)
    env, dvc = pipeline_environment()
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    log = run_command(sweep_command("tiny", 6), root, env)
    return root, env, dvc, log


def test_a_sweep_completes_prunes_and_starts_from_the_current_settings(swept):
    root, _, _, log = swept
    study = load(root, "tiny")
    states = [t.state for t in study.trials]
    assert len(states) == 6 and TrialState.COMPLETE in states and TrialState.PRUNED in states, states
    baseline = study.trials[0]
    assert baseline.user_attrs["baseline"] == "params.yaml"
    assert baseline.params["batch_size"] == 16 and baseline.params["generator_widths"] == "8-8-4"
    for trial in study.trials:  # one progress line per trial, with its state
        assert f"trial {trial.number} {trial.state.name}" in log
    assert "6/6 trials done" in log
    pruned = next(t for t in study.trials if t.state == TrialState.PRUNED)
    assert len(pruned.intermediate_values) < 2  # stopped before its last class


def test_mlflow_holds_the_study_run_with_one_nested_run_per_trial_in_its_own_experiment(swept):
    root, *_ = swept
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    assert client.get_experiment_by_name("synthset-mnist") is None  # never mixed with the pipeline's runs
    experiment = client.get_experiment_by_name("synthset-mnist-sweeps")
    parents = client.search_runs([experiment.experiment_id], "tags.`synthset.role` = 'study'")
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    study = load(root, "tiny")
    assert parents[0].info.run_id == study.user_attrs["mlflow_run_id"]
    runs = {int(r.data.tags["synthset.trial"]): r for r in trial_runs(root, "tiny")}
    assert sorted(runs) == [t.number for t in study.trials]
    status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}
    for trial in study.trials:
        run = runs[trial.number]
        assert run.data.tags["mlflow.parentRunId"] == parents[0].info.run_id
        assert run.data.tags["synthset.trial_state"] == trial.state.name
        assert run.info.status == status[trial.state.name]
        assert float(run.data.params["discriminator_learning_rate"]) == trial.params["discriminator_learning_rate"]
        history = client.get_metric_history(run.info.run_id, "intermediate_fid")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == list(trial.intermediate_values.values())
        artifacts = [a.path for a in client.list_artifacts(run.info.run_id, "samples")]
        assert f"samples/class_2.png" in artifacts
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["fid"] == pytest.approx(trial.value)


def test_sweep_best_prints_overrides_and_apply_changes_what_dvc_sees(swept):
    root, env, dvc, _ = swept
    run_command(["git", "init", "-q"], root, env)
    run_command(dvc + ["init", "-q"], root, env)
    run_command(["git", "add", "params.yaml", "dvc.yaml", ".dvc"], root, env)
    run_command(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "before"], root, env)
    study = load(root, "tiny")
    best = study.best_trial
    shown = run_command([_synthset(), "sweep-best", "tiny"], root, env)
    assert f"trial {best.number}" in shown and "dvc exp run -S" in shown
    before = (root / "params.yaml").read_text()
    run_command([_synthset(), "sweep-best", "tiny", "--apply"], root, env)
    after = (root / "params.yaml").read_text()
    assert "# synthset settings" in after and after.count("null") == before.count("null")  # comments and nulls kept

    from synthset import config
    from synthset.tuning.space import settings_for

    old = config.resolve(yaml.safe_load(before), scale="tiny", dataset="mnist").gan
    new = config.resolve(yaml.safe_load(after), scale="tiny", dataset="mnist").gan
    assert new == settings_for(old, best.params, steps=3, train_images=32)  # the trial's settings, epochs included
    diff = json.loads(run_command(dvc + ["params", "diff", "--json"], root, env))["params.yaml"]
    if best.number != 0:
        assert diff and all(key.startswith(("mnist.gan.", "scales.tiny.mnist.gan.")) for key in diff), diff
    assert "params.yaml already has these settings" in run_command([_synthset(), "sweep-best", "tiny"], root, env)


def test_optuna_dashboard_serves_the_local_study(swept):
    root, env, *_ = swept
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([str(Path(sys.executable).parent / "optuna-dashboard"), JOURNAL, "--port", str(port)],
                              cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import urllib.request

        for _ in range(60):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as response:
                    studies = json.load(response)["study_summaries"]
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("optuna-dashboard did not answer within 30 s")
        assert [s["study_name"] for s in studies] == ["tiny"]
    finally:
        server.terminate()
        server.wait(10)


def test_sweeps_page_renders_in_headless_chromium(swept, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    from test_pipeline_e2e import CHROMEDRIVER, CHROMIUM, RENDERED, _chromium, _serve

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (scripts/test.sh installs them)")
    root, *_ = swept
    text = (root / "reports" / "sweeps.html").read_text()
    assert "Not available" not in text, text.split("Not available")[1][:300]
    server = _serve(root / "reports")
    driver = _chromium(tmp_path / "profile")
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/sweeps.html")
        plots = WebDriverWait(driver, 60).until(lambda d: (lambda p: p if p and all(x["marks"] for x in p) else None)(
            d.execute_script(RENDERED)))
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert len(plots) == 5  # history, importances, parallel coordinates, slices, samples
        assert all(p["traces"] > 0 and p["width"] > 0 for p in plots)
    finally:
        driver.quit()
        server.shutdown()


def test_two_objectives_give_a_pareto_front_without_pruning(project):
    root, env = project
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("objectives: quality ", "objectives: quality_and_speed ", 1))
    log = run_command(sweep_command("speed", 2), root, env)
    assert "pruning is off: Optuna does not prune multi-objective studies" in log
    study = load(root, "speed")
    assert len(study.directions) == 2 and [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert all(t.values[1] > 0 for t in study.trials)  # seconds per step
    refused = subprocess.run([_synthset(), "sweep-best", "speed"], cwd=root, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "choose one trial of its Pareto front with --trial N" in refused.stderr
    front = study.best_trials[0].number
    assert f"trial {front}: fid" in run_command([_synthset(), "sweep-best", "speed", "--trial", str(front)], root, env)
    assert "Pareto front" in (root / "reports" / "sweeps.html").read_text()


# --- workers, signals, storages -----------------------------------------------------------------

def _wait_for_running_trial(root: Path, study: str, process: subprocess.Popen, storage: str | None = None,
                            timeout: float = 120) -> None:
    """Until a trial has started training (its MLflow run exists)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert process.poll() is None, process.communicate()
        if storage or (root / JOURNAL).exists():
            try:
                running = load(root, study, storage).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            except KeyError:
                running = []
            if any("mlflow_run_id" in t.user_attrs for t in running):
                return
        time.sleep(0.3)
    pytest.fail("no trial started")


@pytest.fixture(params=["journal", "postgresql"])
def killable(request, project):
    """The project with heartbeats of 1 s and a grace of 3 s, and the storage to use."""
    root, env = project
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("heartbeat_seconds: 30", "heartbeat_seconds: 1")
                                      .replace("grace_seconds: 90", "grace_seconds: 3"))
    storage = None
    if request.param == "postgresql":  # the team's services: the study in PostgreSQL, the runs on the MLflow server
        running, _ = request.getfixturevalue("team_services")
        storage, env = running.optuna_storage, {**env, "MLFLOW_TRACKING_URI": running.tracking_uri}
    return root, env, storage


@pytest.mark.faults
def test_a_worker_killed_mid_trial_is_failed_and_its_trial_retried(killable):
    """SIGKILL leaves a RUNNING trial; the next sweep, with two workers, finds it (its process is
    gone, or its heartbeat stopped), runs its values again and ends with exactly N trials."""
    root, env, storage = killable
    process = subprocess.Popen(sweep_command("killed", 3, storage=storage), cwd=root, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    _wait_for_running_trial(root, "killed", process, storage)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    lost = load(root, "killed", storage).get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert len(lost) == 1  # what SIGKILL leaves behind
    time.sleep(4)  # past the grace period of a silent heartbeat

    workers = 2 if storage else 1  # two on PostgreSQL; two on the journal: the SIGTERM test
    log = run_command(sweep_command("killed", 3, workers=workers, storage=storage), root, env)
    assert f"trial {lost[0].number} lost" in log
    study = load(root, "killed", storage)
    assert_exact_total(study, 3)
    ran = {t.user_attrs["worker"] for t in study.trials} - {f"{socket.gethostname()}:{process.pid}"}
    assert len(ran) == workers  # every worker of the second run worked
    if storage:
        assert not (root / JOURNAL).exists()  # the study lives in PostgreSQL only
    killed = study.trials[lost[0].number]
    assert killed.state == TrialState.FAIL
    retry = next(t for t in study.trials if t.system_attrs.get("failed_trial") == killed.number)
    assert retry.params == killed.params and retry.state in FINISHED
    runs = {int(r.data.tags["synthset.trial"]): r for r in trial_runs(root, "killed", env["MLFLOW_TRACKING_URI"])}
    assert runs[killed.number].info.status == "FAILED"  # not left RUNNING in MLflow either
    if storage:  # on the team's MLflow server: nested runs under the study's run, metrics and sample grids
        client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
        assert len({r.data.tags["mlflow.parentRunId"] for r in runs.values()}) == 1
        finished = [r for r in runs.values() if r.data.tags["synthset.trial_state"] in ("COMPLETE", "PRUNED")]
        assert finished and all(r.data.metrics for r in finished)
        assert [a.path for a in client.list_artifacts(finished[0].info.run_id, "samples")] == ["samples/class_2.png"]
        assert not (root / "mlflow.db").exists()


@pytest.mark.faults
def test_sigterm_stops_every_worker_leaves_nothing_running_and_the_study_continues(project):
    root, env = project
    process = subprocess.Popen(sweep_command("stopped", 4, workers=2), cwd=root, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    _wait_for_running_trial(root, "stopped", process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=90)
    assert process.returncode == 130, output
    assert "no trial is left running" in output
    study = load(root, "stopped")
    trials = study.get_trials(deepcopy=False)
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    stopped = [t for t in trials if t.user_attrs.get("failure") == "interrupted"]
    assert stopped and all(t.state == TrialState.FAIL for t in stopped)
    queued = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.system_attrs["failed_trial"] for t in queued) == sorted(t.number for t in stopped)
    finished = [t.number for t in trials if t.state in FINISHED]

    run_command(sweep_command("stopped", 4, workers=2), root, env)
    study = load(root, "stopped")
    assert_exact_total(study, 4)  # two workers on one journal: exactly N, each number once
    assert len({t.user_attrs["worker"] for t in study.trials if t.number >= len(trials)}) == 2
    assert sorted(int(r.data.tags["synthset.trial"]) for r in trial_runs(root, "stopped")) == [
        t.number for t in study.trials if "mlflow_run_id" in t.user_attrs]  # one MLflow run per trial that ran
    assert all(study.trials[n].state in FINISHED for n in finished)  # nothing finished was lost
    statuses = {int(r.data.tags["synthset.trial"]): r.info.status for r in trial_runs(root, "stopped")}
    assert "RUNNING" not in statuses.values()


def test_an_unreachable_database_is_named_before_any_work(project):
    root, env = project
    result = subprocess.run(sweep_command("x", 2, storage="postgresql://me:secret@127.0.0.1:1/none"), cwd=root,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "postgresql://me:***@127.0.0.1:1/none is unreachable" in result.stderr and "secret" not in result.stderr
