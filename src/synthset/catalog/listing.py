"""``synthset datasets list``: one row per version of each synthetic dataset, as a pandas table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from synthset.catalog import history
from synthset.catalog.storage import Locator


def table(root: Path, name: str | None = None, with_runs: bool = True) -> pd.DataFrame:
    """Versions oldest first: set, version hash, the revision that first recorded it (and how many
    did), date, the settings changed since the set's previous version, headline numbers, where the
    bytes are and, from MLflow, the runs that made or read it."""
    rows = []
    previous: dict[str, dict[str, object]] = {}
    found = history.all_versions(root)
    with Locator(root) as locator:
        for version, revisions in found:
            made = version.set
            if name and name not in (made.name, made.dataset):
                continue
            before = previous.get(made.name)
            rows.append({
                "set": made.name,
                "version": version.md5,
                "revision": version.revision.label,
                "kind": version.revision.kind,
                "date": version.revision.date,
                "revisions": len(revisions),
                "changed": "(first version)" if before is None else (history.changed_settings(before, version.settings)
                                                                      or "(same settings)"),
                **history.headline(root, version.revision.sha, made),
                "where": locator.where(made, version.md5),
            })
            previous[made.name] = version.settings
    frame = pd.DataFrame(rows)
    if with_runs and len(frame):
        frame["runs"] = _runs(list(frame["version"]))
    return frame


def _runs(hashes: list[str]) -> list[str]:
    """For each hash, ``name id (context)`` of every MLflow run that logged that version."""
    from synthset.tracking.store import connect, runs_with_data, store_absent

    if store_absent():  # reading the default store must not create it
        return [""] * len(hashes)
    connect()
    return ["; ".join(f"{run['run_name']} {run['run_id'][:8]} ({run['context']})" for run in runs_with_data(md5))
            for md5 in hashes]


TERMINAL_COLUMNS = ["set", "version", "revision", "date", "revisions", "changed", "tstr_accuracy", "gap_pp", "fid",
                    "recall", "label_fidelity", "cnn_5l_accuracy_synthetic_test", "where", "runs"]


def terminal_view(frame: pd.DataFrame) -> str:
    """The table for a terminal: short hashes, the headline columns, one line per version; `--json`
    has every column and the full settings diff."""
    if frame.empty:
        return "no synthetic dataset version in this repository's history or its DVC experiments"
    shown = frame[[column for column in TERMINAL_COLUMNS if column in frame]].copy()
    shown["version"] = shown["version"].str[:10]
    shown["date"] = shown["date"].str[:16].str.replace("T", " ")
    shown["changed"] = shown["changed"].map(lambda text: text if len(text) <= 48 else text[:45] + "...")
    if "runs" in shown:
        shown["runs"] = shown["runs"].map(lambda text: text.count("(") or "")
    shown = shown.rename(columns={"cnn_5l_accuracy_synthetic_test": "cnn_5l_on_test", "tstr_accuracy": "tstr",
                                  "label_fidelity": "label_fid", "revisions": "revs"})
    numbers = shown.select_dtypes("number").columns
    shown[numbers] = shown[numbers].round(3)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_colwidth", 50):
        return shown.fillna("").to_string(index=False)


def runs_view(frame: pd.DataFrame) -> str:
    """Each version's MLflow runs (name, id, context), a block per version."""
    blocks = [f"{row.set} {row.version[:10]} ({row.revision}):\n  " + row.runs.replace("; ", "\n  ")
              for row in frame.itertuples() if getattr(row, "runs", "")]
    return "\n".join(blocks) or "no MLflow run in this project's store logged any of these versions"
