"""Which code and which data a run used: the git commit and DVC's hashes."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

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


def track_data(path: str = "data") -> str:
    """Record ``data/`` with DVC (``dvc add``): same bytes, same ``data.dvc``, on every machine."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        repo.add(path)
    return f"{path}/ recorded in {path}.dvc: {data_version(Path(f'{path}.dvc'))}"
