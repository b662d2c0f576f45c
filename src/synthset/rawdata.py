"""Whether every dataset of ``datasets`` is in ``data/``, checked by the pipeline's first stage.

Raw data is fetched outside the pipeline (``synthset fetch-mnist``, ``synthset fetch-fids30``; both
run by ``scripts/run.sh``) because ``data.dvc``, not a stage, versions ``data/``. Every stage
depends on this check, so a dataset that was never fetched (FIDS30 is in the default ``datasets``)
stops ``dvc repro`` before anything trains, with the command that fetches it, instead of failing
halfway with a missing-file error. The check re-runs when ``datasets`` or the FIDS30 source or
classes change; the prepare stages depend on ``data/<dataset>`` themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

from synthset import fids30, paths
from synthset.config import Params
from synthset.errors import SynthsetError
from synthset.io import write_atomically

MNIST_FILES = ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy")


def _mnist_problem() -> str | None:
    missing = [name for name in MNIST_FILES if not (paths.raw("mnist") / name).is_file()]
    if missing:
        return f"{paths.raw('mnist')}/ lacks {', '.join(missing)}: run `synthset fetch-mnist` (or `dvc pull`)"
    return None


def _fids30_problem(params: Params, params_file: str) -> str | None:
    directory = paths.raw("fids30")
    absent = [name for name in params.fids30.classes if not any((directory / name).glob("*"))]
    if not absent and (directory / fids30.MANIFEST_NAME).is_file():
        return None
    what = f"{directory}/ lacks class(es) {', '.join(absent)}" if absent else f"{directory}/ has no {fids30.MANIFEST_NAME}"
    source = Path(params.fids30.source)
    if source.exists():
        how = f"import them from fids30.source '{source}' with `synthset fetch-fids30` (or `dvc pull`)"
    else:
        how = (f"fids30.source '{source}' does not exist: {fids30.DOWNLOAD_HINT}, then run `synthset fetch-fids30`; "
               f"or remove fids30 from `datasets` in {params_file} to run MNIST only")
    return f"{what}: {how}"


def check(params: Params, params_file: str = "params.yaml") -> dict:
    """Raise naming every dataset that is missing and how to get it; else write and return the record."""
    problems = {"mnist": _mnist_problem, "fids30": lambda: _fids30_problem(params, params_file)}
    found = {dataset: problem for dataset in params.datasets if (problem := problems[dataset]())}
    if found:
        lines = "\n".join(f"  {dataset}: {problem}" for dataset, problem in found.items())
        raise SynthsetError(f"raw data missing for {len(found)} dataset(s) of `datasets`; nothing was run:\n{lines}\n"
                            "`bash scripts/run.sh` fetches every dataset, then runs `dvc repro`.")
    record = {"datasets": {d: sorted(p.name for p in paths.raw(d).iterdir()) for d in params.datasets}}
    with write_atomically(paths.raw_data_record()) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    return record
