"""Every version of every synthetic dataset that a commit or a DVC experiment recorded in ``dvc.lock``.

A version is the DVC hash of the dataset's directory. It is read from each revision's own
``dvc.lock`` (through git), together with the settings that made it (the params DVC recorded for the
stages that train, select and generate) and the headline numbers of that revision's metrics files.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from synthset.errors import SynthsetError
from synthset.tracking.runs import flatten


@dataclass(frozen=True)
class SyntheticSet:
    """A synthetic dataset of the pipeline: where it lives and which stages made it."""

    name: str            # e.g. mnist-synthetic, mnist-synthetic-test
    dataset: str         # the real dataset it imitates
    path: str            # its directory, relative to the project root
    stages: tuple[str, ...]  # the dvc.yaml stages whose params decide its content


def synthetic_set(output: str) -> SyntheticSet | None:
    """The set a ``dvc.lock`` output path holds, if it is one: study 1's training set
    ``artifacts/<dataset>/synthetic`` or study 2's test set ``artifacts/<dataset>/synthetic_test``."""
    parts = Path(output).parts
    if len(parts) != 3 or parts[0] != "artifacts" or parts[2] not in ("synthetic", "synthetic_test"):
        return None
    dataset = parts[1]
    makers = (f"train_gan@{dataset}", f"select_epochs@{dataset}")
    if parts[2] == "synthetic":
        return SyntheticSet(f"{dataset}-synthetic", dataset, output, (*makers, f"generate@{dataset}"))
    return SyntheticSet(f"{dataset}-synthetic-test", dataset, output, (*makers, f"generate_test@{dataset}"))


@dataclass(frozen=True)
class Revision:
    sha: str
    label: str   # a tag, the experiment's name, or the short sha
    date: str    # the commit's date, ISO 8601
    kind: str    # commit | experiment


@dataclass(frozen=True)
class Version:
    """One synthetic dataset as one revision recorded it."""

    set: SyntheticSet
    md5: str
    revision: Revision
    settings: dict[str, object]   # flattened params of the stages that made it


def require_git(root: Path) -> None:
    """Refuse a directory that is not a git work tree's top: the versions live in its git history
    (and DVC experiments are git refs)."""
    if not (Path(root) / ".git").exists():
        raise SynthsetError(f"{Path(root).resolve()}: not a git repository (no .git/); dataset versions live in its "
                            "history: run `synthset datasets` in the project root")


def open_repo(root: Path):
    """DVC's repository object for ``root``, or an error that says what is missing: git, then DVC."""
    from dvc.exceptions import NotDvcRepoError
    from dvc.repo import Repo

    require_git(root)
    try:
        return Repo(str(root))
    except NotDvcRepoError:
        raise SynthsetError(f"{Path(root).resolve()}: not a DVC project (no .dvc/); run `synthset datasets` in the "
                            "project root") from None


