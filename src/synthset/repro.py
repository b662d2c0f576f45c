"""``synthset repro``: ``dvc repro`` with each dataset's branch of the pipeline in its own process.

``dvc repro`` runs one stage at a time, so while one dataset's single-process stage (feature
network, epoch selection, generation) runs, the second core idles. The datasets' branches
(``<stage>@mnist``, ``<stage>@fids30``) share nothing but their upstream checks, and DVC
documents running independent parts of a pipeline as concurrent ``dvc repro`` calls: each
releases the repository lock while its stage's command runs (``--wait-for-lock`` makes them take
turns to record results in ``dvc.lock``). So this runs, one after the other:

1. ``dvc repro`` of the stages the branches need (``data.dvc``, ``check_data``);
2. one ``dvc repro --single-item`` per dataset of that dataset's stages (dependencies first), all
   at once, each line of output prefixed with the dataset;
3. ``dvc repro`` of the rest (``evaluate_study2``, ``report``), which finds the branches done.

Every stage process is forked from one warm server that has imported TensorFlow, MLflow and the
library once (``synthset.warm``), instead of importing them itself.

The outcome is what ``dvc repro`` gives: the same stages, outputs, ``dvc.lock`` and cache.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from synthset import warm
from synthset.errors import SynthsetError


@dataclass(frozen=True)
class Plan:
    """Stage addresses for the three steps: shared upstream, per-dataset branches, the rest."""

    shared: list[str]
    branches: dict[str, list[str]]
    rest: list[str]


def plan(datasets: Sequence[str], root: str = ".") -> Plan:
    """Split ``dvc.yaml``'s stages by dataset from DVC's own graph of the pipeline, each list in an
    order DVC can run it (dependencies first).

    A branch is every stage named ``<stage>@<dataset>``; the shared part is what two branches
    both depend on; the rest depends on several branches (or on none) and runs last.
    """
    import networkx as nx
    from dvc.repo import Repo

    with Repo(root) as repo:
        graph = repo.index.graph  # an edge goes from a stage to a stage it depends on
        order = [stage.addressing for stage in reversed(list(nx.topological_sort(graph)))]
        stages = {stage.addressing: stage for stage in graph}
        branches = {dataset: [name for name in order if name.endswith(f"@{dataset}")] for dataset in datasets}
        upstream = {dataset: {item.addressing for name in names for item in nx.descendants(graph, stages[name])}
                    for dataset, names in branches.items()}
    in_branches = {name for names in branches.values() for name in names}
    for dataset, names in upstream.items():
        foreign = sorted(name for name in names if name in in_branches and name not in branches[dataset])
        if foreign:
            raise SynthsetError(f"dvc.yaml: the {dataset} stages depend on {', '.join(foreign)} of another dataset; "
                                "run `dvc repro` instead")
    needed = {name for names in upstream.values() for name in names} - in_branches
    return Plan(shared=[name for name in order if name in needed],
                branches={key: value for key, value in branches.items() if value},
                rest=[name for name in order if name not in in_branches and name not in needed])


def _dvc_repro(targets: Sequence[str], single: bool = False) -> list[str]:
    """``dvc repro`` of ``targets``; ``single``: of those stages only, in the order given, so that a
    branch never touches (nor locks) the shared stages it depends on."""
    return [sys.executable, "-m", "dvc", "--wait-for-lock", "repro", *(["--single-item"] if single else []), *targets]


def _run(targets: Sequence[str], env: dict[str, str], root: str) -> None:
    if _wait({"": subprocess.Popen(_dvc_repro(targets), env=env, cwd=root)})[""] != 0:
        command = " ".join(["dvc repro", *targets])
        raise SynthsetError(f"`{command}` failed (its output is above)")


def _run_branches(branches: dict[str, list[str]], env: dict[str, str], root: str) -> None:
    """Every branch's ``dvc repro`` at once; a failed branch lets the others finish (their stages
    are recorded and will not run again) before the whole call fails naming it."""
    processes = {dataset: subprocess.Popen(_dvc_repro(targets, single=True), env=env, cwd=root, text=True, bufsize=1,
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for dataset, targets in branches.items()}
    width = max(map(len, processes))

    def relay(dataset: str, process: subprocess.Popen) -> None:
        for line in process.stdout:
            sys.stdout.write(f"{dataset:<{width}} | {line}")
            sys.stdout.flush()

    relays = [threading.Thread(target=relay, args=item, daemon=True) for item in processes.items()]
    for thread in relays:
        thread.start()
    try:
        codes = _wait(processes)
    finally:
        for thread in relays:
            thread.join()
    failed = [dataset for dataset, code in codes.items() if code != 0]
    if failed:
        which = " and ".join(failed) + (" branches" if len(failed) > 1 else " branch")
        raise SynthsetError(f"the pipeline's {which} failed or stopped (its lines are prefixed with its name above); "
                            "run `synthset repro` again to resume")


def _wait(processes: dict[str, subprocess.Popen]) -> dict[str, int]:
    """Exit status of each ``dvc repro``; SIGTERM to this process goes on to them (DVC stops its
    stage, which keeps its checkpoint), and the terminal's Ctrl-C reaches them by itself: either
    way they are waited for, so that none outlives this call."""
    def forward(signum, frame):
        for process in processes.values():
            process.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        return {name: process.wait() for name, process in processes.items()}
    except KeyboardInterrupt:
        for process in processes.values():
            process.wait()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def reproduce(datasets: Sequence[str], root: str = ".", side_by_side: bool = True,
              preload: Sequence[str] = warm.PRELOAD) -> Plan:
    """Bring the whole pipeline up to date, each dataset's branch in its own ``dvc repro``, every
    stage process forked from one warm server that imported ``preload``."""
    steps = plan(datasets, root)
    with warm.server(preload) as env:
        if steps.shared:
            _run(steps.shared, env, root)
        if side_by_side and len(steps.branches) > 1:
            _run_branches(steps.branches, env, root)
        _run([], env, root)  # the rest, and with one branch the branch too: plain `dvc repro`
    return steps
