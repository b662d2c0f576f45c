"""Where a dataset version's bytes are (workspace, local DVC cache, DVC remote) and how to restore
one into a directory without touching the workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

from synthset.catalog.history import SyntheticSet, open_repo
from synthset.errors import SynthsetError
from synthset.hashes import dvc_md5


class Locator:
    """Answers "where is version X?" for one project, opening DVC's cache and remote once."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.repo = open_repo(root)
        self.cache = self.repo.cache.local
        try:
            self.remote = self.repo.cloud.get_remote_odb(command="synthset datasets")
            self.remote_name = self.repo.config["core"].get("remote", "")
        except Exception as error:  # noqa: BLE001 - no remote configured, or one that cannot be opened
            self.remote, self.remote_name, self.remote_problem = None, "", str(error)
        self._workspace: dict[str, str | None] = {}

    def close(self) -> None:
        self.repo.close()

    def __enter__(self) -> "Locator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def in_workspace(self, made: SyntheticSet, md5: str) -> bool:
        if made.path not in self._workspace:
            path = self.root / made.path
            self._workspace[made.path] = dvc_md5(path) if path.is_dir() else None
        return self._workspace[made.path] == md5

    @staticmethod
    def _complete(odb, md5: str) -> bool:
        """The directory listing and every file it names are in ``odb``."""
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.tree import Tree

        try:
            if not odb.exists(md5):
                return False
            tree = Tree.load(odb, HashInfo("md5", md5))
        except Exception:  # noqa: BLE001 - an unreachable remote or a corrupt listing: not there
            return False
        oids = [info.value for _, _, info in tree]
        return len(set(odb.oids_exist(oids))) == len(set(oids))

    def in_cache(self, md5: str) -> bool:
        return self._complete(self.cache, md5)

    def in_remote(self, md5: str) -> bool:
        return self.remote is not None and self._complete(self.remote, md5)

    def fetch(self, md5: str) -> None:
        """Copy a directory version from the remote into the local cache (``dvc fetch`` of one object):
        the remote named by this workspace's config, not by the old revision's, which may have none."""
        from dvc_data.hashfile.hash_info import HashInfo
        from dvc_data.hashfile.transfer import transfer
        from dvc_data.hashfile.tree import Tree

        listing = Tree.load(self.remote, HashInfo("md5", md5))
        transfer(self.remote, self.cache, {listing.hash_info, *(info for _, _, info in listing)}, verify=True)

    def where(self, made: SyntheticSet, md5: str) -> str:
        """workspace, cache, remote (the first that holds it, then the others in parentheses), or missing."""
        places = [name for name, held in (("workspace", lambda: self.in_workspace(made, md5)),
                                          ("cache", lambda: self.in_cache(md5)),
                                          (f"remote {self.remote_name}".strip(), lambda: self.in_remote(md5)))
                  if held()]
        return ", ".join(places) if places else "missing"


def require_empty(target: Path) -> None:
    """Refuse a restore target that holds anything (or is a file): a restore never mixes with other files."""
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SynthsetError(f"{target}: exists and is not an empty directory; choose a new directory for the "
                            "restored dataset")


def restore(root: Path, sha: str, made: SyntheticSet, md5: str, target: Path) -> Path:
    """Write the version of ``made`` that revision ``sha`` recorded into ``target`` (from the local
    cache, else the default remote), verify its hash, and leave the workspace alone."""
    from dvc.api import DVCFileSystem

    target = Path(target)
    require_empty(target)
    with Locator(root) as locator:
        if not locator.in_cache(md5):
            if not locator.in_remote(md5):
                remote = (f"the remote {locator.remote_name!r}" if locator.remote is not None
                          else f"no remote ({getattr(locator, 'remote_problem', 'none configured')})")
                raise SynthsetError(
                    f"{made.name} {md5} (revision {sha[:7]}) is in neither the local DVC cache nor {remote}. "
                    f"Get it with `dvc pull` on a machine that pushed it, or rebuild it: `git worktree add ../rebuild "
                    f"{sha[:7]} && cd ../rebuild && dvc repro {made.stages[-1]}` (on another CPU the rebuilt hash may differ)")
            print(f"[datasets] {made.name} {md5}: fetching from the remote {locator.remote_name!r} into the DVC cache",
                  flush=True)
            locator.fetch(md5)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    fs = DVCFileSystem(str(root), rev=sha)
    try:
        fs.get(made.path, str(partial), recursive=True)
    finally:
        fs.close()
    restored = dvc_md5(partial)
    if restored != md5:
        shutil.rmtree(partial, ignore_errors=True)
        raise SynthsetError(f"{made.name} restored from revision {sha[:7]} hashes to {restored}, not {md5}: "
                            "the cache or remote copy is damaged; `dvc fetch` it again")
    if target.exists():
        target.rmdir()
    partial.rename(target)
    return target
