"""Recorded variants: a `dvc exp run`'s headline numbers kept as a committed file and shown beside the
default run's in the report's summary."""

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import PROJECT


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A git + DVC repository whose HEAD has params.yaml and the default run's metrics."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    for dataset in ("mnist", "fids30"):
        for name in ("study1.json", "quality.json", "features.json"):
            (tmp_path / "metrics" / dataset).mkdir(parents=True, exist_ok=True)
            shutil.copy(PROJECT / "metrics" / dataset / name, tmp_path / "metrics" / dataset / name)
    for command in (["git", "init", "-q"], ["dvc", "init", "-q"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "default run"]):
        subprocess.run(command, check=True, capture_output=True)
    return tmp_path


def test_a_variant_keeps_its_changed_settings_and_numbers_and_the_summary_shows_it(repo):
    from synthset.report import dashboards, variants

    raw = yaml.safe_load((repo / "params.yaml").read_text())
    raw["scales"]["default"]["mnist"]["gan"]["kind"] = "conditional"
    (repo / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    study1 = json.loads((repo / "metrics/mnist/study1.json").read_text())
    default_synthetic = study1["study1"]["mnist"]["val_accuracy_synthetic"]
    study1["study1"]["mnist"].update(val_accuracy_synthetic=0.951, val_accuracy_synthetic_std=0.002, synthetic_gap_pp=0.8)
    (repo / "metrics/mnist/study1.json").write_text(json.dumps(study1))

    path = variants.record("mnist-conditional", "dvc exp run -S scales.default.mnist.gan.kind=conditional", 1000.0)

    entry = json.loads(path.read_text())
    assert entry["params"] == {"scales.default.mnist.gan.kind": {"old": "shared_then_per_class", "new": "conditional"}}
    assert entry["metrics"]["mnist"]["study1"]["val_accuracy_synthetic"] == 0.951
    assert "fid" in entry["metrics"]["mnist"]["quality"] and "holdout_accuracy" in entry["metrics"]["mnist"]["features"]

    subprocess.run(["git", "checkout", "--", "params.yaml", "metrics/mnist/study1.json"], check=True)
    rows = dashboards.variant_rows(["mnist", "fids30"])
    assert len(rows) == 1  # FIDS30's numbers did not change: no row
    row = rows.iloc[0]
    assert "mnist-conditional" in row["question"]
    assert row["ours"].startswith("0.951 ± 0.002 (0.8)")
    assert f"this run: {default_synthetic:.3f}" in row["reference"] and "paper: about 3" in row["reference"]
    assert "scales.default.mnist.gan.kind=conditional" in row["source"]


def test_recording_without_the_experiments_numbers_names_the_missing_file(repo):
    from synthset.errors import SynthsetError
    from synthset.report import variants

    (repo / "metrics/fids30/quality.json").unlink()
    with pytest.raises(SynthsetError, match="metrics/fids30/quality.json missing"):
        variants.record("broken", "dvc exp run", None)
