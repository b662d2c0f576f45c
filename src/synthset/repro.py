"""``synthset repro``: ``dvc repro`` that keeps every core busy, every stage started warm.

``dvc repro`` runs one stage at a time, so while a single-process stage (a feature network, epoch
selection, generation) runs, the second core idles, and the two datasets' stages, which share
nothing, wait for each other. DVC documents running independent parts of a pipeline as
concurrent ``dvc repro`` calls: each releases the repository lock while its stage's command runs,
and ``--wait-for-lock`` makes them take turns to record results in ``dvc.lock``. So this reads
DVC's own graph of ``dvc.yaml`` and runs each stage as ``dvc repro --single-item <stage>`` as
soon as the stages it depends on are done, as many at once as there are cores (``make -j``),
the stage with the most stages after it first; each line of output is prefixed with its stage.

Every stage process is forked from one warm server that has imported TensorFlow, MLflow and the
library once (``synthset.warm``), instead of importing them itself.

The outcome is what ``dvc repro`` gives: the same stages, outputs, ``dvc.lock`` and cache.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from synthset import parallel, warm
from synthset.errors import SynthsetError


@dataclass(frozen=True)
class Plan:
    """Every stage of the pipeline (``data.dvc`` included), in the order they are started when
    ready, with the stages each one depends on directly."""

    order: list[str]
    needs: dict[str, set[str]]
    ran: list[str] = field(default_factory=list)   # the stages DVC found out of date and ran
    warm: int = 0                                   # the commands the warm server ran for them


def plan(root: str = ".") -> Plan:
    """The stages of ``dvc.yaml`` from DVC's own graph: dependencies first, and among stages that
    could start together, the one with the most stages downstream of it (the GANs before a
    real-data classifier), so the longest chain starts early."""
    import networkx as nx
    from dvc.repo import Repo

    with Repo(root) as repo:
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        downstream = {stage: len(nx.ancestors(graph, stage)) for stage in graph}
        ordered = nx.lexicographical_topological_sort(
            graph.reverse(), key=lambda stage: (-downstream[stage], stage.addressing))
        order = [stage.addressing for stage in ordered]
        needs = {stage.addressing: {dependency.addressing for dependency in graph.successors(stage)}
                 for stage in graph}
    return Plan(order=order, needs=needs)


def _dvc_repro(stage: str) -> list[str]:
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "--single-item", stage]


class _Stages:
    """The running ``dvc repro`` processes, their output relayed line by line with their name."""

    def __init__(self, env: dict[str, str], root: str, width: int):
        self.env, self.root, self.width = env, root, width
        self.running: dict[str, tuple[subprocess.Popen, threading.Thread]] = {}
        self.ran: list[str] = []

    def start(self, stage: str) -> None:
        process = subprocess.Popen(_dvc_repro(stage), env=self.env, cwd=self.root, text=True, bufsize=1,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        relay = threading.Thread(target=self._relay, args=(stage, process), daemon=True)
        relay.start()
        self.running[stage] = (process, relay)

    def _relay(self, stage: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            if line.startswith("Running stage '"):
                self.ran.append(stage)
            sys.stdout.write(f"{stage:<{self.width}} | {line}")
            sys.stdout.flush()

    def finished(self) -> dict[str, int]:
        """Exit status of each stage that ended since the last call (waits until one has)."""
        while True:
            ended = {stage: process.poll() for stage, (process, _) in self.running.items()}
            ended = {stage: code for stage, code in ended.items() if code is not None}
            if ended or not self.running:
                for stage in ended:
                    self.running.pop(stage)[1].join()
                return ended
            time.sleep(0.2)

    def signal_all(self, signum: int) -> None:
        """Signal each running ``dvc repro`` and every process under it: DVC does not pass SIGTERM
        on to its stage's command (it dies at once), which would run on unseen, holding the pipe
        whose end the relay waits for."""
        import psutil

        for process, _ in self.running.values():
            try:
                tree = [process, *psutil.Process(process.pid).children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = [process]
            for member in tree:
                with contextlib.suppress(ProcessLookupError, psutil.NoSuchProcess):
                    member.send_signal(signum)


def describe(steps: Plan, jobs: int | None) -> str:
    """The closing line of ``synthset repro``: how many stages ran, and whether each started warm
    (counted by the warm server, not assumed)."""
    cold = len(steps.ran) - steps.warm
    started = f"{cold} of them started cold" if cold > 0 else "every one started warm"
    return (f"pipeline up to date: {len(steps.order)} stages, {len(steps.ran)} ran, up to {jobs or 'one per core'} "
            f"at once, {started}")


def reproduce(entry: Callable[[list[str]], int], root: str = ".", jobs: int | None = None,
              preload: Sequence[str] = warm.PRELOAD) -> Plan:
    """Bring the whole pipeline up to date, ``jobs`` stages at a time (default: one per core),
    every stage process forked from one warm server that imported ``preload`` and runs each
    ``synthset`` command with ``entry`` (the CLI's ``main``).

    A failed stage starts nothing new; the running stages finish (and are recorded, so they do not
    run again), then the call fails naming it. SIGTERM goes on to every running ``dvc repro`` and
    its stage's command; the terminal's Ctrl-C reaches them by itself; either way they are waited for.
    """
    steps = plan(root)
    jobs = jobs or parallel.cores()
    pending, done, failed = list(steps.order), set(), []
    with warm.server(entry, preload) as server:
        stages = _Stages(server.env, root, max(map(len, steps.order)))
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stages.signal_all(signum))
        try:
            while pending or stages.running:
                while not failed and len(stages.running) < jobs:
                    ready = next((stage for stage in pending if steps.needs[stage] <= done), None)
                    if ready is None:
                        break
                    pending.remove(ready)
                    stages.start(ready)
                if not stages.running:
                    break
                for stage, code in stages.finished().items():
                    if code == 0:
                        done.add(stage)
                    else:
                        failed.append(stage)
        except KeyboardInterrupt:
            for process, _ in stages.running.values():
                process.wait()
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
    steps = replace(steps, ran=stages.ran, warm=len(server.served))
    if failed:
        raise SynthsetError(f"stage {', '.join(failed)} failed or was stopped (its lines are prefixed with its name "
                            "above); run `synthset repro` again to resume")
    return steps
