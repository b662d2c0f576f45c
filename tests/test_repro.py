"""synthset repro: each dataset's branch of the pipeline in its own `dvc repro`, side by side."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthset import repro
from synthset.errors import SynthsetError

PROJECT = Path(__file__).resolve().parents[1]
BUILD = ("import sys, time; name = sys.argv[1]; time.sleep(float(sys.argv[2])); "
         "print('building', name, flush=True); open(name + '.txt', 'w').write(open('checked').read() + name)")


def test_the_projects_pipeline_splits_into_one_branch_per_dataset():
    steps = repro.plan(["mnist", "fids30"], root=str(PROJECT))
    assert steps.shared == ["data.dvc", "check_data"]
    assert steps.rest == ["evaluate_study2", "report"]
    assert {name.split("@")[1] for name in steps.branches["mnist"]} == {"mnist"}
    assert "train_study2@mnist" in steps.branches["mnist"] and "train_gan@fids30" in steps.branches["fids30"]
    for names in steps.branches.values():  # dependencies first, as `dvc repro --single-item` runs them
        order = {name: index for index, name in enumerate(names)}
        assert order[f"prepare@{names[0].split('@')[1]}"] == 0
        assert order[names[0].replace("prepare", "train_gan")] < order[names[0].replace("prepare", "select_epochs")]
        assert order[names[0].replace("prepare", "generate")] < order[names[0].replace("prepare", "train_cnn_on_synthetic")]


def _toy_pipeline(root: Path, fail: str = "") -> None:
    """check -> build@a, build@b (each sleeps, so they overlap) -> combine."""
    stages = {
        "check": {"cmd": "python -c \"open('checked', 'w').write('ok ')\"", "outs": ["checked"]},
        "build": {"foreach": ["a", "b"], "do": {
            "cmd": f"python -c \"{BUILD}\" ${{item}} 2" + (f" && test ${{item}} != {fail}" if fail else ""),
            "deps": ["checked"], "outs": ["${item}.txt"]}},
        "combine": {"cmd": "cat a.txt b.txt > both.txt", "deps": ["a.txt", "b.txt"], "outs": ["both.txt"]},
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=root, check=True)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_branches_run_side_by_side_and_a_second_call_does_nothing(toy, capfd):
    _toy_pipeline(toy)
    steps = repro.reproduce(["a", "b"], preload=())
    assert (steps.shared, steps.branches, steps.rest) == (["check"], {"a": ["build@a"], "b": ["build@b"]}, ["combine"])
    assert (toy / "both.txt").read_text() == "ok aok b"
    out = capfd.readouterr().out
    assert "a | building a" in out and "b | building b" in out  # each branch's lines carry its name
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"check", "build@a", "build@b", "combine"}  # both branches recorded, neither lost
    repro.reproduce(["a", "b"], preload=())
    assert "Running stage" not in capfd.readouterr().out


def test_a_failed_branch_is_named_and_the_other_branch_is_kept(toy, capfd):
    _toy_pipeline(toy, fail="b")
    with pytest.raises(SynthsetError, match="the pipeline.s b branch failed"):
        repro.reproduce(["a", "b"], preload=())
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert "build@a" in lock and "build@b" not in lock and not (toy / "both.txt").exists()


def test_a_branch_that_depends_on_another_datasets_stage_is_refused(toy):
    _toy_pipeline(toy)
    raw = yaml.safe_load((toy / "dvc.yaml").read_text())
    raw["stages"]["use"] = {"foreach": ["a", "b"], "do": {"cmd": "cat a.txt > ${item}.used", "deps": ["a.txt"],
                                                           "outs": ["${item}.used"]}}
    (toy / "dvc.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(SynthsetError, match="the b stages depend on build@a of another dataset"):
        repro.plan(["a", "b"])
