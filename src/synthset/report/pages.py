"""HTML pages: a navigation bar, sections of figure + caption, plotly.js loaded from a file beside them.

plotly.js is written once as ``reports/plotly.min.js``; no page reaches the network.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from synthset import paths

PAGES = {  # file name -> (title, what it answers)
    "summary": ("Summary", "How real is our synthetic data? The handful of numbers, with the papers' own."),
    "gan": ("GAN training", "D and G loss, D accuracy on real and fake per step, per class (paper Figure 7); chosen epoch marked."),
    "samples": ("Samples", "Grids at the chosen epoch beside real images, and a class across epochs (paper Figures 3, 5, 10)."),
    "classifiers": ("Classifiers", "Train and validation accuracy and loss for real, augmented, synthetic, real+synthetic (Figures 8, 9, 11, 12)."),
    "quality": ("Quality", "FID, KID, precision, recall, density, coverage, near-copies, label fidelity per class with real-vs-real floors; metric against epoch."),
    "study2": ("Study 2", "The poster's four-classifier table beside ours, semi-supervised results, attention maps."),
}


@dataclass
class Section:
    """One figure with what it shows and where its numbers came from; ``missing`` replaces the figure."""

    title: str
    text: str
    figure: go.Figure | None = None
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    sources: list[str] = field(default_factory=list)  # the files it was built from
    missing: str | None = None


@dataclass
class Context:
    data_version: str
    git_commit: str
    tracking_uri: str
    generated: str


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
nav{background:#243447;padding:10px 24px}nav a{color:#fff;margin-right:18px;text-decoration:none}
nav a.here{font-weight:bold;border-bottom:2px solid #fff}main{max-width:1400px;margin:0 auto;padding:12px 24px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:18px 0;padding:12px 18px}
h2{margin:4px 0 6px;font-size:1.2em}p.text{margin:4px 0 8px}p.caption{font-size:.82em;color:#555;margin:6px 0 0;word-break:break-all}
p.missing{color:#a33;font-weight:bold}ul.pages li{margin:6px 0}code{background:#eef;padding:0 3px}
"""


def nav(current: str) -> str:
    links = [f'<a href="index.html" class="{"here" if current == "index" else ""}">Report</a>']
    links += [f'<a href="{name}.html" class="{"here" if current == name else ""}">{title}</a>'
              for name, (title, _) in PAGES.items()]
    return "<nav>" + "".join(links) + "</nav>"


def caption(section: Section, context: Context) -> str:
    """Which runs and which data a figure came from; links to the MLflow UI when there is one."""
    parts = []
    if len(section.runs):
        names = []
        for run in section.runs.itertuples():
            label = f"{html.escape(str(run.name))} <code>{run.run_id}</code>"
            names.append(f'<a href="{html.escape(run.url)}">{label}</a>' if run.url else label)
        parts.append("MLflow runs: " + "; ".join(names))
        versions = sorted({str(v) for v in section.runs["data_version"]} - {context.data_version})
        if versions:
            parts.append(f"note: runs tagged with other data versions {', '.join(versions)}")
        if not any(section.runs["url"]):
            parts.append(f"open with <code>mlflow ui --backend-store-uri {html.escape(context.tracking_uri)}</code> "
                         "and search the run id")
    else:
        parts.append("MLflow runs: none found in the store for this figure")
    if section.sources:
        parts.append("files: " + ", ".join(f"<code>{html.escape(s)}</code>" for s in section.sources))
    parts.append(f"DVC data hash (data.dvc): <code>{html.escape(context.data_version)}</code>")
    return '<p class="caption">' + ". ".join(parts) + ".</p>"


def render_section(section: Section, context: Context, number: int) -> str:
    body = f"<h2>{html.escape(section.title)}</h2><p class=\"text\">{section.text}</p>"
    if section.missing:
        body += f'<p class="missing">Not available: {html.escape(section.missing)}</p>'
    elif section.figure is not None:
        body += section.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{number}",
                                       config={"displaylogo": False, "responsive": True})
    return f"<section>{body}{caption(section, context)}</section>"


def page(name: str, sections: list[Section], context: Context, intro: str = "", title: str | None = None,
         script: str = '<script src="plotly.min.js"></script>') -> str:
    title = title or ("synthset report" if name == "index" else f"{PAGES[name][0]} - synthset report")
    header = (f"<h1>{html.escape(title)}</h1><p>Generated {html.escape(context.generated)} from git commit "
              f"<code>{html.escape(context.git_commit)}</code>, data <code>{html.escape(context.data_version)}</code>, "
              f"MLflow store <code>{html.escape(context.tracking_uri)}</code>.</p>{intro}")
    body = "".join(render_section(s, context, i) for i, s in enumerate(sections))
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style>{script}</head>"
            f"<body>{nav(name)}<main>{header}{body}</main></body></html>")


def index_intro() -> str:
    items = "".join(f'<li><a href="{name}.html"><b>{title}</b></a>: {html.escape(text)}</li>'
                    for name, (title, text) in PAGES.items())
    return f'<ul class="pages">{items}</ul>'


def write(pages: dict[str, str]) -> list[Path]:
    """Every page and plotly.js beside them; returns the files written."""
    script = paths.report_script()
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    written = [script]
    for name, text in pages.items():
        paths.report_page(name).write_text(text, encoding="utf-8")
        written.append(paths.report_page(name))
    return written
