"""Plotly figures of study 2 (the poster) and of the summary, ours beside the papers' numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from synthset.report import papers
from synthset.report.figures import png_uri

OURS, PAPER = "#2ca02c", "#7f7f7f"


def _table(header: list[str], columns: list[list], height: int | None = None, first_width: float = 1.6) -> go.Figure:
    figure = go.Figure(go.Table(
        columnwidth=[first_width] + [1] * (len(header) - 1),
        header={"values": [f"<b>{h}</b>" for h in header], "fill_color": "#e8eef5", "align": "center"},
        cells={"values": columns, "align": ["left"] + ["center"] * (len(header) - 1), "height": 26}))
    figure.update_layout(height=height or 60 + 28 * (len(columns[0]) + 1), margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def classifier_table(ours: pd.DataFrame) -> go.Figure:
    """The poster's Results layout: a row per model, for each epoch "train / test" on real and
    "n/a / test" on synthetic; our table epochs first, then the poster's 5, 50, 100."""
    models = list(dict.fromkeys(ours["model"]))
    header, columns = ["model"], [[papers.POSTER_MODEL_NAMES.get(m, m) for m in models]]
    for epoch in sorted(ours["epoch"].unique()):
        cells = ours[ours["epoch"] == epoch].set_index("model")
        header += [f"ours, epoch {epoch}: real", f"ours, epoch {epoch}: synthetic"]
        columns.append([f"{cells.at[m, 'train']:.3f} / {cells.at[m, 'test_real']:.3f}" for m in models])
        columns.append([f"n/a / {cells.at[m, 'test_synthetic']:.3f}" for m in models])
    for epoch in papers.POSTER_EPOCHS:
        header += [f"poster, epoch {epoch}: real", f"poster, epoch {epoch}: synthetic"]
        rows = [papers.POSTER_TABLE[m][epoch] if m in papers.POSTER_TABLE else None for m in models]
        columns.append([f"{r[0]:.3f} / {r[1]:.3f}" if r else "" for r in rows])
        columns.append([f"n/a / {r[2]:.3f}" if r else "" for r in rows])
    return _table(header, columns, first_width=1.4)


def classifier_bars(ours: pd.DataFrame) -> go.Figure:
    """Test accuracy on real and on synthetic images per model: ours at the last table epoch, the poster's at epoch 5."""
    last = ours[ours["epoch"] == ours["epoch"].max()].set_index("model")
    models = list(last.index)
    names = [papers.POSTER_MODEL_NAMES.get(m, m) for m in models]
    figure = go.Figure()
    for column, index, label in (("test_real", 1, "real test"), ("test_synthetic", 2, "synthetic test")):
        figure.add_trace(go.Bar(x=names, y=last[column], name=f"ours, {label} (epoch {ours['epoch'].max()})",
                                marker_color=OURS, marker_pattern_shape="" if index == 1 else "/"))
        figure.add_trace(go.Bar(x=names, y=[papers.POSTER_TABLE[m][5][index] for m in models],
                                name=f"poster, {label} (epoch 5)", marker_color=PAPER,
                                marker_pattern_shape="" if index == 1 else "/"))
    figure.update_layout(barmode="group", height=420, yaxis={"title": "test accuracy", "range": [0, 1.02]},
                         legend={"orientation": "h", "y": 1.15})
    return figure


def semi_table(ours: pd.DataFrame) -> go.Figure:
    """semi-gan* and semi-gan**: discriminator head ; label head, train / test, ours and the poster's."""
    header = ["variant", "epoch", "ours: discriminator ; label head", "poster epoch 5", "poster epoch 50", "poster epoch 100"]
    rows = list(ours.itertuples(index=False))
    fmt = lambda d_tr, d_te, l_tr, l_te: f"{d_tr:.3f} / {d_te:.3f} ; {l_tr:.3f} / {l_te:.3f}"  # noqa: E731
    columns = [[papers.POSTER_SEMI_NAMES[r.variant] for r in rows], [r.epoch for r in rows],
               [fmt(r.d_train, r.d_test, r.label_train, r.label_test) for r in rows]]
    for epoch in papers.POSTER_EPOCHS:
        columns.append([fmt(*papers.POSTER_SEMI[r.variant][epoch]) for r in rows])
    return _table(header, columns, first_width=2.0)


