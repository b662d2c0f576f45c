"""``synthset sweep``: prepare a study, run trials in K worker processes until it holds N, stop cleanly.

The launcher creates (or continues) the study and its MLflow parent run, queues the current
settings as the baseline trial of a new study, and starts the workers; each worker claims a trial
under a lock (so the total is exact), runs it in process and reports a line per trial. Ctrl-C or
SIGTERM stops every worker at once: its running trial ends FAIL, is queued again, and the next
`synthset sweep` with the same study name starts with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from synthset import config, seeds
from synthset.tracking import store as tracking_store
from synthset.tracking import sweeps
from synthset.config import Params
from synthset.errors import SynthsetError, without_password
from synthset.tuning import space, storage
from synthset.tuning.objective import Objective, SweepData, directions, load_data

INTERRUPTED = 130


@dataclass(frozen=True)
class SweepRequest:
    """What to run: ``n_trials`` is the study's total across all workers, not per worker."""

    dataset: str
    study: str
    n_trials: int
    workers: int
    storage_url: str
    params_file: str


def study_settings(params: Params, data: SweepData) -> dict:
    """What must not change while a study continues, or its trials stop being comparable."""
    counts = [len(data.images[label]) for label in data.labels]
    return {"dataset": params.dataset, "classes": params.sweep_labels, "steps": params.sweep.steps,
            "train_images": round(sum(counts) / len(counts)),
            "metric": params.quality.selection_metric, "objectives": params.sweep.objectives,
            "image_shape": list(params.data.image_shape)}


def sampler_of(params: Params, worker_index: int) -> optuna.samplers.BaseSampler:
    seed = seeds.sweep_sampler(params.seed, worker_index)
    if params.sweep.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, n_startup_trials=params.sweep.startup_trials, constant_liar=True)


def pruner_of(params: Params) -> optuna.pruners.BasePruner:
    p = params.sweep.pruner
    if p.kind == "none" or params.sweep.objectives != "quality":
        return optuna.pruners.NopPruner()
    if p.kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=p.startup_trials, n_warmup_steps=p.warmup_classes)
    if p.kind == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=p.min_classes, reduction_factor=p.reduction_factor)
    with warnings.catch_warnings():  # "experimental" since Optuna 3.6
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.pruners.WilcoxonPruner(p_threshold=p.p_threshold, n_startup_steps=p.startup_classes)


def load_study(params: Params, request: SweepRequest, data: SweepData, worker_index: int = 0) -> optuna.Study:
    wanted = directions(params)
    store = storage.open_storage(request.storage_url, params.sweep, request.workers)
    study = optuna.create_study(study_name=request.study, storage=store, directions=wanted,
                                sampler=sampler_of(params, worker_index), pruner=pruner_of(params),
                                load_if_exists=True)
    recorded, now = study.user_attrs.get("settings"), study_settings(params, data)
    if recorded is not None and recorded != now:
        changed = ", ".join(f"{key} {recorded.get(key)!r} -> {now[key]!r}" for key in now if recorded.get(key) != now[key])
        raise SynthsetError(f"study {request.study!r} in {without_password(request.storage_url)} was run with other "
                            f"sweep settings ({changed}); its trials would not compare with new ones. "
                            "Use another --study name, or restore those settings in params.yaml.")
    if [d.name.lower() for d in study.directions] != wanted:
        raise SynthsetError(f"study {request.study!r} optimises {[d.name.lower() for d in study.directions]}, "
                            f"sweep.objectives={params.sweep.objectives!r} needs {wanted}: use another --study name")
    return study


def prepare(params: Params, request: SweepRequest, data: SweepData) -> optuna.Study:
    """Create or continue the study: its settings, the baseline trial, the MLflow parent run."""
    study = load_study(params, request, data)
    if "settings" not in study.user_attrs:
        study.set_user_attr("settings", study_settings(params, data))
        study.set_user_attr("scale", config.selected_scale(request.params_file))
    if not study.get_trials(deepcopy=False):
        baseline = space.defaults(params.gan, params.sweep.space)
        outside = [name for name, value in baseline.items() if name in ("optimizer", "batch_size", "generator_widths",
                   "discriminator_widths") and value not in _choices(params, name)]
        if outside:
            print(f"[sweep] the current settings are outside sweep.space ({', '.join(outside)}): no baseline trial")
        else:
            study.enqueue_trial(baseline, user_attrs={"baseline": "params.yaml"})
    parent_id, experiment_id = sweeps.open_study_run(params.dataset, request.study, {
        "study": request.study, "storage": without_password(request.storage_url), "objective":
        params.quality.selection_metric, **{f"sweep.{k}": v for k, v in params.sweep.model_dump().items()}}, data.inputs)
    study.set_user_attr("mlflow_run_id", parent_id)
    study.set_user_attr("mlflow_experiment_id", experiment_id)
    return study


