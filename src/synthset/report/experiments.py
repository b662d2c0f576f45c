"""Recorded experiments: what a `dvc exp run` changed and its headline numbers, shown in the report.

A DVC experiment lives in the repository that ran it; its refs do not travel with a plain clone.
``record`` keeps what the report needs of one as one committed JSON file under
``metrics/experiments/``: the settings it overrode (DVC's params diff against the commit it ran on),
that commit, the datasets those settings change, and for those datasets only their study 1
numbers, whole-set quality and feature network (a dataset it left alone has the default run's
numbers, which are not the experiment's to report):

    dvc exp run -n mnist-conditional -S scales.default.mnist.gan.kind=conditional ...
    python -m synthset.report.experiments record mnist-conditional --command "dvc exp run ..." \
        --wall-seconds 1234
    git checkout -- . && dvc checkout      # back to the default run's outputs
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synthset import config, paths
from synthset.errors import SynthsetError
from synthset.io import write_atomically

EXPERIMENTS = paths.METRICS / "experiments"
# What a record keeps of each dataset it changed: (file, the part of it kept).
RECORDED: dict[str, tuple[Callable[[str], Path], Callable[[dict, str], dict]]] = {
    "study1": (paths.study1_metrics, lambda data, dataset: data["study1"][dataset]),
    "quality": (paths.quality_metrics, lambda data, dataset: {
        key: value for key, value in data["quality"][dataset].items() if not isinstance(value, dict)}),
    "features": (paths.feature_network_summary, lambda data, dataset: data),
}
READ_BY_EVERY_DATASET = ("seed", "scale")  # top-level settings every dataset reads


class Change(BaseModel):
    """One setting's value at the commit and in the experiment (as DVC's params diff gives them)."""

    model_config = ConfigDict(extra="forbid")
    old: Any
    new: Any


class Experiment(BaseModel):
    """One recorded experiment, as kept in ``metrics/experiments/<name>.json``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    command: str
    wall_seconds: float | None
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")  # the commit `dvc exp run` ran on (its baseline)
    overrides: dict[str, Change]  # none: the commit's settings, run again (on another machine, say)
    datasets: list[str] = Field(min_length=1)  # those the overrides change
    metrics: dict[str, dict[str, dict[str, Any]]]

    @model_validator(mode="after")
    def _numbers_of_the_changed_datasets_only(self):
        if set(self.metrics) != set(self.datasets):
            raise ValueError(f"metrics hold {sorted(self.metrics)}, expected exactly the changed datasets "
                             f"{sorted(self.datasets)}")
        return self

    @property
    def short_commit(self) -> str:
        return self.commit[:7]


def experiment_file(name: str) -> Path:
    return EXPERIMENTS / f"{name}.json"


def changed_params(rev: str = "HEAD") -> dict[str, dict[str, object]]:
    """{param: {"old", "new"}} of the workspace's params.yaml against ``rev``, from DVC's API."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        diff = repo.params.diff(a_rev=rev).get("diff", {})  # {"diff": {file: {param: {old, new}}}}
    return {name: {"old": change.get("old"), "new": change.get("new")}
            for changes in diff.values() for name, change in changes.items()}


def head_commit() -> str:
    """The commit the workspace's experiment ran on: ``dvc exp run`` leaves HEAD at its baseline."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        if repo.scm.no_commits:
            raise SynthsetError("this repository has no commit; an experiment runs on one (git commit first)")
        return repo.scm.get_rev()


def _as_list(value: object) -> list:
    """A list setting as DVC's diff gives it: a list, its ``str`` or missing (None)."""
    parsed = yaml.safe_load(value) if isinstance(value, str) else value
    return list(parsed) if isinstance(parsed, list) else []


def changed_datasets(overrides: Mapping[str, Mapping[str, object]], datasets: Sequence[str]) -> list[str]:
    """The datasets of ``datasets`` (the experiment's) whose settings ``overrides`` change, in that order.

    A setting under ``<dataset>.`` or ``scales.<scale>.<dataset>.`` changes that dataset; one of a
    shared section (``gan``, ``classifier``, ...) every dataset that reads the section (``study2``:
    MNIST's); ``seed`` and ``scale`` every dataset; ``datasets`` the datasets it adds.
    """
    changed: set[str] = set()
    for key, change in overrides.items():
        parts = key.split(".")
        if parts[0] in datasets:
            changed.add(parts[0])
        elif parts[0] == "scales" and len(parts) > 2 and parts[2] in datasets:
            changed.add(parts[2])
        elif parts[0] == "scales" or parts[0] in READ_BY_EVERY_DATASET:
            changed.update(datasets)
        elif parts[0] in config.SECTIONS:
            changed.update(d for d in datasets if parts[0] in config.sections_of(d))
        elif parts[0] == "datasets":
            changed.update(set(_as_list(change.get("new"))) - set(_as_list(change.get("old"))))
        else:
            raise SynthsetError(f"override {key}: neither a shared setting of params.yaml nor one of a dataset the "
                               f"experiment ran ({', '.join(datasets)}); cannot tell which datasets it changes")
    return [dataset for dataset in datasets if dataset in changed]


