"""``reports/sweeps.html``: every Optuna study of a storage, with Optuna's own plotly figures.

Per study: optimisation history, parameter importances, parallel coordinates, slices, the Pareto
front of a two-objective study, and the best trial's samples beside the baseline's (the settings
of params.yaml, trial 0), read from the trials' MLflow runs.
"""

from __future__ import annotations

import datetime
import html
import tempfile
from pathlib import Path
from typing import Callable

import optuna
import pandas as pd
import plotly.graph_objects as go
import plotly.offline
from optuna.trial import TrialState
from plotly.subplots import make_subplots

from synthset import paths
from synthset.errors import without_password
from synthset.io import write_atomically
from synthset.report.figures import png_uri
from synthset.report.pages import Context, Section, page
from synthset.tracking.store import connect, run_url, tracking_uri
from synthset.tuning import storage
from synthset.hashes import data_version, git_commit


def write_page(url: str) -> Path:
    """Write the page for every study in the storage at ``url``; returns its path."""
    store = storage.open_storage(url, sweep=None, workers=1) if not storage.is_journal(url) or Path(url).exists() else None
    names = [s.study_name for s in optuna.get_all_study_summaries(store, include_best_trial=False)] if store else []
    sections = []
    for name in names:
        sections += study_sections(optuna.load_study(study_name=name, storage=store))
    if not sections:
        sections = [Section("No study yet", "", missing=f"no study in {without_password(url)}: run `synthset sweep`")]
    context = Context(data_version(), git_commit(), tracking_uri(),
                      datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"))
    intro = (f"<p>Studies in <code>{html.escape(without_password(url))}</code>. Browse one live with "
             f"<code>optuna-dashboard {html.escape(url)}</code>; its trials are nested runs of the study's run "
             "in the MLflow experiment <code>synthset-&lt;dataset&gt;-sweeps</code>.</p>")
    script = f"<script>{plotly.offline.get_plotlyjs()}</script>"  # one file: the page opens anywhere
    text = page("sweeps", sections, context, intro, title="Sweeps - synthset report", script=script)
    with write_atomically(paths.sweeps_page()) as partial:
        partial.write_text(text, encoding="utf-8")
    return paths.sweeps_page()


def _guarded(title: str, text: str, build: Callable[[], go.Figure], runs: pd.DataFrame) -> Section:
    try:
        return Section(title, text, build(), runs=runs)
    except Exception as error:  # noqa: BLE001 - e.g. importances need two complete trials
        return Section(title, text, missing=f"{type(error).__name__}: {error}", runs=runs)


def study_sections(study: optuna.Study) -> list[Section]:
    from optuna import visualization as vis

    settings = study.user_attrs.get("settings", {})
    metric = settings.get("metric", "objective")
    names = [metric] + (["seconds per step"] if len(study.directions) > 1 else [])
    states = pd.Series([t.state.name for t in study.get_trials(deepcopy=False)]).value_counts().to_dict()
    head = (f"Study <b>{html.escape(study.study_name)}</b> ({html.escape(str(settings.get('dataset', '?')))}, "
            f"classes {settings.get('classes', '?')}, {settings.get('steps', '?')} steps per class and trial): "
            + ", ".join(f"{count} {state.lower()}" for state, count in states.items()) + ".")
    runs = _parent_run(study)
    target = {} if len(study.directions) == 1 else {"target": lambda t: t.values[0], "target_name": metric}
    sections = [_guarded(f"{study.study_name}: optimisation history", head,
                         lambda: vis.plot_optimization_history(study, target_name=metric, **target), runs)]
    if len(study.directions) > 1:
        sections.append(_guarded(f"{study.study_name}: Pareto front", "Quality against seconds per step: "
                                 "choose one with `synthset sweep-best STUDY --trial N`.",
                                 lambda: vis.plot_pareto_front(study, target_names=names), runs))
    sections += [
        _guarded(f"{study.study_name}: parameter importances", f"fANOVA importance of each setting for {metric}.",
                 lambda: vis.plot_param_importances(study, **target), runs),
        _guarded(f"{study.study_name}: parallel coordinates", "Each line a complete trial.",
                 lambda: vis.plot_parallel_coordinate(study, **target), runs),
        _guarded(f"{study.study_name}: slices", f"{metric} against each setting.",
                 lambda: vis.plot_slice(study, **target), runs),
        _guarded(f"{study.study_name}: best trial beside the baseline", "Samples of each class's generator at the "
                 "end of its budget: the settings of params.yaml (baseline) and the best trial.",
                 lambda: _samples(study), runs),
    ]
    return sections


def _parent_run(study: optuna.Study) -> pd.DataFrame:
    run_id = study.user_attrs.get("mlflow_run_id")
    if not run_id:
        return pd.DataFrame()
    url = run_url(study.user_attrs.get("mlflow_experiment_id", "0"), run_id)
    return pd.DataFrame([{"name": f"study {study.study_name}", "run_id": run_id, "url": url,
                          "data_version": data_version()}])


def _samples(study: optuna.Study) -> go.Figure:
    import mlflow

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    baseline = next((t for t in complete if t.user_attrs.get("baseline")), None)
    best = study.best_trial if len(study.directions) == 1 else None
    shown = [(f"baseline (trial {baseline.number})", baseline)] if baseline else []
    if best is not None and best is not baseline and (baseline is None or best.number != baseline.number):
        shown.append((f"best (trial {best.number})", best))
    if not shown:
        raise ValueError("no complete baseline or best trial")
    labels = study.user_attrs["settings"]["classes"]
    connect()
    figure = make_subplots(rows=len(shown), cols=len(labels), horizontal_spacing=0.02, vertical_spacing=0.08,
                           subplot_titles=[f"{name}: class {label}" for name, _ in shown for label in labels])
    with tempfile.TemporaryDirectory() as scratch:
        for row, (_, trial) in enumerate(shown, start=1):
            folder = Path(mlflow.artifacts.download_artifacts(run_id=trial.user_attrs["mlflow_run_id"],
                                                              artifact_path="samples", dst_path=f"{scratch}/{row}"))
            for col, label in enumerate(labels, start=1):
                figure.add_trace(go.Image(source=png_uri(folder / f"class_{label}.png")), row=row, col=col)
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=320 * len(shown), margin=dict(l=10, r=10, t=40, b=10))
    return figure
