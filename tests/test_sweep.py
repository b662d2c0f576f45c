"""Optuna sweeps end to end on tiny MNIST: real worker processes, a real journal file and PostgreSQL
server, a real MLflow store, signals sent to real processes. No mocks."""

from __future__ import annotations

import json
import math
import re
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
from synthset import config, paths

pytestmark = pytest.mark.e2e
JOURNAL = "sweeps/studies.journal"
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, warm_start):
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
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}", **warm_start)
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


@pytest.fixture
def warm_project(project, warm_start):
    """The project, its `synthset` commands started warm (the default suite's; the fault tests
    signal real processes and use ``project``)."""
    root, env = project
    return root, {**env, **warm_start}


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


def test_trial_0_scores_each_class_as_the_epoch_selection_scores_the_pipelines_gan(prepared, tmp_path, monkeypatch):
    """Trial 0 (the settings of params.yaml), given a budget of ``gan.epochs`` whole epochs, trains
    a sweep class's GAN as stage train_gan does and scores it as select_epochs scores that GAN's
    last checkpoint: every metric and floor equal to the last bit. Both in this process, so at
    one thread count (conftest's); another thread count would change the floating-point order."""
    from synthset.stages import select_epochs
    from synthset.stages import train_gan as stage
    from synthset.quality.references import feature_extractor, references
    from synthset.training.gan import steps_per_epoch
    from synthset.tuning import objective, space

    root = tmp_path / "project"
    shutil.copytree(prepared, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    params = config.load(root / "params.yaml", dataset="mnist")
    assert params.gan.kind == "per_class" and params.sweep_labels == [2, 8]
    data = objective.load_data(params, "mnist")
    per_epoch = {steps_per_epoch(len(data.images[label]), params.gan.batch_size) for label in data.labels}
    assert len(per_epoch) == 1, per_epoch
    budget = params.model_copy(update={"sweep": params.sweep.model_copy(
        update={"steps": params.gan.epochs * per_epoch.pop()})})
    trial_0 = objective.Objective(budget, data).settings(space.defaults(params.gan, params.sweep.space))
    assert trial_0 == params.gan  # what runner.prepare enqueues as trial 0, at this budget: the pipeline's settings

    extractor = feature_extractor(params, "mnist")
    refs = references(params, "mnist", extractor)
    for label in data.labels[:1]:  # one class shows the equality; each class is the same code
        stage.train(params, "mnist", stage.ClassGan(label)).finish({".": paths.gan_dir("mnist", label)})
        curve = select_epochs.class_curve(params, "mnist", label, params.data.labels.index(label), refs[label],
                                          extractor)
        selected = curve.set_index("epoch").loc[params.gan.epochs].drop("class").to_dict()
        scored = objective.train_and_score(budget, trial_0, data, label).scores
        assert scored == selected, label


# --- one sweep, looked at from every side -------------------------------------------------------

@pytest.fixture(scope="module")
def swept(prepared, tmp_path_factory, warm_start):
    root = tmp_path_factory.mktemp("swept") / "project"
    shutil.copytree(prepared, root)
    env, dvc = pipeline_environment()
    env.update(MLFLOW_TRACKING_URI=f"sqlite:///{root / 'mlflow.db'}", **warm_start)
    log = run_command(sweep_command("tiny", 4), root, env)
    return root, env, dvc, log


def test_a_sweep_completes_prunes_and_starts_from_the_current_settings(swept):
    root, _, _, log = swept
    study = load(root, "tiny")
    states = [t.state for t in study.trials]
    assert len(states) == 4 and TrialState.COMPLETE in states and TrialState.PRUNED in states, states
    baseline = study.trials[0]
    assert baseline.user_attrs["baseline"] == "params.yaml"
    assert baseline.params["batch_size"] == 16 and baseline.params["generator_widths"] == "8-8-4"
    for trial in study.trials:  # one progress line per trial, with its state
        assert f"trial {trial.number} {trial.state.name}" in log
    assert "4/4 trials done" in log
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


def _copy_of(swept, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The swept project in a scratch directory, with its own MLflow store: for tests that edit its
    params.yaml or its study."""
    root = tmp_path / "project"
    shutil.copytree(swept[0], root)
    return root, {**swept[1], "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


def _comments(text: str) -> list[str]:
    """Every comment of a YAML text in order, whole-line and inline, without the spaces before it."""
    return [match.group(1) for line in text.splitlines() if (match := re.search(r"(?:^|\s)(#.*)$", line))]


def _dotted(raw: dict, place: str):
    node = raw
    for part in place.split("."):
        node = node[part]
    return node


def _expected_changes(trial, raw: dict) -> dict:
    """Where each value of a tiny MNIST trial decides (params.yaml's comment above `gan:`), worked
    out here from the trial's values and not by the code under test; only those that differ."""
    values, optimizer = trial.params, trial.params["optimizer"]
    generator = [int(w) for w in values["generator_widths"].split("-")]
    batch = values["batch_size"]
    places = {"mnist.gan.optimizer": optimizer,
              f"scales.tiny.mnist.gan.{optimizer}.generator.learning_rate": values["generator_learning_rate"],
              f"scales.tiny.mnist.gan.{optimizer}.discriminator.learning_rate": values["discriminator_learning_rate"],
              "mnist.gan.generator.dropout": values["generator_dropout"],
              "mnist.gan.discriminator.dropout": values["discriminator_dropout"],
              "scales.tiny.mnist.gan.batch_size": batch,
              "scales.tiny.mnist.gan.generator.base_filters": generator[0],
              "scales.tiny.mnist.gan.generator.filters": generator[1:],
              "scales.tiny.mnist.gan.discriminator.filters": [int(w) for w in values["discriminator_widths"].split("-")],
              "scales.tiny.mnist.gan.epochs": math.ceil(3 / (32 // batch))}  # 3 steps of 32 images per class
    if optimizer == "adam":
        places["mnist.gan.adam.beta_1"] = values["adam_beta_1"]
    return {place: value for place, value in places.items() if _dotted(raw, place) != value}


def _overrides_shown(output: str) -> dict[str, str]:
    """The `-S key=value` pairs of the `dvc exp run` line sweep-best prints."""
    line = next(line for line in output.splitlines() if line.startswith("dvc exp run "))
    return dict(re.findall(r"-S '([^=']+)=([^']*)'", line))


def _shown(value) -> str:
    return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)


def test_sweep_best_prints_the_best_trials_overrides(swept):
    """Without --trial: the best trial's value, the baseline's, and the exact overrides it needs."""
    root, env, *_ = swept
    study = load(root, "tiny")
    best, baseline = study.best_trial, study.trials[0]
    shown = run_command([_synthset(), "sweep-best", "tiny"], root, env).splitlines()
    assert shown[0] == f"study 'tiny', trial {best.number}: fid {best.value:.4g} over classes [2, 8] at 3 steps (tiny scale)"
    assert shown[1] == f"the settings of params.yaml (trial 0): fid {baseline.value:.4g}"
    expected = _expected_changes(best, yaml.safe_load((root / "params.yaml").read_text()))
    if best.number == 0:
        assert not expected and shown[2] == "params.yaml already has these settings: nothing to change"
    else:
        assert _overrides_shown("\n".join(shown)) == {place: _shown(v) for place, v in expected.items()}


def test_sweep_best_apply_writes_a_chosen_trial_keeping_every_comment(swept, tmp_path):
    """--apply of a trial other than the baseline (so that something is written, whichever trial
    won): exactly its settings change, at the places dvc sees, and every comment survives."""
    (root, env), dvc = _copy_of(swept, tmp_path), swept[2]
    run_command(["git", "init", "-q"], root, env)
    run_command(dvc + ["init", "-q"], root, env)
    run_command(["git", "add", "params.yaml", "dvc.yaml", ".dvc"], root, env)
    run_command(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "before"], root, env)
    study = load(root, "tiny")
    candidates = [t for t in study.trials if t.state == TrialState.COMPLETE and "baseline" not in t.user_attrs]
    assert candidates, [(t.number, t.state.name) for t in study.trials]
    chosen = next((t for t in candidates if t.params["optimizer"] == "adam"), candidates[0])  # params.yaml: rmsprop
    before = (root / "params.yaml").read_text()
    expected = _expected_changes(chosen, yaml.safe_load(before))
    assert len(expected) >= 4, expected  # both rates and both dropouts at least: drawn from continuous ranges

    written = run_command([_synthset(), "sweep-best", "tiny", "--trial", str(chosen.number), "--apply"], root, env)
    assert _overrides_shown(written) == {place: _shown(value) for place, value in expected.items()}
    assert f"written into params.yaml ({len(expected)} settings)" in written
    after = (root / "params.yaml").read_text()
    assert _comments(after) == _comments(before)  # every comment, whole-line and inline, in its order
    assert after.count("null") == before.count("null")
    diff = json.loads(run_command(dvc + ["params", "diff", "--json"], root, env))["params.yaml"]
    assert {key: (change["old"], change["new"]) for key, change in diff.items()} == {
        place: tuple(str(v) if isinstance(v, list) else v for v in (_dotted(yaml.safe_load(before), place), value))
        for place, value in expected.items()}  # dvc shows lists as text

    from synthset import config
    from synthset.tuning.space import settings_for

    old = config.resolve(yaml.safe_load(before), scale="tiny", dataset="mnist").gan
    new = config.resolve(yaml.safe_load(after), scale="tiny", dataset="mnist").gan
    assert new == settings_for(old, chosen.params, steps=3, train_images=32)  # the trial's settings, epochs included
    again = run_command([_synthset(), "sweep-best", "tiny", "--trial", str(chosen.number)], root, env)
    assert "params.yaml already has these settings: nothing to change" in again.splitlines()


def _refused(command: list[str], cwd: Path, env: dict) -> str:
    """A synthset command that must be refused: exit code 2, nothing on stdout, no traceback; the
    last line of its stderr (TensorFlow's start-up lines may come before it)."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert (result.returncode, result.stdout) == (2, ""), (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.splitlines()[-1]


def test_sweep_best_refuses_a_study_or_trial_it_cannot_use(swept, tmp_path):
    """Every refusal of sweep-best names what is missing, with exit code 2 and no traceback."""
    root, env, *_ = swept
    study = load(root, "tiny")
    best = [_synthset(), "sweep-best"]
    assert _refused(best + ["tiny"], tmp_path, env) == (
        "synthset: error: no study storage at sweeps/studies.journal: run `synthset sweep DATASET --study tiny ...` "
        "first")
    assert _refused(best + ["nope"], root, env) == (
        "synthset: error: no study 'nope' in sweeps/studies.journal; it holds ['tiny']")
    assert _refused(best + ["tiny", "--trial", "99"], root, env) == "synthset: error: study 'tiny' has no complete trial 99"
    pruned = next(t.number for t in study.trials if t.state == TrialState.PRUNED)
    assert _refused(best + ["tiny", "--trial", str(pruned)], root, env) == (
        f"synthset: error: study 'tiny' has no complete trial {pruned}")

    # studies made by hand in a journal of their own: none finished yet, or not made by `synthset sweep`
    journal = tmp_path / "other.journal"
    store = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    optuna.create_study(study_name="empty", storage=store)
    optuna.create_study(study_name="empty-pareto", storage=store, directions=["minimize", "minimize"])
    optuna.create_study(study_name="foreign", storage=store).add_trial(optuna.trial.create_trial(value=1.0))
    other = ["--storage", str(journal)]
    assert _refused(best + ["empty", *other], root, env) == "synthset: error: study 'empty' has no complete trial yet"
    assert _refused(best + ["empty-pareto", *other], root, env) == (
        "synthset: error: study 'empty-pareto' has two objectives; choose one trial of its Pareto front with --trial N "
        "(no complete trial yet)")
    assert _refused(best + ["foreign", *other], root, env) == (
        "synthset: error: study 'foreign' was not made by `synthset sweep`: it records no settings")


def test_sweep_best_will_not_apply_a_setting_every_dataset_shares(swept, tmp_path):
    """With the generator's dropout moved to the shared `gan` section, --apply would change FIDS30's
    too: refused, params.yaml untouched; without --apply the overrides come with a note."""
    root, env = _copy_of(swept, tmp_path)
    text = (root / "params.yaml").read_text()
    for old, new in (("generator: {dropout: 0.09295583653761817}", "generator: {}"),
                     ("generator: {dropout: 0.4}", "generator: {}"),
                     ("    bn_momentum: 0.9\n", "    bn_momentum: 0.9\n    dropout: 0.09295583653761817\n")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (root / "params.yaml").write_text(text)
    study = load(root, "tiny")
    chosen = next(t for t in study.trials if t.state == TrialState.COMPLETE and "baseline" not in t.user_attrs)
    command = [_synthset(), "sweep-best", "tiny", "--trial", str(chosen.number)]
    assert _refused(command + ["--apply"], root, env) == (
        "synthset: error: --apply would change every dataset's gan.generator.dropout; move these settings to mnist.gan "
        "in params.yaml first")
    assert (root / "params.yaml").read_text() == text
    shown = run_command(command, root, env)
    assert _overrides_shown(shown)["gan.generator.dropout"] == str(chosen.params["generator_dropout"])
    assert ("note: gan.generator.dropout are shared by every dataset; move them to mnist.gan to change mnist alone"
            in shown.splitlines())


def test_a_study_refuses_to_continue_under_other_sweep_settings(swept, tmp_path):
    """Its trials would not compare with new ones: refused before any trial or MLflow run, naming
    each changed setting with its old and new value; the study is left as it was."""
    root, env = _copy_of(swept, tmp_path)
    text = (root / "params.yaml").read_text()
    for old, new in (("        steps: 3\n", "        steps: 4\n"), ("objectives: quality ", "objectives: quality_and_speed ")):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    (root / "params.yaml").write_text(text)
    study = load(root, "tiny")
    trials, attrs = [(t.number, t.state, t.params) for t in study.trials], study.user_attrs
    assert _refused(sweep_command("tiny", 8), root, env) == (
        "synthset: error: study 'tiny' in sweeps/studies.journal was run with other sweep settings (steps 3 -> 4, "
        "objectives 'quality' -> 'quality_and_speed'); its trials would not compare with new ones. Use another "
        "--study name, or restore those settings in params.yaml.")
    study = load(root, "tiny")  # not a trial more, not an attribute changed, no other study
    assert [(t.number, t.state, t.params) for t in study.trials] == trials and study.user_attrs == attrs
    assert optuna.get_all_study_names(study._storage) == ["tiny"]
    runs = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}").search_runs(
        [load(root, "tiny").user_attrs["mlflow_experiment_id"]], "tags.`synthset.role` = 'study'")
    assert [r.info.status for r in runs] == ["FINISHED"]  # the study's run was not reopened


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


def test_two_objectives_give_a_pareto_front_without_pruning(warm_project):
    root, env = warm_project
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("objectives: quality ", "objectives: quality_and_speed ", 1))
    log = run_command(sweep_command("speed", 2), root, env)
    assert "pruning is off: Optuna does not prune multi-objective studies" in log
    study = load(root, "speed")
    assert len(study.directions) == 2 and [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    # The second objective is the seconds per step the trial recorded (its clock is tested in
    # test_sweep_space.py): the same number as its user attribute, its MLflow run's metric and its
    # progress line; the steps it timed (2 of 3: not the first) lie inside the trial's MLflow run.
    runs = {int(r.data.tags["synthset.trial"]): r for r in trial_runs(root, "speed")}
    for trial in study.trials:
        speed, run = trial.values[1], runs[trial.number]
        assert math.isfinite(speed) and speed > 0
        assert speed == trial.user_attrs["seconds_per_step"] == run.data.metrics["seconds_per_step"]
        assert trial.values[0] == trial.user_attrs["fid_class_2"] == run.data.metrics["fid"]  # one class: its FID
        assert f"trial {trial.number} COMPLETE fid {trial.values[0]:.4g}, {speed * 1000:.0f} ms/step" in log
        assert 2 * speed * 1000 < run.info.end_time - run.info.start_time
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


GRACE = 10  # seconds: 10 heartbeats, so that a live worker starved of CPU for seconds is not taken for lost


@pytest.fixture(params=["journal", "postgresql"])
def killable(request, project):
    """The project with heartbeats of 1 s and a grace of GRACE s, and the storage to use."""
    root, env = project
    text = (root / "params.yaml").read_text()
    (root / "params.yaml").write_text(text.replace("heartbeat_seconds: 30", "heartbeat_seconds: 1")
                                      .replace("grace_seconds: 90", f"grace_seconds: {GRACE}"))
    storage = None
    if request.param == "postgresql":  # the team's services: the study in PostgreSQL, the runs on the MLflow server
        running, _ = request.getfixturevalue("team_services")
        storage, env = running.optuna_storage, {**env, "MLFLOW_TRACKING_URI": running.tracking_uri}
    return root, env, storage


def _wait_until_silent_past_the_grace(root: Path, url: str, study: str, trial) -> None:
    """Until the storage, opened as a sweep opens it, takes the trial for lost (its heartbeat older
    than grace_seconds). Polled rather than slept: on a loaded machine the last heartbeat may come
    late. At that moment Optuna, told params.yaml's grace, must agree: a trial silent for less than
    grace_seconds may be a live worker's on a busy machine and must not be failed. The 120 s on
    top of the grace only stop a hung test; the check itself has no upper time bound."""
    import warnings

    from synthset import config
    from synthset.tuning.storage import open_storage

    sweep = config.load(root / "params.yaml", dataset="mnist").sweep
    assert (sweep.heartbeat_seconds, sweep.grace_seconds) == (1, GRACE)
    opened = open_storage(url, sweep, workers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        reference = optuna.storages.RDBStorage(url, heartbeat_interval=1, grace_period=GRACE)
    study_id = opened.get_study_id_from_name(study)
    deadline = time.time() + GRACE + 120
    while time.time() < deadline:
        if trial._trial_id in opened._get_stale_trial_ids(study_id):
            assert trial._trial_id in reference._get_stale_trial_ids(study_id), "lost before grace_seconds of silence"
            return
        time.sleep(0.2)
    pytest.fail(f"trial {trial.number} was not taken for lost {GRACE + 120} s after its worker was killed")


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
    if storage:  # the journal needs no wait: the next sweep sees that the trial's process is gone
        _wait_until_silent_past_the_grace(root, storage, "killed", lost[0])

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
    # Trials of 400 steps, not 3: a trial then spends seconds training, so the signal, sent once a
    # trial has started, finds it running. At 40 steps (9 ms each on a 2-core CI machine) trial 0
    # once completed before the signal arrived and nothing was left to interrupt.
    text = (root / "params.yaml").read_text()
    assert text.count("      sweep:\n        steps: 3\n") == 1
    (root / "params.yaml").write_text(text.replace("      sweep:\n        steps: 3\n", "      sweep:\n        steps: 400\n"))
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


def test_a_sweep_of_no_trials_or_no_workers_is_refused_before_any_study_exists(warm_project):
    root, env = warm_project
    for trials, workers in ((0, 1), (1, 0)):
        assert _refused(sweep_command("none", trials, workers), root, env) == (
            f"synthset: error: --n-trials ({trials}) and --workers ({workers}) must be at least 1")
    assert not (root / "sweeps").exists()  # no journal, no study


def test_the_conditional_gan_is_refused_naming_the_setting(warm_project):
    """A sweep tunes GANs per class (tuning.objective.load_data): with
    `mnist.gan.kind: conditional` it is refused before any study or trial exists."""
    root, env = warm_project
    text = (root / "params.yaml").read_text()
    assert text.count("kind: per_class             #") == 1
    (root / "params.yaml").write_text(text.replace("kind: per_class             #", "kind: conditional           #"))
    assert _refused(sweep_command("conditional", 1), root, env) == (
        "synthset: error: mnist's gan.kind is 'conditional': a sweep tunes a GAN per class, trained from scratch or "
        "from a shared GAN (set mnist's gan.kind to one of ['per_class', 'shared_then_per_class'] to sweep)")
    assert not (root / "sweeps").exists()
    experiment = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"]).get_experiment_by_name("synthset-mnist-sweeps")
    assert experiment is None  # no study run either


def test_a_shared_then_per_class_sweep_tunes_the_shared_budget_and_sweep_best_writes_it(warm_project):
    """With `mnist.gan.kind: shared_then_per_class` and a `shared_epochs` range, each trial trains the
    shared GAN for the epochs it drew, then each class from it; trial 0 is the current settings."""
    root, env = warm_project
    text = (root / "params.yaml").read_text()
    text = text.replace("kind: per_class             #", "kind: shared_then_per_class #")
    text = text.replace("shared_epochs: null ", "shared_epochs: [1, 3] ")
    (root / "params.yaml").write_text(text)
    current = config.load(root / "params.yaml", dataset="mnist")
    assert current.gan.kind == "shared_then_per_class" and current.sweep.space.shared_epochs == (1, 3)

    run_command(sweep_command("shared", 2), root, env)
    study = load(root, "shared")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 2
    assert study.trials[0].params["shared_epochs"] == current.gan.shared_epochs  # the baseline
    assert all(1 <= t.params["shared_epochs"] <= 3 for t in study.trials)
    other = next(t for t in study.trials if t.number != 0)  # a drawn trial: it may change shared_epochs
    output = run_command([_synthset(), "sweep-best", "shared", "--trial", str(other.number)], root, env)
    shown = _overrides_shown(output) if "dvc exp run " in output else {}
    if other.params["shared_epochs"] != current.gan.shared_epochs:
        assert shown["scales.tiny.mnist.gan.shared_epochs"] == str(other.params["shared_epochs"])
    else:
        assert "scales.tiny.mnist.gan.shared_epochs" not in shown


def test_an_unreachable_database_is_named_before_any_work(warm_project):
    root, env = warm_project
    result = subprocess.run(sweep_command("x", 2, storage="postgresql://me:secret@127.0.0.1:1/none"), cwd=root,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert "postgresql://me:***@127.0.0.1:1/none is unreachable" in result.stderr and "secret" not in result.stderr