def _numbers(name: str, dataset: str) -> dict[str, dict]:
    files = {part: file(dataset) for part, (file, _) in RECORDED.items()}
    missing = [str(path) for path in files.values() if not path.exists()]
    if missing:
        raise SynthsetError(f"experiment {name}: {', '.join(missing)} missing; run the experiment first")
    return {part: keep(json.loads(files[part].read_text()), dataset) for part, (_, keep) in RECORDED.items()}


def record(name: str, command: str, wall_seconds: float | None) -> Path:
    """Write what the workspace's experiment (after `dvc exp run`) changed, and the numbers of the
    datasets it changed, as experiment ``name``."""
    commit = head_commit()
    overrides = changed_params(commit)
    ran = config.load().datasets
    # No override: the commit's settings run again (on another machine, say): every number is its own.
    datasets = changed_datasets(overrides, ran) if overrides else list(ran)
    if not datasets:
        raise SynthsetError(f"experiment {name}: its overrides ({', '.join(overrides)}) change none of the datasets "
                            "it ran; nothing of its numbers is its own")
    entry = Experiment(name=name, command=command, wall_seconds=wall_seconds, commit=commit, overrides=overrides,
                       datasets=datasets, metrics={dataset: _numbers(name, dataset) for dataset in datasets})
    path = experiment_file(name)
    with write_atomically(path) as partial:
        partial.write_text(json.dumps(entry.model_dump(), indent=2, sort_keys=True) + "\n")
    return path


def load(path: Path) -> Experiment:
    try:
        return Experiment.model_validate_json(path.read_text())
    except ValidationError as error:
        fields = "; ".join(": ".join(filter(None, (".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, "))))
                           for e in error.errors())
        raise SynthsetError(f"{path}: not a recorded experiment ({fields}); record it with "
                            "`python -m synthset.report.experiments record`") from None


def load_all() -> list[Experiment]:
    """Every recorded experiment, by name."""
    return [load(path) for path in sorted(EXPERIMENTS.glob("*.json"))]


def _at_commit(commit: str, path: Path) -> dict | None:
    """The JSON file ``path`` as committed at ``commit``; None when git cannot show it."""
    try:
        shown = subprocess.run(["git", "show", f"{commit}:{path.as_posix()}"], capture_output=True, text=True)
    except OSError:
        return None
    return json.loads(shown.stdout) if shown.returncode == 0 else None


def stale(experiment: Experiment, dataset: str) -> bool:
    """Whether the default run's ``dataset`` numbers in the workspace are no longer those of the commit
    the experiment ran on, so that its numbers and this run's do not share a baseline.

    Comparing the commit with HEAD would not do: the record itself is committed after the commit it
    ran on, and commits that leave the pipeline alone (docs, other records) would mark it stale. What
    matters is whether the default run was re-run since with other results: the metrics files a
    record keeps (study1, quality, features) as committed at its commit against the workspace's. A
    commit that git cannot show (a shallow clone, another repository) counts as stale: nothing shows
    the baseline is the same.
    """
    for file, _ in RECORDED.values():
        path = file(dataset)
        then = _at_commit(experiment.commit, path)
        if then is None or not path.exists() or then != json.loads(path.read_text()):
            return True
    return False


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synthset.report.experiments",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    keep = commands.add_parser("record", help="keep what the workspace's experiment changed and its numbers")
    keep.add_argument("name")
    keep.add_argument("--command", required=True, help="the command that produced the workspace's outputs")
    keep.add_argument("--wall-seconds", type=float, default=None, help="how long it ran")
    args = parser.parse_args(argv)
    try:
        print(f"[experiments] wrote {record(args.name, args.command, args.wall_seconds)}")
    except SynthsetError as error:
        raise SystemExit(f"synthset: error: {error}") from None


if __name__ == "__main__":
    main()
