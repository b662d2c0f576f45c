"""synthset repro: the stages of dvc.yaml side by side as their dependencies allow, each a `dvc repro`."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil  # a dependency of dvc
import pytest
import yaml

from synthset import cli, repro
from synthset.errors import SynthsetError

PROJECT = Path(__file__).resolve().parents[1]
# The toy pipeline's build@<name> (build.py in its directory). Overlap is seen without a clock:
# "meet": each build waits for the other to have started (so serialised builds fail, by timeout,
# saying so); "alone": each notes whether the other was running when it started or ended;
# "hold": each runs until SIGTERM, which it notes in <name>.terminated.
BUILD = """\
import os, signal, sys, time
name, mode = sys.argv[1], sys.argv[2]
other = {"a": "b", "b": "a"}[name]
running = lambda who: os.path.exists(who + ".started") and not os.path.exists(who + ".finished")
def stop(signum, frame):
    open(name + ".terminated", "w").write(str(signum))
    sys.exit(128 + signum)
signal.signal(signal.SIGTERM, stop)
open(name + ".pid", "w").write(str(os.getpid()))
saw = running(other)
open(name + ".started", "w").close()
if mode == "meet":
    deadline = time.monotonic() + MEET_TIMEOUT
    while not os.path.exists(other + ".started"):
        if time.monotonic() > deadline:
            sys.exit(f"build {name}: build {other} did not start within {MEET_TIMEOUT} s of it: not run side by side")
        time.sleep(0.05)
elif mode == "hold":
    while True:
        time.sleep(1)
else:
    time.sleep(1)
saw = saw or running(other)
print("building", name, flush=True)
open(name + ".txt", "w").write(open("checked").read() + name)
open(name + ".saw", "w").write(f"build {other} running" if saw else "")
open(name + ".finished", "w").close()
"""
MEET_TIMEOUT = 60  # s; the second build starts about 2 s after the first on an idle machine


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


def _toy_pipeline(root: Path, fail: str = "", mode: str = "alone") -> None:
    """check -> build@a, build@b -> combine; each build runs build.py in ``mode`` (see BUILD)."""
    (root / "build.py").write_text(BUILD.replace("MEET_TIMEOUT", str(MEET_TIMEOUT)))
    stages = {
        "check": {"cmd": "python -c \"open('checked', 'w').write('ok ')\"", "outs": ["checked"]},
        "build": {"foreach": ["a", "b"], "do": {
            "cmd": f"python build.py ${{item}} {mode}" + (f" && test ${{item}} != {fail}" if fail else ""),
            "deps": ["checked", "build.py"], "outs": ["${item}.txt"]}},
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
    """Each build waits for the other to start: run one after the other, the first gives up."""
    _toy_pipeline(toy, mode="meet")
    try:
        steps = repro.reproduce(cli.main, jobs=2, preload=())
    except SynthsetError as error:
        pytest.fail(f"{error}\n{capfd.readouterr().out}")
    assert steps.order == ["check", "build@a", "build@b", "combine"]
    assert (toy / "both.txt").read_text() == "ok aok b"
    out = capfd.readouterr().out
    assert re.search(r"^build@a +\| building a$", out, re.M) and re.search(r"^build@b +\| building b$", out, re.M)
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"check", "build@a", "build@b", "combine"}  # every stage recorded, none lost to the other
    repro.reproduce(cli.main, jobs=2, preload=())
    assert "Running stage" not in capfd.readouterr().out


def test_one_job_runs_the_stages_one_after_the_other(toy):
    _toy_pipeline(toy)
    repro.reproduce(cli.main, jobs=1, preload=())
    assert [(toy / f"{name}.saw").read_text() for name in "ab"] == ["", ""]  # neither saw the other running


def test_a_failed_stage_is_named_starts_nothing_after_it_and_the_others_are_kept(toy):
    _toy_pipeline(toy, fail="b")
    with pytest.raises(SynthsetError, match="stage build@b failed"):
        repro.reproduce(cli.main, jobs=2, preload=())
    lock = yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
    assert "build@a" in lock and "build@b" not in lock and not (toy / "both.txt").exists()


def test_a_bad_job_count_is_refused_before_any_work(toy):
    result = subprocess.run([sys.executable, "-m", "synthset", "--params", str(PROJECT / "params.yaml"), "repro",
                             "--jobs", "0"], capture_output=True, text=True)
    assert result.returncode == 2 and "--jobs 0" in result.stderr and not (toy / "dvc.lock").exists()


# `synthset repro` on the command line, its warm server importing nothing (the toy stages need nothing).
REPRO_CLI = ("import functools, sys; from synthset import cli, repro; "
             "repro.reproduce = functools.partial(repro.reproduce, preload=()); sys.exit(cli.main(sys.argv[1:]))")


def _wait_for(condition, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for {what}"
        time.sleep(0.1)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.faults  # a real SIGTERM of synthset repro: the fault suite
def test_sigterm_reaches_the_running_stages_and_leaves_no_process_behind(toy):
    """A scheduler's SIGTERM to `synthset repro` must stop the stages' own commands, not only their
    `dvc repro` (which dies without passing it on), so that nothing runs on unseen; repro then fails
    as for a stopped stage: the CLI's exit status 2 for a named error."""
    _toy_pipeline(toy, mode="hold")
    env = {k: v for k, v in os.environ.items() if k != "SYNTHSET_WARM_SOCKET"}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{toy / 'mlflow.db'}"
    command = [sys.executable, "-c", REPRO_CLI, "--params", str(PROJECT / "params.yaml"), "repro", "--jobs", "2"]
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    descendants: list[psutil.Process] = []
    try:
        _wait_for(lambda: all((toy / f"{name}.started").exists() for name in "ab") or run.poll() is not None,
                  "both builds to start")
        assert run.poll() is None, f"repro ended before the builds started:\n{run.communicate()}"
        descendants = psutil.Process(run.pid).children(recursive=True)  # dvc, the shells, the builds, the warm server
        builds = [int((toy / f"{name}.pid").read_text()) for name in "ab"]
        assert set(builds) <= {p.pid for p in descendants}
        run.send_signal(signal.SIGTERM)
        try:
            out, err = run.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("repro did not end within 60 s of SIGTERM; still running under it: "
                        + "; ".join(" ".join(p.cmdline()) for p in descendants if not _gone(p.pid)))
        assert [(toy / f"{name}.terminated").read_text() if (toy / f"{name}.terminated").exists() else "no SIGTERM"
                for name in "ab"] == [str(int(signal.SIGTERM))] * 2
        _wait_for(lambda: all(_gone(p.pid) for p in descendants), "every process repro started to end", timeout=30)
    finally:  # a failed test leaves nothing running either
        for process in [psutil.Process(run.pid), *descendants] if run.poll() is None else descendants:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        run.wait()
    assert run.returncode == 2, (out, err)
    assert re.search(r"^synthset: error: stage (build@a, build@b|build@b, build@a) failed or was stopped", err, re.M), err
    assert not list(toy.glob("*.finished")) and "build@a" not in yaml.safe_load((toy / "dvc.lock").read_text())["stages"]
