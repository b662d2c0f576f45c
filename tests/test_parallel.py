"""synthset.parallel: a stage's independent trainings in worker processes."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from synthset import parallel
from synthset.errors import SynthsetError


def _threads_and_pid(label):
    return label, os.environ["TF_NUM_INTRAOP_THREADS"], os.getpid()


def _fail_on(label):
    if label == 2:
        raise SynthsetError(f"class {label} failed")
    return label


def _five_cores(monkeypatch):
    """This process may run on 5 cores (its affinity mask), whatever the machine has."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4})


def test_results_come_back_in_order_from_workers_with_their_share_of_the_cores(monkeypatch):
    """5 cores shared by 2 workers: 2 threads each (the odd core is left over, never over-booked)."""
    _five_cores(monkeypatch)
    monkeypatch.setenv("SYNTHSET_WORKERS", "2")
    results = parallel.run_tasks(_threads_and_pid, [(label,) for label in range(5)])
    assert [label for label, _, _ in results] == list(range(5))
    assert {threads for _, threads, _ in results} == {"2"}
    assert os.getpid() not in {pid for _, _, pid in results}  # never in the stage's own process
    assert len({pid for _, _, pid in results}) <= 2


def test_a_failed_task_raises_its_error_in_the_stage(monkeypatch):
    monkeypatch.setenv("SYNTHSET_WORKERS", "2")
    with pytest.raises(SynthsetError, match="class 2 failed"):
        parallel.run_tasks(_fail_on, [(label,) for label in range(4)])


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_worker_count_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("SYNTHSET_WORKERS", value)
    with pytest.raises(SynthsetError, match="SYNTHSET_WORKERS"):
        parallel.worker_count(3)


def test_worker_count_never_exceeds_the_tasks(monkeypatch):
    _five_cores(monkeypatch)
    assert parallel.cores() == 5  # the cores this process may use, not the machine's
    monkeypatch.setenv("SYNTHSET_WORKERS", "8")
    assert parallel.worker_count(3) == 3
    assert parallel.worker_count(100) == 8
    monkeypatch.delenv("SYNTHSET_WORKERS")
    assert parallel.worker_count(100) == 5  # one per core by default
    assert parallel.worker_count(2) == 2


def test_a_worker_gets_at_least_one_thread(monkeypatch):
    """3 workers on 2 cores: 2 // 3 is 0, but each worker still gets one thread."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv("SYNTHSET_WORKERS", "3")
    results = parallel.run_tasks(_threads_and_pid, [(label,) for label in range(3)])
    assert {threads for _, threads, _ in results} == {"1"}


def test_sigterm_to_the_stage_stops_every_worker(tmp_path):
    """The workers get SIGTERM too, so no training outlives an interrupted stage."""
    script = tmp_path / "stage.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys, time
        from synthset import parallel

        def sleeper(label):
            open(os.path.join({str(tmp_path)!r}, f"worker_{{os.getpid()}}"), "w").close()
            time.sleep(120)

        if __name__ == "__main__":
            os.environ["SYNTHSET_WORKERS"] = "2"
            parallel.run_tasks(sleeper, [(0,), (1,)])
    """))
    stage = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while len(list(tmp_path.glob("worker_*"))) < 2:
        assert stage.poll() is None, stage.stdout.read()
        assert time.time() < deadline, "workers did not start"
        time.sleep(0.1)
    workers = [int(path.name.split("_")[1]) for path in tmp_path.glob("worker_*")]
    stage.send_signal(signal.SIGTERM)
    stage.wait(timeout=60)
    assert stage.returncode != 0
    time.sleep(0.5)
    for pid in workers:
        assert not _alive(pid), f"worker {pid} outlived the stage"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = open(f"/proc/{pid}/stat").read().split()[2] if os.path.exists(f"/proc/{pid}/stat") else "X"
    return status not in ("Z", "X")
