"""``synthset report``: every dashboard of ``reports/`` from the metrics files, the archives and MLflow."""

from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from synthset import config, paths, stages
from synthset.config import Params
from synthset.report import dashboards as boards
from synthset.report import experiments, figures_study2, frames, pages
from synthset.report.figures import SOURCE_NAMES
from synthset.report.pages import Section
from synthset.tracking.store import tracking_uri
from synthset.hashes import data_version, git_commit


def build(params_file: Path = Path("params.yaml")) -> list[Path]:
    """Write the index, one page per dashboard and plotly.js; returns the files written.

    Datasets are those of ``datasets`` in the settings; study 2 appears when MNIST is among them.
    """
    project = config.load(params_file)
    datasets = list(project.datasets)
    params_of = {dataset: config.load(params_file, dataset=dataset) for dataset in datasets}
    runs = {dataset: frames.runs(dataset) for dataset in datasets}
    context = pages.Context(data_version(), git_commit(), tracking_uri(),
                            datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    sections = _sections(datasets, params_of, runs)
    written = {name: pages.page(name, parts, context) for name, parts in sections.items() if name != "index"}
    written["index"] = pages.page("index", sections["index"], context, pages.index_intro())
    return pages.write(written)


def _per_dataset(datasets: list[str], params_of: dict[str, Params], title: str, build_one) -> list[Section]:
    out = []
    for dataset in datasets:
        made = boards.guarded(f"{boards.title(params_of[dataset])}: {title}", lambda: build_one(dataset))
        out += made if isinstance(made, list) else [made]
    return out


def _sections(datasets: list[str], params_of: dict[str, Params], runs: dict[str, pd.DataFrame]) -> dict[str, list[Section]]:
    study2_dataset = next((d for d in datasets if d in config.STUDY2_DATASETS), None)
    study2 = boards.study2_sections(params_of[study2_dataset], runs[study2_dataset]) if study2_dataset else [
        Section("Study 2", "", missing=f"none of {list(config.STUDY2_DATASETS)} is in `datasets`: study 2 runs on those")]
    summary = _summary(datasets, params_of, runs)
    return {
        "index": [boards.guarded("Validation accuracy by training source", lambda: _overview(datasets, params_of, runs)), summary[0]],
        "summary": summary,
        "gan": _per_dataset(datasets, params_of, "GAN training", lambda d: boards.gan_section(d, params_of[d], runs[d])),
        "samples": _per_dataset(datasets, params_of, "samples", lambda d: boards.samples_sections(d, params_of[d], runs[d])),
        "classifiers": _per_dataset(datasets, params_of, "classifiers", lambda d: boards.classifier_section(d, params_of[d], runs[d])),
        "quality": _per_dataset(datasets, params_of, "quality", lambda d: boards.quality_sections(d, params_of[d], runs[d])),
        "study2": study2,
    }


def _overview(datasets: list[str], params_of: dict[str, Params], runs: dict[str, pd.DataFrame]) -> Section:
    """Study 1's final validation accuracy per source and dataset: the first thing to look at."""
    import plotly.graph_objects as go

    figure = go.Figure()
    for dataset in datasets:
        final = frames.classifier_final(dataset)
        accuracy = final[final["metric"] == "val_accuracy"]
        figure.add_trace(go.Bar(x=accuracy["source"].map(SOURCE_NAMES), y=accuracy["mean"], name=boards.title(params_of[dataset]),
                                error_y={"type": "data", "array": accuracy["std"]}))
    figure.update_layout(barmode="group", height=380, yaxis={"title": "real validation accuracy", "range": [0, 1]})
    selected = pd.concat([frames.classifier_runs(runs[d], d) for d in datasets])
    return Section("Study 1 at a glance: the CNN on real validation images, by training source",
                   "Mean ± std over seeds at the last epoch (<code>metrics/&lt;dataset&gt;/study1.json</code>).",
                   figure, frames.provenance(selected), [str(paths.study1_metrics(d)) for d in datasets])


def _summary(datasets: list[str], params_of: dict[str, Params], runs: dict[str, pd.DataFrame]) -> list[Section]:
    def table() -> Section:
        rows = pd.concat([boards.summary_rows(datasets, params_of), boards.experiment_rows(datasets, params_of)], ignore_index=True)
        for dataset in [d for d in datasets if d in config.STUDY2_DATASETS]:
            rows = pd.concat([rows, boards.study2_summary_rows(params_of[dataset])], ignore_index=True)
        selected = pd.concat([frames.latest_runs(runs[d], d, stage) for d in datasets
                              for stage in (stages.ASSESS, stages.AUDIT_LABELS)])
        return Section("How real is our synthetic data?",
                       "Ours beside the real-vs-real floor or the paper's number for the same question. The papers ran "
                       "at their own, larger scale (see Classifiers). A row of an experiment: a recorded <code>dvc exp "
                       "run</code>, for each dataset its overrides change.", figures_study2.summary_table(rows),
                       frames.provenance(selected), [str(paths.study1_metrics(d)) for d in datasets]
                       + [str(paths.quality_metrics(d)) for d in datasets] + [f"{experiments.EXPERIMENTS}/*.json"])

    sections = [boards.guarded("How real is our synthetic data?", table)]
    for dataset in datasets:
        sections.append(boards.guarded(f"{boards.title(params_of[dataset])}: synthetic against real, whole set", lambda d=dataset: Section(
            f"{boards.title(params_of[d])}: synthetic against real, whole set",
            "The bounded quality metrics of the whole synthetic set beside their floor (two real samples).",
            figures_study2.summary_bars(frames.quality(d, boards.class_names(params_of[d])), boards.title(params_of[d])),
            frames.provenance(frames.latest_runs(runs[d], d, stages.ASSESS)), [str(paths.quality_metrics(d))])))
    return sections
