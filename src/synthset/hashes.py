"""Which code and which data a run used (the git commit and DVC's hashes), and the keys that
recognise a training already done (``fingerprint``)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml


def git_commit() -> str:
    """HEAD's commit, suffixed ``-dirty`` when tracked files differ from it; ``unknown`` outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


def data_version(dvc_file: Path = Path("data.dvc")) -> str:
    """The directory hash DVC recorded for ``data/``: what ``dvc checkout`` would restore."""
    try:
        outs = yaml.safe_load(dvc_file.read_text())["outs"]
        return str(outs[0]["md5"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return "untracked"


def file_md5(path: Path) -> str:
    """The md5 DVC uses for a file output, so run tags can be matched against ``dvc.lock``."""
    digest = hashlib.md5()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dvc_md5(path: Path) -> str:
    """The hash DVC records for ``path`` in ``dvc.lock``: a file's md5, or a directory's ``<md5>.dir``.

    Computed here with DVC's own tree code, so a stage can name the version of an output it has
    just written (which DVC records only after the stage) and of the inputs it reads.
    """
    from dvc_data.hashfile.hash_info import HashInfo
    from dvc_data.hashfile.tree import Tree

    path = Path(path)
    if not path.is_dir():
        return file_md5(path)
    tree = Tree()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        tree.add(file.relative_to(path).parts, None, HashInfo("md5", file_md5(file)))
    tree.digest()
    return tree.hash_info.value


def track_data(path: str = "data") -> str:
    """Record ``data/`` with DVC (``dvc add``): same bytes, same ``data.dvc``, on every machine."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        repo.add(path)
    return f"{path}/ recorded in {path}.dvc: {data_version(Path(f'{path}.dvc'))}"


def fingerprint(*parts: Any) -> str:
    """A short stable hash of settings and input hashes: same inputs, same parent run."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
