"""Recorded experiments: a `dvc exp run`'s overrides, commit, changed datasets and their numbers, kept as
a committed file and shown beside the default run's in the report's summary, marked stale once the
default run's numbers are no longer those it ran beside."""

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import PROJECT



def _params_of() -> dict:
    """Each dataset's settings from the project's params.yaml (the report reads titles and papers there)."""
    from synthset import config

    return {dataset: config.load(dataset=dataset) for dataset in ("mnist", "fids30")}

def git(*args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                          capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git + DVC repository whose HEAD has params.yaml and the default run's metrics."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    for dataset in ("mnist", "fids30"):
        for name in ("study1.json", "quality.json", "features.json"):
            (tmp_path / "metrics" / dataset).mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT / "metrics" / dataset / name, tmp_path / "metrics" / dataset / name)
    git("init", "-q")
    subprocess.run(["dvc", "init", "-q"], check=True, capture_output=True)
    git("add", "-A")
    git("commit", "-qm", "default run")
    return tmp_path


def run_mnist_conditional(repo) -> float:
    """What `dvc exp run -S scales.default.mnist.gan.kind=conditional` leaves in the workspace: the
    override in params.yaml, MNIST's new numbers; FIDS30's files stay the default run's."""
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["scales"]["default"]["mnist"]["gan"]["kind"] = "conditional"
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    study1 = json.loads((repo / "metrics/mnist/study1.json").read_text())
    default_synthetic = study1["study1"]["mnist"]["val_accuracy_synthetic"]
    study1["study1"]["mnist"].update(val_accuracy_synthetic=0.951, val_accuracy_synthetic_std=0.002, synthetic_gap_pp=0.8)
    (repo / "metrics/mnist/study1.json").write_text(json.dumps(study1))
    return default_synthetic


def test_an_experiment_keeps_its_overrides_commit_and_only_the_datasets_it_changed(repo):
    from synthset.report import dashboards, experiments

    default_synthetic = run_mnist_conditional(repo)
    commit = git("rev-parse", "HEAD")

    path = experiments.record("mnist-conditional", "dvc exp run -S scales.default.mnist.gan.kind=conditional", 1000.0)

    assert (repo / path) == repo / "metrics/experiments/mnist-conditional.json"
    entry = json.loads(path.read_text())
    assert entry["overrides"] == {"scales.default.mnist.gan.kind": {"old": "shared_then_per_class", "new": "conditional"}}
    assert entry["commit"] == commit and entry["datasets"] == ["mnist"]
    assert set(entry["metrics"]) == {"mnist"}  # FIDS30's files were in the workspace, unchanged: not kept
    assert entry["metrics"]["mnist"]["study1"]["val_accuracy_synthetic"] == 0.951
    assert "fid" in entry["metrics"]["mnist"]["quality"] and "holdout_accuracy" in entry["metrics"]["mnist"]["features"]

    git("checkout", "--", "params.yaml", "metrics/mnist/study1.json")  # back to the default run
    git("add", "metrics/experiments")
    git("commit", "-qm", "the experiment's record")  # HEAD moves on; the default run's numbers do not
    rows = dashboards.experiment_rows(["mnist", "fids30"], _params_of())
    assert list(rows["question"]) == [
        "MNIST, experiment mnist-conditional: CNN trained on synthetic only, real validation accuracy (gap to real, points)"]
    row = rows.iloc[0]
    assert row["ours"].startswith("0.951 ± 0.002 (0.8)")
    assert f"this run: {default_synthetic:.3f}" in row["reference"] and "paper: about 3" in row["reference"]
    assert row["source"] == f"experiment mnist-conditional at commit {commit[:7]}: scales.default.mnist.gan.kind=conditional"


def test_a_record_made_before_the_default_run_changed_is_marked_stale(repo):
    from synthset.report import dashboards, experiments

    run_mnist_conditional(repo)
    recorded_at = git("rev-parse", "--short=7", "HEAD")
    experiments.record("mnist-conditional", "dvc exp run -S scales.default.mnist.gan.kind=conditional", None)
    git("checkout", "--", "params.yaml", "metrics/mnist/study1.json")
    study1 = json.loads((repo / "metrics/mnist/study1.json").read_text())
    study1["study1"]["mnist"]["val_accuracy_synthetic"] = 0.9612  # the default run, re-run with other results
    (repo / "metrics/mnist/study1.json").write_text(json.dumps(study1))
    git("add", "-A")
    git("commit", "-qm", "default run again")

    [record] = experiments.load_all()
    assert experiments.stale(record, "mnist")
    rows = dashboards.experiment_rows(["mnist", "fids30"], _params_of())
    assert len(rows) == 1 and f"experiment mnist-conditional, stale (recorded at {recorded_at}):" in rows.iloc[0]["question"]
    assert "this run: 0.961" in rows.iloc[0]["reference"]