def _choices(params: Params, name: str) -> list:
    values = getattr(params.sweep.space, name)
    return [space.widths_name(v) for v in values] if name.endswith("widths") else values


class Worker:
    """One process's loop: claim a trial, run it, report it; stop at N trials or on a signal."""

    def __init__(self, params: Params, request: SweepRequest, study: optuna.Study, data: SweepData, label: str):
        self.params, self.request, self.study, self.data, self.label = params, request, study, data, label
        self.objective = Objective(params, data, on_start=self._started, on_class=self._class_scored)
        self.claim = storage.ClaimLock(request.storage_url, request.study)
        self.in_trial = self.stop_requested = False
        self.current: optuna.Trial | None = None
        self.run_ids: dict[int, str] = {}
        self.started: dict[int, float] = {}

    # signals: inside a trial they interrupt it (it ends FAIL and is queued again); outside, the
    # loop stops before claiming another, so no trial is ever left RUNNING by a signal
    def _on_signal(self, signum, frame):
        self.stop_requested = True
        if self.in_trial:
            raise KeyboardInterrupt(f"signal {signum}")

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)
        try:
            while not self.stop_requested:
                self.claim.acquire()
                try:
                    if self.stop_requested:  # the signal came while this worker waited for the lock
                        break
                    self._recover_lost()
                    if self._total() >= self.request.n_trials:
                        break
                    self.study.optimize(self._trial, n_trials=1, catch=(Exception,), callbacks=[self._finished],
                                        gc_after_trial=True)
                finally:
                    self.claim.release()
        except KeyboardInterrupt:
            self._interrupted()
            return INTERRUPTED
        return INTERRUPTED if self.stop_requested else 0

    def _total(self) -> int:
        return sum(storage.counts_toward_total(t) for t in self.study.get_trials(deepcopy=False))

    def _recover_lost(self) -> None:
        if storage.is_journal(self.request.storage_url):
            for trial in storage.lost_trials(self.study, self.params.sweep.grace_seconds):
                if storage.fail_and_retry(self.study, trial, self.params.sweep.retries):
                    self._close_lost(trial, "its worker is gone")
        else:  # database storages: Optuna's heartbeat finds them and calls storage.queue_again
            running = {t.number: t for t in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(self.study)
            for trial in self.study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
                if trial.number in running:
                    self._close_lost(trial, "its worker stopped beating")

    def _close_lost(self, trial, why: str) -> None:
        print(f"[sweep {self.label}] trial {trial.number} lost ({why}): FAIL, queued again", flush=True)
        run_id = trial.user_attrs.get("mlflow_run_id")
        if run_id and sweeps.run_status(run_id) == "RUNNING":
            sweeps.end_trial_run(run_id, "FAIL", {}, f"lost: {why}")

    def _trial(self, trial: optuna.Trial):
        self.claim.release()  # the trial exists now: others may claim theirs
        self.in_trial, self.current = True, trial
        try:
            trial.set_user_attr("worker", storage.worker_id())
            if self.stop_requested:
                raise KeyboardInterrupt("stop requested")
            self.started[trial.number] = time.perf_counter()
            return self.objective(trial)
        except KeyboardInterrupt:
            trial.set_user_attr("failure", "interrupted")
            raise
        except Exception as error:
            if "failure" not in trial.user_attrs:
                trial.set_user_attr("failure", f"error: {type(error).__name__}: {error}"[:2000])
            raise
        finally:
            self.in_trial = False

    def _started(self, trial, values: dict) -> None:
        run_id = sweeps.start_trial_run(self.study.user_attrs["mlflow_experiment_id"],
                                          self.study.user_attrs["mlflow_run_id"], self.request.study, trial.number,
                                          {"steps": self.params.sweep.steps, "classes": self.data.labels, **values})
        self.run_ids[trial.number] = run_id
        trial.set_user_attr("mlflow_run_id", run_id)

    def _class_scored(self, trial, position: int, result) -> None:
        metric = self.objective.metric
        sweeps.log_trial_class(self.run_ids[trial.number], position, result.label, result.scores, metric, result.grid)

    def _finished(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Close the trial's MLflow run, update the study's, print the progress line."""
        self.current = None
        state = trial.state.name
        reason = trial.user_attrs.get("failure") if state == "FAIL" else None
        values = dict(zip(self._value_names(), trial.values or []))
        values["seconds_per_step"] = trial.user_attrs.get("seconds_per_step", float("nan"))
        if trial.number in self.run_ids:
            sweeps.end_trial_run(self.run_ids.pop(trial.number), state, values, reason)
        elapsed = time.perf_counter() - self.started.pop(trial.number, time.perf_counter())
        best = self._best(study)
        finished = sum(storage.counts_toward_total(t) and t.state != TrialState.RUNNING
                       for t in study.get_trials(deepcopy=False))
        if best is not None and len(study.directions) == 1:
            sweeps.log_study_progress(study.user_attrs["mlflow_run_id"], trial.number,
                                        {f"best_{self.objective.metric}": best.value},
                                        {"trial": best.number, **best.params})
        if state == "PRUNED":
            shown = trial.user_attrs.get("pruned", "")
        elif trial.values:
            shown = f"{self.objective.metric} {trial.values[0]:.4g}, {values['seconds_per_step'] * 1000:.0f} ms/step"
        else:
            shown = reason or ""
        print(f"[sweep {self.label}] trial {trial.number} {state} {shown} | best {self._best_text(study, best)} "
              f"| {elapsed:.0f} s | {finished}/{self.request.n_trials} trials done", flush=True)

    def _value_names(self) -> list[str]:
        return [self.objective.metric] + (["seconds_per_step"] if len(self.objective.directions) > 1 else [])

    @staticmethod
    def _best(study: optuna.Study):
        if len(study.directions) > 1:
            return None
        try:
            return study.best_trial
        except ValueError:
            return None

    def _best_text(self, study: optuna.Study, best) -> str:
        if len(study.directions) > 1:
            return f"Pareto front of {len(study.best_trials)} trial(s)"
        return f"{best.value:.4g} (trial {best.number})" if best is not None else "none yet"

    def _interrupted(self) -> None:
        """After Ctrl-C or SIGTERM: the stopped trial ends FAIL in Optuna; queue it again, close its run."""
        if self.current is None:
            return
        trial = self.study._storage.get_trial(self.current._trial_id)
        if trial.state == TrialState.RUNNING:  # stopped between Optuna's ask and our objective
            self.study._storage.set_trial_user_attr(trial._trial_id, "failure", "interrupted")
            self.study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        storage.queue_again(self.study, trial, self.params.sweep.retries)
        if trial.number in self.run_ids:
            sweeps.end_trial_run(self.run_ids.pop(trial.number), "FAIL", {}, "interrupted: queued again")
        print(f"[sweep {self.label}] trial {trial.number} stopped: FAIL, queued again for the next run", flush=True)


def _quiet() -> None:
    """Our progress line replaces Optuna's per-trial log; Keras' retracing warnings are expected
    (every class builds a new model)."""
    import logging

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def run_worker(params: Params, request: SweepRequest, worker_index: int, data: SweepData | None = None,
               study: optuna.Study | None = None) -> int:
    """One worker: in a process the launcher started, or in the launcher itself (its data and study)."""
    _quiet()
    data = data or load_data(params, request.dataset)
    tracking_store.connect()
    study = study or load_study(params, request, data, worker_index)
    label = f"{request.dataset}/{request.study}" + (f" w{worker_index}" if request.workers > 1 else "")
    return Worker(params, request, study, data, label).run()


def launch(params: Params, request: SweepRequest) -> int:
    """Prepare the study, run the workers (this process when one), wait; the exit code of the sweep."""
    _quiet()
    data = load_data(params, request.dataset)
    study = prepare(params, request, data)
    pruning = params.sweep.pruner.kind != "none"
    if pruning and params.sweep.objectives != "quality":
        print("[sweep] pruning is off: Optuna does not prune multi-objective studies (sweep.objectives="
              f"{params.sweep.objectives}); every trial runs all its classes", flush=True)
    done = sum(storage.counts_toward_total(t) for t in study.get_trials(deepcopy=False))
    print(f"[sweep] study {request.study!r} in {without_password(request.storage_url)}: {done} of {request.n_trials} "
          f"trials done; {request.workers} worker(s), {len(data.labels)} classes x {params.sweep.steps} steps "
          f"per trial, objective {params.quality.selection_metric} against the holdout", flush=True)
    if request.workers == 1:
        code = run_worker(params, request, 0, data, study)
    else:
        code = _launch_workers(request)
    sweeps.close_study_run(study.user_attrs["mlflow_run_id"], interrupted=code != 0)
    return code


def _launch_workers(request: SweepRequest) -> int:
    """K worker processes of this command, each on its share of the cores; signals reach all of them."""
    threads = max(1, (os.cpu_count() or 1) // request.workers)
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": "1"}
    command = [sys.executable, "-m", "synthset.cli", "--params", request.params_file, "sweep", request.dataset,
               "--study", request.study, "--n-trials", str(request.n_trials), "--workers", str(request.workers),
               "--storage", request.storage_url]
    children = [subprocess.Popen([*command, "--worker-index", str(index)], env=env) for index in range(request.workers)]

    def forward(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        codes = [child.wait() for child in children]
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if all(code == 0 for code in codes) else (INTERRUPTED if INTERRUPTED in codes else max(codes))
