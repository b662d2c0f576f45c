"""Stage ``check_data``: whether every dataset of ``datasets`` is in ``data/``, before any work.

Raw data is fetched outside the pipeline (``synthset fetch-mnist``, ``synthset fetch-images``; both
run by ``scripts/run.sh``) because ``data.dvc``, not a stage, versions ``data/``. Every stage
depends on this check, so a dataset that was never fetched (FIDS30 is in the default ``datasets``)
stops ``dvc repro`` before anything trains, with the command that fetches it, instead of failing
halfway with a missing-file error. It reads every dataset's settings, so ``dvc.yaml`` gives it
``params.yaml`` whole: it re-runs on any change there, in seconds, to the same record, and nothing
follows from it; the prepare stages depend on ``data/<dataset>`` themselves.
"""

from __future__ import annotations

import json

from synthset import paths
from synthset.config import Project
from synthset.datasets.registry import module
from synthset.errors import SynthsetError
from synthset.io import write_atomically


def run(project: Project, params_file: str = "params.yaml") -> dict:
    """Raise naming every dataset that is missing and how to get it; else write and return the record."""
    found = {dataset: problem for dataset in project.datasets
             if (problem := module(project.data_of(dataset).kind).raw_data_problem(
                 project.data_of(dataset), paths.raw(dataset), params_file, dataset))}
    if found:
        lines = "\n".join(f"  {dataset}: {problem}" for dataset, problem in found.items())
        raise SynthsetError(f"raw data missing for {len(found)} dataset(s) of `datasets`; nothing was run:\n{lines}\n"
                            "`bash scripts/run.sh` fetches every dataset, then runs `dvc repro`.")
    record = {"datasets": {d: sorted(p.name for p in paths.raw(d).iterdir()) for d in project.datasets}}
    with write_atomically(paths.raw_data_record()) as partial:
        partial.write_text(json.dumps(record, indent=2) + "\n")
    return record
