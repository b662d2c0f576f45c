"""Writes that never leave a half-written file under its final name."""

from __future__ import annotations

import errno
import json
import os
import shutil
import zipfile
from contextlib import contextmanager
from pathlib import Path

from synthset.errors import SynthsetError

# Zip's earliest date: every entry of a saved model gets it, so that equal weights give equal bytes.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


# A full disk, a file-size limit (RLIMIT_FSIZE) or a quota: the write cannot succeed as things are.
_NO_ROOM = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


@contextmanager
def names_a_full_disk(path: Path):
    """Turn "no space left" (and its kin) while writing ``path`` into an error that names it; the
    callers have already removed the partial file, so nothing half-written is left behind."""
    try:
        yield
    except OSError as error:
        # h5py reports the C library's errno only in its message ("errno = 28, ... No space left")
        reason = next((os.strerror(code) for code in _NO_ROOM if error.errno == code or os.strerror(code) in str(error)),
                      None)
        if reason is None:
            raise
        raise SynthsetError(f"{path}: {reason} while writing it; nothing half-written is left under that "
                            "name. Free some space (or raise the file-size limit) and run the same command or "
                            "`dvc repro` again.") from None


@contextmanager
def write_atomically(path: Path):
    """Yield a temporary sibling path; on success it replaces ``path`` in one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if partial.is_dir():
        shutil.rmtree(partial)
    elif partial.exists():
        partial.unlink()
    try:
        with names_a_full_disk(path):
            yield partial
        if path.is_dir():
            shutil.rmtree(path)
        os.replace(partial, path)
    finally:
        if partial.is_dir():
            shutil.rmtree(partial, ignore_errors=True)
        elif partial.exists():
            partial.unlink()


def save_model(model, path: Path) -> None:
    """``model.save`` to a ``.keras`` path, atomically and reproducibly.

    Keras stamps the file with the time (the zip entries' dates and ``date_saved`` in
    ``metadata.json``), so the same weights saved twice would differ and DVC would see a new version
    of every model and of the datasets whose manifests name them. The stamps are removed; the file
    goes through a temporary name (Keras insists on the suffix) so a crash leaves no half-written model.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.keras")
    stamped = path.with_name(path.stem + ".stamped.keras")
    try:
        with names_a_full_disk(path):
            model.save(stamped)
            _remove_time_stamps(stamped, partial)
        os.replace(partial, path)
    finally:
        stamped.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)


def _remove_time_stamps(source: Path, target: Path) -> None:
    """Copy the ``.keras`` zip ``source`` to ``target`` without its save time, and with the
    config's shared-object ids (Python ``id()``s, different in every process) numbered 1, 2, ..."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w") as copy:
        for entry in original.infolist():
            data = original.read(entry)
            if entry.filename == "metadata.json":
                metadata = json.loads(data)
                metadata.pop("date_saved", None)
                data = json.dumps(metadata).encode()
            elif entry.filename == "config.json":
                data = json.dumps(_renumber_shared_objects(json.loads(data))).encode()
            unstamped = zipfile.ZipInfo(entry.filename, date_time=_ZIP_EPOCH)
            unstamped.compress_type, unstamped.external_attr = entry.compress_type, entry.external_attr
            copy.writestr(unstamped, data)


def _renumber_shared_objects(config):
    """``config`` with each ``shared_object_id`` replaced by its rank of first appearance: Keras
    only matches equal ids on loading, so the ranks load the same objects as shared."""
    ranks: dict[int, int] = {}

    def walk(node):
        if isinstance(node, dict):
            return {key: ranks.setdefault(value, len(ranks) + 1) if key == "shared_object_id" else walk(value)
                    for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(config)
