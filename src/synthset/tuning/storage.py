"""Where studies live: a journal file in the project by default, a database when machines share one.

The journal file is safe for several worker processes on one machine (Optuna's FAQ advises against
SQLite for parallel workers). A ``postgresql://`` URL lets workers on several machines share a
study; there Optuna's heartbeat turns a dead worker's trial into FAIL and queues it again
(``queue_again``). Optuna's journal storage has no heartbeat: there a trial whose worker process on
this machine is gone is found by ``lost_trials``, and queued again the same way.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import os
import socket
import time
import warnings
from pathlib import Path

import optuna
from optuna.trial import TrialState

from synthset.config import SweepParams
from synthset.errors import SynthsetError, without_password

DEFAULT_STORAGE = Path("sweeps") / "studies.journal"  # git-ignored


def is_journal(url: str) -> bool:
    return "://" not in url


def open_storage(url: str, sweep: SweepParams | None, workers: int) -> optuna.storages.BaseStorage:
    """The study storage at ``url`` (a journal file path, ``sqlite:///`` or ``postgresql://``);
    refuses what would corrupt or lose trials, and names the URL when it cannot be reached.
    ``sweep`` None: for reading, without heartbeats."""
    if is_journal(url):
        from optuna.storages.journal import JournalFileBackend

        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(url))
    scheme = url.split("://", 1)[0].split("+", 1)[0]
    if scheme == "sqlite" and workers > 1:
        raise SynthsetError(f"storage {url}: SQLite is not safe for {workers} parallel workers (Optuna's FAQ); "
                            f"leave --storage out for the project's journal file, or use postgresql://")
    if scheme not in ("sqlite", "postgresql"):
        raise SynthsetError(f"storage {without_password(url)}: unsupported scheme {scheme!r}; use a journal file path "
                            f"(the default, {DEFAULT_STORAGE}), sqlite:///FILE (one worker) or postgresql://...")
    heartbeat = {} if sweep is None else dict(
        heartbeat_interval=sweep.heartbeat_seconds, grace_period=sweep.grace_seconds,
        heartbeat_stale_trial_callback=lambda study, trial: queue_again(study, trial, sweep.retries))
    try:
        with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5, and what we need
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True} if scheme == "postgresql" else None, **heartbeat)
    except Exception as error:  # noqa: BLE001 - driver, network and login errors all mean: unusable
        raise SynthsetError(f"study storage {without_password(url)} is unreachable: {type(error).__name__}: "
                            f"{str(error).strip()[:300]}") from None


class ClaimLock:
    """Held while a worker counts the finished trials and asks for a new one, so that the study ends
    with exactly ``--n-trials`` trials however many workers race for the last one. A file lock
    beside a journal or SQLite file; a PostgreSQL advisory lock on a shared database."""

    def __init__(self, url: str, study: str):
        self.url, self.study, self._held = url, study, False
        self._file = self._connection = None

    def acquire(self) -> None:
        if is_journal(self.url) or self.url.startswith("sqlite"):
            path = Path(self.url.split("///", 1)[-1] + ".claim")
            self._file = path.open("a")
            fcntl.flock(self._file, fcntl.LOCK_EX)
        else:
            import sqlalchemy

            key = int.from_bytes(hashlib.sha256(f"synthset-sweep:{self.study}".encode()).digest()[:8], "big", signed=True)
            self._connection = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool).connect()
            self._connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": key})
            self._key = key
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            import sqlalchemy

            self._connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            self._connection.close()
            self._connection = None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(worker: str) -> bool:
    """Whether a worker of this machine still runs (its process exists and is a synthset sweep)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True  # another machine's: its heartbeat (database storages) decides
    try:
        return b"sweep" in Path(f"/proc/{int(pid)}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False


def lost_trials(study: optuna.Study, grace_seconds: int) -> list:
    """RUNNING trials of a journal study whose worker on this machine is gone (killed, crashed).
    A trial that never recorded its worker counts as lost once older than the grace period."""
    now = time.time()
    lost = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = trial.user_attrs.get("worker")
        if worker is not None:
            if not _alive(worker):
                lost.append(trial)
        elif trial.datetime_start and now - trial.datetime_start.timestamp() > grace_seconds:
            lost.append(trial)
    return lost


def fail_and_retry(study: optuna.Study, trial, retries: int) -> bool:
    """Mark a lost trial FAIL and queue its values again (at most ``retries`` times in a row);
    False when another worker got there first."""
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "lost", f"worker {trial.user_attrs.get('worker', '?')} is gone")
        if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    queue_again(study, storage.get_trial(trial._trial_id), retries)
    return True


# What a queued retry keeps of the lost trial's user attributes: whether it was the baseline. Its
# worker, MLflow run, scores and failure belong to the lost run (a retry's own failure is recorded
# only where none is set yet).
KEPT_ON_RETRY = ("baseline",)


def queue_again(study: optuna.Study, trial, retries: int) -> None:
    """Queue a trial's values to run again, unless its values already ran ``retries`` times more:
    Optuna's ``RetryHeartbeatStaleTrialCallback`` (its ``failed_trial`` and ``retry_history``
    attributes), given the trial with only the user attributes of ``KEPT_ON_RETRY``."""
    kept = copy.deepcopy(trial)
    kept.user_attrs = {key: value for key, value in trial.user_attrs.items() if key in KEPT_ON_RETRY}
    with warnings.catch_warnings():  # "experimental" in Optuna 5, as the heartbeat that calls it
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=retries)(study, kept)


def counts_toward_total(trial) -> bool:
    """Trials that use up ``--n-trials``: finished or running ones, and failures of the trial's own
    (refused settings, divergence, an error). A trial lost with its worker, or stopped by Ctrl-C or
    SIGTERM, does not: it is queued again."""
    if trial.state in (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("failure", "interrupted") != "interrupted"
