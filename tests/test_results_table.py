"""`synthset results` builds the headline table from metrics/, and README.md shows exactly its output,
so the front page cannot drift from the committed metrics files; a missing file or key is named."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from conftest import PROJECT

from synthset.cli import main
from synthset.report.headline import results_markdown

# The README's table sits between these two comments (invisible on GitHub and on PyPI), which are also
# the section markers docs/results.md includes it by (pymdownx.snippets).
README_TABLE = re.compile(r"<!-- --8<-- \[start:results\] -->\n(.*?)<!-- --8<-- \[end:results\] -->", re.DOTALL)


def run_results(monkeypatch, capsys, root) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)  # main() sets it; restored after the test
    code = main(["--params", str(PROJECT / "params.yaml"), "results"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def metrics_copy(tmp_path):
    """A project directory holding a copy of the committed metrics/, to break."""
    shutil.copytree(PROJECT / "metrics", tmp_path / "metrics")
    return tmp_path


def test_the_readmes_table_is_the_commands_output(monkeypatch, capsys):
    code, out, err = run_results(monkeypatch, capsys, PROJECT)
    assert code == 0, err
    found = README_TABLE.findall((PROJECT / "README.md").read_text())
    assert len(found) == 1, "README.md needs one results table between its two marker comments"
    assert found[0] == out, ("README.md's results table differs from what `synthset results` prints from metrics/: "
                             "replace the lines between the marker comments with its output")


def test_each_cell_is_read_from_its_metrics_file(metrics_copy):
    study1 = metrics_copy / "metrics" / "mnist" / "study1.json"
    record = json.loads(study1.read_text())
    record["study1"]["mnist"]["val_accuracy_synthetic"] = 0.5
    del record["study1"]["mnist"]["val_accuracy_synthetic_std"]  # no std: the mean alone
    study1.write_text(json.dumps(record))
    quality = metrics_copy / "metrics" / "fids30" / "quality.json"
    record = json.loads(quality.read_text())
    record["quality"]["fids30"].update(fid=1.25, fid_floor=0.75)
    quality.write_text(json.dumps(record))
    (metrics_copy / "metrics" / "study2_on_synth.json").write_text(json.dumps(
        {"linear_softmax": 0.1, "fcnn": 0.2, "cnn_4l": 0.3, "cnn_5l": 0.4}))

    lines = results_markdown(metrics_copy, {"mnist": "MNIST", "fids30": "FIDS30"}).splitlines()

    assert lines[0] == "| study 1 | MNIST | FIDS30 |"
    assert next(line for line in lines if line.startswith("| CNN on synthetic |")).split(" | ")[1] == "0.500"
    assert next(line for line in lines if line.startswith("| FID (floor) |")).endswith("| 1.250 (0.750) |")
    assert "| synthetic | 0.100 | 0.200 | 0.300 | 0.400 |" in lines


def test_a_dataset_left_out_of_datasets_is_left_out(metrics_copy):
    shutil.rmtree(metrics_copy / "metrics" / "mnist")
    (metrics_copy / "metrics" / "study2_on_real.json").unlink()
    table = results_markdown(metrics_copy, {"fids30": "FIDS30"})
    assert table.splitlines()[0] == "| study 1 | FIDS30 |"
    assert "study 2" not in table  # the poster's study is MNIST's


@pytest.mark.parametrize("missing", ["metrics/mnist/study1.json", "metrics/fids30/quality.json",
                                     "metrics/study2_on_synth.json"])
def test_a_missing_metrics_file_is_named(metrics_copy, monkeypatch, capsys, missing):
    (metrics_copy / missing).unlink()
    code, out, err = run_results(monkeypatch, capsys, metrics_copy)
    assert (code, out) == (2, "")
    assert err.startswith(f"synthset: error: {missing}: missing; the pipeline writes it (`synthset repro`")


def test_a_missing_key_is_named(metrics_copy, monkeypatch, capsys):
    quality = metrics_copy / "metrics" / "mnist" / "quality.json"
    record = json.loads(quality.read_text())
    del record["quality"]["mnist"]["recall_floor"]
    quality.write_text(json.dumps(record))
    code, out, err = run_results(monkeypatch, capsys, metrics_copy)
    assert (code, out) == (2, "")
    assert err.startswith("synthset: error: metrics/mnist/quality.json: no `recall_floor` (has ")