@pytest.mark.parametrize(("override", "change", "datasets"), [
    ("mnist.gan.optimizer", {"old": "rmsprop", "new": "adam"}, ["mnist"]),
    ("scales.paper.fids30.classifier.epochs", {"old": 48, "new": 10}, ["fids30"]),
    ("gan.latent_dim", {"old": 100, "new": 64}, ["mnist", "fids30"]),
    ("classifier.dropout", {"old": 0.5, "new": 0.3}, ["mnist", "fids30"]),
    ("seed", {"old": 42, "new": 43}, ["mnist", "fids30"]),
    ("scale", {"old": "default", "new": "paper"}, ["mnist", "fids30"]),
    ("study2.learning_rate", {"old": 0.001, "new": 0.01}, ["mnist"]),  # study 2 reads MNIST only
    ("datasets", {"old": "['mnist']", "new": "['mnist', 'fids30']"}, ["fids30"]),  # DVC's diff gives lists as str
])
def test_the_changed_datasets_follow_where_each_override_is_set(override, change, datasets):
    from synthset.report.experiments import changed_datasets

    assert changed_datasets({override: change}, ["mnist", "fids30"]) == datasets


def test_an_override_outside_params_yaml_is_named():
    from synthset.errors import SynthsetError
    from synthset.report.experiments import changed_datasets

    with pytest.raises(SynthsetError, match="override lr.rate: neither a shared setting of params.yaml nor one of a dataset the experiment ran"):
        changed_datasets({"lr.rate": {"old": 1, "new": 2}}, ["mnist"])


def test_a_record_with_numbers_of_a_dataset_it_did_not_change_is_refused(tmp_path, monkeypatch):
    from synthset.errors import SynthsetError
    from synthset.report import experiments

    monkeypatch.chdir(tmp_path)
    kept = json.loads((PROJECT / "metrics/experiments/mnist-conditional.json").read_text())
    kept["metrics"]["fids30"] = kept["metrics"]["mnist"]
    (tmp_path / "metrics/experiments").mkdir(parents=True)
    (tmp_path / "metrics/experiments/mnist-conditional.json").write_text(json.dumps(kept))
    with pytest.raises(SynthsetError, match=r"metrics/experiments/mnist-conditional.json: not a recorded experiment "
                                            r"\(metrics hold \['fids30', 'mnist'\], expected exactly the changed datasets \['mnist'\]"):
        experiments.load_all()


def test_the_conditional_gan_record_shows_mnist_only_and_stale(monkeypatch):
    """The committed record ran on 50860c4, whose default-run numbers have been re-measured since
    (and ``mnist.gan.kind`` is now set per scale): its MNIST row is stale, FIDS30 has none."""
    from synthset.report import dashboards, experiments

    monkeypatch.chdir(PROJECT)
    [record] = [e for e in experiments.load_all() if e.name == "mnist-conditional"]
    assert record.datasets == ["mnist"] and record.short_commit == "50860c4"
    assert record.overrides["mnist.gan.kind"].new == "conditional"
    rows = dashboards.experiment_rows(["mnist", "fids30"], _params_of())
    [row] = rows[rows["question"].str.contains("mnist-conditional")].itertuples()
    assert row.question.startswith("MNIST, experiment mnist-conditional, stale (recorded at 50860c4): ")
    assert row.ours == "0.957 ± 0.001 (2.1)"
    assert not rows["question"].str.startswith("FIDS30").any()


def test_recording_without_the_experiments_numbers_names_the_missing_file(repo):
    from synthset.errors import SynthsetError
    from synthset.report import experiments

    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["seed"] = 43  # every dataset: FIDS30's numbers are needed too
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    (repo / "metrics/fids30/quality.json").unlink()
    with pytest.raises(SynthsetError, match="metrics/fids30/quality.json missing"):
        experiments.record("broken", "dvc exp run -S seed=43", None)