def error_trend(epochs: pd.Series, errors: pd.Series) -> tuple[float, float] | None:
    """(slope, intercept) of log error against log epoch, fitted by least squares: where the curve
    is heading if it keeps its rate. None with fewer than 3 epochs or an error that is not falling."""
    if len(epochs) < 3 or (errors <= 0).any():
        return None
    slope, intercept = np.polyfit(np.log(epochs), np.log(errors), 1)
    return (float(slope), float(intercept)) if slope < 0 else None


def epochs_to_reach(trend: tuple[float, float], error: float) -> float:
    slope, intercept = trend
    return float(np.exp((np.log(error) - intercept) / slope))


def ssl_gan_curves(ssl: pd.DataFrame, reference: float = papers.SSL_ERROR_100_LABELS) -> go.Figure:
    """The complete semi-supervised GAN's test error on real digits per epoch, one line per label
    count (log axes), each with its power-law trend extended to the epoch at which it would reach
    ``reference`` (Salimans et al.'s error with 100 labels), at most 1,000 times the epochs run."""
    figure = go.Figure()
    for count, part in ssl.groupby("labels"):
        errors = 1 - part["test_accuracy"]
        figure.add_trace(go.Scatter(x=part["epoch"], y=errors, mode="lines+markers", name=f"{count} labels"))
        trend = error_trend(part["epoch"], errors)
        if trend is not None:
            last = part["epoch"].max()
            reach = min(epochs_to_reach(trend, reference), 1000 * last)
            x = np.geomspace(1, max(reach, last), 50)
            figure.add_trace(go.Scatter(
                x=x, y=np.exp(trend[1]) * x ** trend[0], mode="lines", line={"dash": "dot"},
                name=f"{count} labels, trend (error x epoch^{trend[0]:.2f}): {reference} near epoch {reach:,.0f}"))
    figure.add_hline(y=reference, line_dash="dash", annotation_text=f"{papers.SSL_ERROR_WHERE}, 100 labels: {reference}")
    figure.update_layout(height=420, xaxis_title="epoch", yaxis_title="test error (real MNIST test set)",
                         xaxis_type="log", yaxis_type="log")
    return figure


def attention_bars(similarity: pd.DataFrame) -> go.Figure:
    """Rank correlation of two CNNs' maps, per pair and method, on real and synthetic test digits."""
    figure = go.Figure()
    for (method, images), part in similarity.groupby(["method", "images"]):
        figure.add_trace(go.Bar(y=part["pair"].str.replace("_", " "), x=part["rank_correlation"], orientation="h",
                                name=f"{method.replace('_', '-')}, {images} test digits"))
    figure.update_layout(barmode="group", height=120 + 70 * similarity["pair"].nunique(),
                         xaxis_title="Spearman rank correlation of the maps (mean over images)", margin={"l": 260})
    return figure


def image(path: Path, height: int = 520) -> go.Figure:
    """A PNG drawn by a pipeline stage (attention grids), as a plotly image trace."""
    figure = go.Figure(go.Image(source=png_uri(Path(path)), name=Path(path).stem))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.update_layout(height=height, margin={"t": 10, "b": 10, "l": 10, "r": 10})
    return figure


def summary_table(rows: pd.DataFrame) -> go.Figure:
    """The handful of numbers, ours beside the reference (a floor or a paper's number) and where it comes from."""
    return _table(["question", "ours", "reference", "reference from; why ours differs"],
                  [list(rows["question"]), list(rows["ours"]), list(rows["reference"]), list(rows["source"])],
                  height=80 + 40 * len(rows), first_width=3.0)  # wrapped rows: ~35-40 px


def summary_bars(quality: pd.DataFrame, dataset: str) -> go.Figure:
    """Whole-set quality against its real-vs-real floor for the bounded metrics (0 to 1)."""
    bounded = quality[(quality["class"] == "all") & quality["metric"].isin(
        ["precision", "recall", "density", "coverage", "label_fidelity", "near_copy_share"])]
    figure = go.Figure([go.Bar(x=bounded["metric"], y=bounded["value"], name=f"{dataset}: synthetic vs real", marker_color=OURS),
                        go.Bar(x=bounded["metric"], y=bounded["floor"], name=f"{dataset}: real vs real (floor)", marker_color=PAPER)])
    figure.update_layout(barmode="group", height=360, legend={"orientation": "h", "y": 1.15}, yaxis_title="score")
    return figure
