"""Stage ``report``: the offline HTML dashboards of the last run under ``reports/``, each number
beside the papers' (built by ``synthset.report``)."""

from __future__ import annotations

from pathlib import Path

from synthset.report.build import build


def run(params_file: Path) -> list[Path]:
    """The files written, the index last."""
    return build(params_file)
