"""Independent trainings of one stage (each class's GAN, each seed's classifier) in worker processes.

DVC runs stages one at a time, and TensorFlow keeps two cores busy only for large operations: the
small models of the default scale leave one core idle. Running a stage's independent trainings in
several processes, each with its own share of the cores, keeps them all busy.

Each task seeds itself and each worker gets a fixed share of the cores (TensorFlow's thread pools
sized before it starts), so one machine gives the same bytes on every run, in whatever order the
tasks finish. ``SYNTHSET_WORKERS`` caps the number of processes (default: one per core).

Workers are started fresh (``spawn``) and import what their task needs, unless this process has
TensorFlow imported but not started (a child of the warm server, ``synthset.warm``): then they are
forked, and start warm as well.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from synthset.errors import SynthsetError

T = TypeVar("T")


def worker_count(tasks: int) -> int:
    """Processes for ``tasks`` independent trainings: ``SYNTHSET_WORKERS``, else one per core."""
    configured = os.environ.get("SYNTHSET_WORKERS", "")
    if configured:
        if not configured.isdigit() or int(configured) < 1:
            raise SynthsetError(f"SYNTHSET_WORKERS={configured!r}: give a whole number of processes, at least 1")
        wanted = int(configured)
    else:
        wanted = cores()
    return max(1, min(tasks, wanted))


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _pin_threads(threads: int) -> None:
    """Worker start: TensorFlow reads these when it is first imported, which is after this."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")  # several workers share one GPU
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops the workers


def run_tasks(function: Callable[..., T], arguments: Sequence[tuple[Any, ...]]) -> list[T]:
    """``function(*args)`` for each tuple of ``arguments``, in spawned worker processes; results in order.

    ``function`` must be importable (a module-level function) and import TensorFlow itself, so
    that the parent never starts TensorFlow. The first failure is raised here once the other
    running tasks have ended. SIGTERM or Ctrl-C stop every worker with SIGTERM, which each
    training treats as an interruption (its MLflow run KILLED, its checkpoint kept to resume).
    """
    workers = worker_count(len(arguments))
    context = multiprocessing.get_context(start_method())
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_pin_threads,
                               initargs=(max(1, cores() // workers),))
    try:
        futures = [pool.submit(function, *args) for args in arguments]
        return [future.result() for future in futures]
    except KeyboardInterrupt:
        _terminate_children()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)


def _terminate_children() -> None:
    """SIGTERM to the workers (this process's live ``multiprocessing`` children): each one's
    training then ends its run as KILLED."""
    for worker in multiprocessing.active_children():
        worker.terminate()


def start_method() -> str:
    """``fork`` where it saves the workers their imports and is safe (TensorFlow imported, neither
    its runtime nor a database connection started), else ``spawn``."""
    return "fork" if "tensorflow" in sys.modules and not runtime_started() else "spawn"


def runtime_started() -> bool:
    """Whether this process holds what a forked copy must not share, as the operating system sees
    it: TensorFlow's runtime (its thread pools, named ``tf_*``; a GPU's device files), an open
    SQLite database or a network connection (a database's or a tracking server's). Importing
    TensorFlow or MLflow starts none of these; running an operation, or a store's pooled
    connection, does. Where the process cannot be inspected, it counts as started."""
    import psutil

    process = psutil.Process()
    try:
        if any(name.startswith("tf_") for name in _thread_names()):
            return True
        files = [opened.path for opened in process.open_files()]
        if any(path.startswith("/dev/nvidia") or _is_sqlite(path) for path in files):
            return True
        return bool(process.net_connections(kind="inet"))
    except (OSError, psutil.Error):
        return True


def _thread_names() -> list[str]:
    """The names of this process's threads (Linux: ``/proc/self/task/*/comm``)."""
    return [comm.read_text().strip() for comm in Path("/proc/self/task").glob("*/comm")]


def _is_sqlite(path: str) -> bool:
    try:
        with open(path, "rb") as opened:
            return opened.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
