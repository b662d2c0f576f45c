"""synthset repro: the stages of dvc.yaml side by side as their dependencies allow, each a `dvc repro`."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from synthset import repro
from synthset.errors import SynthsetError

PROJECT = Path(__file__).resolve().parents[1]
# Each build writes its start and end times, so the test can see two builds overlap.
BUILD = ("import sys, time; name = sys.argv[1]; start = time.time(); time.sleep(2); print('building', name, "
         "flush=True); open(name + '.txt', 'w').write(open('checked').read() + name); "
         "open(name + '.times', 'w').write(f'{start} {time.time()}')")


def test_the_projects_stages_start_dependencies_first_and_long_chains_early():
    steps = repro.plan(root=str(PROJECT))
    position = {name: index for index, name in enumerate(steps.order)}
    assert set(steps.order[:2]) == {"data.dvc", "check_data"}  # what every dataset needs
    for stage, needs in steps.needs.items():  # never before what it depends on
        assert all(position[need] < position[stage] for need in needs), stage
    assert steps.needs["select_epochs@mnist"] == {"train_gan@mnist", "train_features@mnist", "prepare@mnist"}
    # Of the stages ready after prepare, the GANs (most stages downstream) come before the real-data CNNs.
    assert position["train_gan@mnist"] < position["train_cnn_on_real@mnist"]
    assert steps.order[-1] == "report"


def _toy_pipeline(root: Path, fail: str = "") -> None:
    """check -> build@a, build@b (2 s each) -> combine."""
    stages = {
        "check": {"cmd": "python -c \"open('checked', 'w').write('ok ')\"", "outs": ["checked"]},
        "build": {"foreach": ["a", "b"], "do": {
            "cmd": f"python -c \"{BUILD}\" ${{item}}" + (f" && test ${{item}} != {fail}" if fail else ""),
            "deps": ["checked"], "outs": ["${item}.txt", {"${item}.times": {"cache": False}}]}},
        "combine": {"cmd": "cat a.txt b.txt > both.txt", "deps": ["a.txt", "b.txt"], "outs": ["both.txt"]},
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    for command in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(command, cwd=root, check=True)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_independent_stages_run_side_by_side_and_a_second_call_does_nothing(toy, capfd):
    _toy_pipeline(toy)
    steps = repro.reproduce(jobs=2, preload=())
    assert steps.order == ["check", "build@a", "build@b", "combine"]
    assert (toy / "both.txt").read_text() == "ok aok b"
    (start_a, end_a), (start_b, end_b) = (map(float, (toy / f"{name}.times").read_text().split()) for name in "ab")
    assert start_b < end_a and start_a < end_b  # the two builds overlapped
    out = capfd.readouterr().out
    assert re.search(r"^build@a +\| building a$", out, re.M) and re.search(r"^build@b +\| building b$", out, re.M)
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"check", "build@a", "build@b", "combine"}  # every stage recorded, none lost to the other
    repro.reproduce(jobs=2, preload=())
    assert "Running stage" not in capfd.readouterr().out


def test_one_job_runs_the_stages_one_after_the_other(toy):
    _toy_pipeline(toy)
    repro.reproduce(jobs=1, preload=())
    (start_a, end_a), (start_b, end_b) = (map(float, (toy / f"{name}.times").read_text().split()) for name in "ab")
    assert end_a <= start_b or end_b <= start_a


def test_a_failed_stage_is_named_starts_nothing_after_it_and_the_others_are_kept(toy):
    _toy_pipeline(toy, fail="b")
    with pytest.raises(SynthsetError, match="stage build@b failed"):
        repro.reproduce(jobs=2, preload=())
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert "build@a" in lock and "build@b" not in lock and not (toy / "both.txt").exists()


def test_a_bad_job_count_is_refused_before_any_work(toy):
    result = subprocess.run([sys.executable, "-m", "synthset", "--params", str(PROJECT / "params.yaml"), "repro",
                             "--jobs", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "--jobs 0" in result.stderr and not (toy / "dvc.lock").exists()
