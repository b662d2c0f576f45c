"""``reports/versions.html`` (every version of each synthetic dataset, its numbers over time) and
``reports/compare.html`` (two versions side by side), written by ``synthset datasets``."""

from __future__ import annotations

import datetime
import html
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.offline

from synthset import paths
from synthset.catalog.compare import Comparison
from synthset.imaging import image_grid
from synthset.io import write_atomically
from synthset.report.figures import png_uri
from synthset.report.pages import Context, Section, page
from synthset.tracking.store import tracking_uri
from synthset.hashes import data_version, git_commit

HEADLINES = ["tstr_accuracy", "gap_pp", "fid", "recall", "label_fidelity", "cnn_5l_accuracy_synthetic_test"]


def _context() -> Context:
    return Context(data_version(), git_commit(), tracking_uri(),
                   datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))


def _write(target: Path, name: str, sections: list[Section], intro: str, title: str) -> Path:
    script = f"<script>{plotly.offline.get_plotlyjs()}</script>"  # one file: the page opens anywhere
    text = page(name, sections, _context(), intro, title=title, script=script)
    with write_atomically(target) as partial:
        partial.write_text(text, encoding="utf-8")
    return target


def versions_sections(frame: pd.DataFrame) -> list[Section]:
    if frame.empty:
        return [Section("No version yet", "", missing="no dvc.lock in this repository's history records a synthetic dataset")]
    sections = []
    for name, rows in frame.groupby("set", sort=False):
        shown = rows.drop(columns=["set"]).assign(version=rows["version"].str[:12])
        table = shown.to_html(index=False, na_rep="", float_format=lambda v: f"{v:.4g}", border=0, escape=True)
        sections.append(Section(f"{name}: {len(rows)} version(s)",
                                "Oldest first. <i>changed</i>: settings that differ from the previous version "
                                "(the params DVC recorded for the stages that made it); <i>where</i>: the bytes' "
                                "places; restore one with <code>synthset datasets checkout REV --dataset "
                                f"{html.escape(str(name))} --to DIR</code>.<div style='overflow-x:auto'>{table}</div>",
                                sources=["dvc.lock and metrics/ of each revision (git)"]))
        measured = [column for column in HEADLINES if column in rows and rows[column].notna().any()]
        if measured:
            long = rows.melt(id_vars=["revision", "date"], value_vars=measured, var_name="metric").dropna()
            figure = px.line(long, x="date", y="value", color="metric", markers=True, hover_data=["revision"],
                             facet_row="metric", height=220 * len(measured))
            figure.update_yaxes(matches=None, title=None)
            sections.append(Section(f"{name}: headline numbers over time", "Each point a version, at the date of "
                                    "the revision that first recorded it.", figure))
    return sections


def write_versions_page(frame: pd.DataFrame) -> Path:
    intro = ("<p>Every version (DVC hash) of each synthetic dataset that a commit of this repository or a DVC "
             "experiment recorded in <code>dvc.lock</code>; rewritten by <code>synthset datasets list --html</code>.</p>")
    return _write(paths.versions_page(), "versions", versions_sections(frame), intro, "Dataset versions - synthset report")


def write_compare_page(comparison: Comparison) -> Path:
    a, b = comparison.versions
    table = comparison.whole.to_html(na_rep="", float_format=lambda v: f"{v:.4g}", border=0)
    sections = [Section(f"{comparison.name}: {comparison.labels[0]} against {comparison.labels[1]}",
                        f"<i>recorded</i>: the revision's own metrics files; <i>now</i>: both re-scored with this "
                        f"workspace's feature network and holdout. A: <code>{a.md5}</code>, B: <code>{b.md5}</code>."
                        f"<div style='overflow-x:auto'>{table}</div>")]
    images = "".join(f"<figure style='display:inline-block;margin:6px'><img src='{png_uri(image_grid(s, 8))}' "
                     f"style='image-rendering:pixelated;width:{min(640, 8 * s.shape[2] * 3)}px'>"
                     f"<figcaption>{html.escape(tag)}</figcaption></figure>"
                     for tag, s in zip(comparison.labels, comparison.samples, strict=True))
    sections.append(Section("Samples", "The first eight images of each class (a row per class) of each version." + images))
    for metric in ("fid", "recall", "precision", "label_fidelity"):
        rows = comparison.per_class[comparison.per_class["metric"] == metric]
        if len(rows):
            figure = px.bar(rows, x="class", y="value", color="version", barmode="group", height=320)
            sections.append(Section(f"{metric} per class, re-scored now", "", figure))
    intro = "<p>Written by <code>synthset datasets compare</code>.</p>"
    return _write(paths.compare_page(), "compare", sections, intro, "Compare dataset versions - synthset report")