def git(root: Path, *args: str, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SynthsetError(f"git {' '.join(args)} in {root}: {result.stderr.strip()}")
    return result.stdout


def commit_date(root: Path, sha: str) -> str:
    return git(root, "show", "-s", "--format=%cI", sha).strip()


def file_at(root: Path, sha: str, path: str) -> str | None:
    """A file's text at a revision, or None where it did not exist."""
    result = subprocess.run(["git", "show", f"{sha}:{path}"], cwd=root, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def revisions(root: Path) -> list[Revision]:
    """The commits of HEAD's history that changed ``dvc.lock``, oldest first, then every DVC
    experiment of any baseline (``dvc exp run``), by date. Outside a git and DVC project, refused
    (``open_repo``) before any is returned."""
    tags = {}  # commit -> tag name; `show-ref -d` also lists what annotated tags point at (name^{})
    for line in git(root, "show-ref", "--tags", "-d", check=False).splitlines():
        sha, ref = line.split(" ", 1)
        tags[sha] = ref.removeprefix("refs/tags/").removesuffix("^{}")
    found = []
    log = git(root, "log", "--reverse", "--format=%H %cI", "HEAD", "--", "dvc.lock", check=False)
    for line in log.splitlines():
        sha, date = line.split(" ", 1)
        found.append(Revision(sha, tags.get(sha, sha[:7]), date, "commit"))
    with open_repo(root) as repo:
        experiments = [(name, sha) for runs in repo.experiments.ls(all_commits=True).values() for name, sha in runs if sha]
    dated = [(commit_date(root, sha), name, sha) for name, sha in experiments]
    found += [Revision(sha, name, date, "experiment") for date, name, sha in sorted(dated)]
    return found


def versions_in(lock_text: str, revision: Revision) -> list[Version]:
    """The synthetic datasets one ``dvc.lock`` records, with the settings of the stages that made them."""
    stages = (yaml.safe_load(lock_text) or {}).get("stages", {})
    found = []
    for stage in stages.values():
        for out in stage.get("outs", []):
            made = synthetic_set(out["path"])
            if made is None or "md5" not in out:
                continue
            settings: dict[str, object] = {}
            for name in made.stages:
                for params in stages.get(name, {}).get("params", {}).values():
                    settings.update(flatten(params))  # the same dotted keys MLflow runs get
            found.append(Version(made, out["md5"], revision, settings))
    return found


def changed_settings(before: dict[str, object], after: dict[str, object]) -> str:
    """``key: old -> new`` for each setting that differs, the way a reviewer reads a params diff."""
    keys = sorted(set(before) | set(after))
    return "; ".join(f"{key}: {json.dumps(before.get(key))} -> {json.dumps(after.get(key))}"
                     for key in keys if before.get(key) != after.get(key))


def all_versions(root: Path) -> list[tuple[Version, list[Revision]]]:
    """Each distinct version (set and hash), first revision that recorded it, and every revision that did."""
    seen: dict[tuple[str, str], tuple[Version, list[Revision]]] = {}
    for revision in revisions(root):
        lock = file_at(root, revision.sha, "dvc.lock")
        for version in versions_in(lock, revision) if lock else []:
            key = (version.set.name, version.md5)
            if key in seen:
                seen[key][1].append(revision)
            else:
                seen[key] = (version, [revision])
    return list(seen.values())


def headline(root: Path, sha: str, made: SyntheticSet) -> dict[str, float | None]:
    """The numbers a reader compares versions by, from the revision's metrics files."""
    def metrics(path: str) -> dict:
        text = file_at(root, sha, path)
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}

    dataset = made.dataset
    if made.name.endswith("-test"):
        table = metrics("metrics/study2.json").get("study2", {})
        return {f"{model}_accuracy_synthetic_test": values.get("test_accuracy_synthetic")
                for model, values in table.items() if isinstance(values, dict) and "test_accuracy_synthetic" in values}
    study1 = metrics(f"metrics/{dataset}/study1.json").get("study1", {}).get(dataset, {})
    quality = metrics(f"metrics/{dataset}/quality.json").get("quality", {}).get(dataset, {})
    return {"tstr_accuracy": study1.get("val_accuracy_synthetic"), "gap_pp": study1.get("synthetic_gap_pp"),
            "fid": quality.get("fid"), "fid_floor": quality.get("fid_floor"), "precision": quality.get("precision"),
            "recall": quality.get("recall"), "label_fidelity": quality.get("label_fidelity")}


def resolve(root: Path, rev: str) -> Revision:
    """A revision by experiment name, tag, branch or (short) sha."""
    with open_repo(root) as repo:
        for runs in repo.experiments.ls(all_commits=True).values():
            for name, sha in runs:
                if rev == name and sha:
                    return Revision(sha, name, commit_date(root, sha), "experiment")
    result = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise SynthsetError(f"{rev!r} is no commit, tag, branch or DVC experiment of {Path(root).resolve()}; "
                            "`synthset datasets list` shows the revisions that recorded a dataset")
    sha = result.stdout.strip()
    return Revision(sha, rev, commit_date(root, sha), "commit")


def versions_at(root: Path, revision: Revision, name: str | None = None) -> list[Version]:
    """The synthetic datasets revision ``revision`` recorded, or only ``name`` (a set's name, or a
    dataset's for its study 1 set); refused, naming what there is, when none matches."""
    lock = file_at(root, revision.sha, "dvc.lock")
    found = versions_in(lock, revision) if lock else []
    if name:
        wanted = name if any(v.set.name == name for v in found) else f"{name}-synthetic"  # a dataset: its study 1 set
        chosen = [v for v in found if v.set.name == wanted]
        if not chosen:
            raise SynthsetError(f"revision {revision.label} recorded no synthetic dataset {name!r} in its dvc.lock "
                                f"(it has: {', '.join(v.set.name for v in found) or 'none'})")
        return chosen
    if not found:
        raise SynthsetError(f"revision {revision.label} has no synthetic dataset in its dvc.lock")
    return found
