"""Recorded variants: the headline numbers of a `dvc exp run` beside the default run's in the report.

A DVC experiment lives in the repository that ran it; its refs do not travel with a plain clone.
``record`` keeps what the report needs of one (each dataset's study 1 numbers, whole-set quality
and feature network, the settings it changed and the command) as one committed JSON file under
``metrics/variants/``, which the report's summary reads:

    dvc exp run -n mnist-conditional -S mnist.gan.kind=conditional ...
    python -m synthset.report.variants record mnist-conditional --command "dvc exp run ..." \
        --wall-seconds 1234
    git checkout -- . && dvc checkout      # back to the default run's outputs
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from synthset import paths
from synthset.errors import SynthsetError
from synthset.io import write_atomically

VARIANTS = paths.METRICS / "variants"


def variant_file(name: str) -> Path:
    return VARIANTS / f"{name}.json"


def changed_params() -> dict[str, dict[str, object]]:
    """{param: {"old", "new"}} of the workspace's params.yaml against HEAD, from DVC's API."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        diff = repo.params.diff(a_rev="HEAD").get("diff", {})  # {"diff": {file: {param: {old, new}}}}
    return {name: {"old": change.get("old"), "new": change.get("new")}
            for changes in diff.values() for name, change in changes.items()}


def record(name: str, command: str, wall_seconds: float | None) -> Path:
    """Write the workspace's headline numbers (after `dvc exp run`) as variant ``name``."""
    from synthset import config

    numbers = {}
    for dataset in config.load().datasets:
        files = {"study1": paths.study1_metrics(dataset), "quality": paths.quality_metrics(dataset),
                 "features": paths.feature_network_summary(dataset)}
        missing = [str(path) for path in files.values() if not path.exists()]
        if missing:
            raise SynthsetError(f"variant {name}: {', '.join(missing)} missing; run the experiment first")
        quality = json.loads(files["quality"].read_text())["quality"][dataset]
        numbers[dataset] = {
            "study1": json.loads(files["study1"].read_text())["study1"][dataset],
            "quality": {key: value for key, value in quality.items() if not isinstance(value, dict)},
            "features": json.loads(files["features"].read_text()),
        }
    entry = {"name": name, "command": command, "wall_seconds": wall_seconds, "params": changed_params(),
             "metrics": numbers}
    path = variant_file(name)
    with write_atomically(path) as partial:
        partial.write_text(json.dumps(entry, indent=2, sort_keys=True) + "\n")
    return path


def load_all() -> list[dict]:
    """Every recorded variant, by name."""
    return [json.loads(path.read_text()) for path in sorted(VARIANTS.glob("*.json"))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m synthset.report.variants", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="action", required=True)
    keep = commands.add_parser("record", help="keep the workspace's headline numbers as a named variant")
    keep.add_argument("name")
    keep.add_argument("--command", required=True, help="the command that produced the workspace's outputs")
    keep.add_argument("--wall-seconds", type=float, default=None, help="how long it ran")
    args = parser.parse_args(argv)
    try:
        print(f"[variants] wrote {record(args.name, args.command, args.wall_seconds)}")
    except SynthsetError as error:
        raise SystemExit(f"synthset: error: {error}") from None


if __name__ == "__main__":
    main()
