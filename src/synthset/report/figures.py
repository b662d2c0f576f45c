"""Plotly figures drawn from the report's frames; no file is read here except PNGs already located.

Interactive controls are plotly updatemenus that switch precomputed traces, so pages work offline
with plotly.js alone.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from PIL import Image

from synthset.imaging import image_grid
from synthset.report import papers
from synthset.report.frames import CURVE_METRICS, SHOWN_QUALITY_METRICS, ema

SMOOTHING = (0.0, 0.6, 0.9)
SOURCE_COLOURS = {"real": "#1f77b4", "augmented": "#ff7f0e", "synthetic": "#2ca02c", "real_plus_synthetic": "#9467bd"}
SOURCE_NAMES = {"real": "real", "augmented": "augmented", "synthetic": "synthetic", "real_plus_synthetic": "real + synthetic"}
GAN_COLOURS = {"d_loss": "#d62728", "g_loss": "#1f77b4", "d_acc_real": "#2ca02c", "d_acc_fake": "#ff7f0e"}


def png_uri(image: np.ndarray | Path) -> str:
    """A PNG as a data URI, so images travel inside the page."""
    if isinstance(image, Path):
        data = image.read_bytes()
    else:
        array = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
        buffer = io.BytesIO()
        Image.fromarray(array).convert("RGB").save(buffer, format="PNG")
        data = buffer.getvalue()
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _hide_axes(figure: go.Figure) -> None:
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False, scaleanchor=None)


# --- GAN training (the paper's Figure 7) ----------------------------------------------------------


def gan_training(curves: pd.DataFrame, choice: pd.DataFrame, levels: list[tuple] = ()) -> go.Figure:
    """Per class: losses (left) and D accuracy on real and fake (right) against step, with buttons
    for the smoothing and a dashed line at the chosen epoch's last step."""
    classes = list(dict.fromkeys(curves["class"]))
    figure = make_subplots(rows=len(classes), cols=2, shared_xaxes=False, vertical_spacing=0.25 / len(classes),
                           subplot_titles=[f"{name}: {part}" for name in classes for part in ("D and G loss", "D accuracy")])
    for row, name in enumerate(classes, start=1):
        for metric, colour in GAN_COLOURS.items():
            part = curves[(curves["class"] == name) & (curves["metric"] == metric)]
            for weight in SMOOTHING:
                figure.add_trace(go.Scatter(x=part["step"], y=ema(part["value"], weight), mode="lines", name=metric,
                                            line={"color": colour, "width": 1.3}, legendgroup=metric,
                                            showlegend=row == 1 and weight == SMOOTHING[0], visible=weight == SMOOTHING[0],
                                            meta=weight), row=row, col=1 if "loss" in metric else 2)
        for panel, value, what in levels:  # the paper's stated levels, dotted
            figure.add_hline(y=value, line_dash="dot", line_color="grey", row=row, col=1 if panel == "loss" else 2,
                             **({"annotation_text": what, "annotation_position": "bottom left"} if row == 1 else {}))
        chosen = choice[choice["class"] == name]
        if len(chosen) and np.isfinite(chosen["step"].iloc[0]):
            # Anchored left of the line, so a label at the last step does not widen the axis.
            label = {"annotation_text": f"chosen epoch {chosen['epoch'].iloc[0]}", "annotation_position": "top left"}
            for col in (1, 2):
                figure.add_vline(x=chosen["step"].iloc[0], line_dash="dash", line_color="black", row=row, col=col,
                                 **(label if col == 1 else {}))
    buttons = [{"label": "raw" if weight == 0 else f"EMA {weight}", "method": "restyle",
                "args": [{"visible": [trace.meta == weight for trace in figure.data]}]} for weight in SMOOTHING]
    figure.update_layout(height=230 * len(classes) + 120, updatemenus=[{"buttons": buttons, "type": "buttons",
                         "direction": "right", "x": 0, "y": 1.0 + 60 / (230 * len(classes)), "xanchor": "left"}],
                         margin={"t": 90}, legend={"orientation": "h", "y": 1.0 + 30 / (230 * len(classes)), "x": 0.4})
    figure.update_xaxes(title_text="step", row=len(classes))
    return figure


# --- samples (Figures 3, 5, 10) -------------------------------------------------------------------


def samples_at_chosen_epoch(grids: pd.DataFrame, choice: pd.DataFrame, real: dict[int, np.ndarray], columns: int = 5) -> go.Figure:
    """For each class, the generator's grid at its chosen epoch above a grid of real images."""
    labels = list(choice["label"])
    rows = 2 * -(-len(labels) // columns)
    titles = [" "] * (rows * columns)
    for index, (name, epoch) in enumerate(zip(choice["class"], choice["epoch"])):
        top = 2 * (index // columns) * columns + index % columns
        titles[top], titles[top + columns] = f"{name}: synthetic, epoch {epoch}", f"{name}: real"
    figure = make_subplots(rows=rows, cols=columns, vertical_spacing=0.04, horizontal_spacing=0.02,
                           subplot_titles=titles)
    for index, (label, name, epoch) in enumerate(zip(choice["label"], choice["class"], choice["epoch"])):
        row, col = 2 * (index // columns) + 1, index % columns + 1
        grid = grids[(grids["label"] == label) & (grids["epoch"] == epoch)]
        if len(grid):
            figure.add_trace(go.Image(source=png_uri(grid["path"].iloc[0]), name=f"{name} synthetic"), row=row, col=col)
        side = int(np.sqrt(len(real[label]))) or 1
        figure.add_trace(go.Image(source=png_uri(image_grid(real[label][: side * side], side)), name=f"{name} real"),
                         row=row + 1, col=col)
    _hide_axes(figure)
    figure.update_layout(height=260 * rows, margin={"t": 40, "l": 10, "r": 10})
    return figure


def samples_across_epochs(grids: pd.DataFrame, real: dict[int, np.ndarray]) -> go.Figure:
    """One class's grids at every kept epoch and real images last; a menu picks the class."""
    epochs = sorted(grids["epoch"].unique())
    classes = list(dict.fromkeys(zip(grids["label"], grids["class"])))
    figure = make_subplots(rows=1, cols=len(epochs) + 1, horizontal_spacing=0.01,
                           subplot_titles=[f"epoch {e}" for e in epochs] + ["real"])
    owner = []
    for number, (label, name) in enumerate(classes):
        for col, epoch in enumerate(epochs, start=1):
            grid = grids[(grids["label"] == label) & (grids["epoch"] == epoch)]
            if len(grid):
                figure.add_trace(go.Image(source=png_uri(grid["path"].iloc[0]), visible=number == 0, name=f"{name} {epoch}"),
                                 row=1, col=col)
                owner.append(label)
        side = int(np.sqrt(len(real[label]))) or 1
        figure.add_trace(go.Image(source=png_uri(image_grid(real[label][: side * side], side)), visible=number == 0,
                                  name=f"{name} real"), row=1, col=len(epochs) + 1)
        owner.append(label)
    buttons = [{"label": name, "method": "restyle", "args": [{"visible": [o == label for o in owner]}]}
               for label, name in classes]
    _hide_axes(figure)
    figure.update_layout(height=max(260, 1400 // (len(epochs) + 1) + 80), margin={"t": 90, "l": 10, "r": 10},
                         updatemenus=[{"buttons": buttons, "x": 0, "y": 1.25, "xanchor": "left", "direction": "down"}])
    return figure


# --- classifiers (Figures 8, 9, 11, 12) -----------------------------------------------------------


def classifier_curves(curves: pd.DataFrame, paper_points: list[tuple] = ()) -> go.Figure:
    """Train and validation accuracy and loss per epoch for each source: mean over seeds, band of ± 1 std;
    the paper's stated values as crosses in the source's colour."""
    figure = make_subplots(rows=2, cols=2, subplot_titles=[m.replace("_", " ") for m in CURVE_METRICS],
                           vertical_spacing=0.12)
    for index, metric in enumerate(CURVE_METRICS):
        row, col = index // 2 + 1, index % 2 + 1
        for source, colour in SOURCE_COLOURS.items():
            part = curves[(curves["source"] == source) & (curves["metric"] == metric)]
            if part.empty:
                continue
            band_x = list(part["epoch"]) + list(part["epoch"])[::-1]
            band_y = list(part["mean"] + part["std"]) + list(part["mean"] - part["std"])[::-1]
            figure.add_trace(go.Scatter(x=band_x, y=band_y, fill="toself", fillcolor=colour, opacity=0.18, line={"width": 0},
                                        hoverinfo="skip", showlegend=False, legendgroup=source), row=row, col=col)
            figure.add_trace(go.Scatter(x=part["epoch"], y=part["mean"], mode="lines+markers", name=SOURCE_NAMES[source],
                                        line={"color": colour}, legendgroup=source, showlegend=index == 0), row=row, col=col)
    for number, (metric, source, epoch, value, where) in enumerate(paper_points):
        index = CURVE_METRICS.index(metric)
        figure.add_trace(go.Scatter(x=[epoch], y=[value], mode="markers", name="paper", legendgroup="paper",
                                    showlegend=number == 0, hovertext=f"paper, {source}: {value} ({where})",
                                    marker={"symbol": "x", "size": 12, "color": SOURCE_COLOURS[source],
                                            "line": {"color": "black", "width": 1}}), row=index // 2 + 1, col=index % 2 + 1)
    figure.update_xaxes(title_text="epoch", row=2)
    figure.update_xaxes(dtick=max(1, int(max([curves["epoch"].max(), *[p[2] for p in paper_points]])) // 10))
    figure.update_layout(height=640, legend={"orientation": "h", "y": 1.1})
    return figure


# --- quality --------------------------------------------------------------------------------------


def quality_per_class(quality: pd.DataFrame) -> go.Figure:
    """Each metric per class (and for the whole set) as bars, its real-vs-real floor as a black tick."""
    metrics = list(dict.fromkeys(quality["metric"]))
    figure = make_subplots(rows=-(-len(metrics) // 2), cols=2, subplot_titles=metrics, vertical_spacing=0.08)
    for index, metric in enumerate(metrics):
        part = quality[quality["metric"] == metric]
        row, col = index // 2 + 1, index % 2 + 1
        figure.add_trace(go.Bar(x=part["class"], y=part["value"], name="synthetic", marker_color="#2ca02c",
                                showlegend=index == 0, legendgroup="synthetic"), row=row, col=col)
        figure.add_trace(go.Scatter(x=part["class"], y=part["floor"], mode="markers", name="floor (real vs real)",
                                    marker={"symbol": "line-ew-open", "size": 22, "color": "black", "line": {"width": 3}},
                                    showlegend=index == 0, legendgroup="floor"), row=row, col=col)
    figure.update_layout(height=260 * -(-len(metrics) // 2), legend={"orientation": "h", "y": 1.04}, bargap=0.3)
    return figure


def quality_against_epoch(by_epoch: pd.DataFrame, choice: pd.DataFrame) -> go.Figure:
    """A metric per class against the generator epoch (menu picks the metric), floors dotted, chosen epochs marked."""
    present = set(by_epoch["metric"])
    selection = choice["metric"].iloc[0] if len(choice) else None
    metrics = [m for m in [selection, *SHOWN_QUALITY_METRICS] if m in present]
    metrics = list(dict.fromkeys(metrics)) + sorted(present - set(metrics))  # the selection metric first
    figure, owner = go.Figure(), []
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
    for number, metric in enumerate(metrics):
        for index, (label, part) in enumerate(by_epoch[by_epoch["metric"] == metric].groupby("label", sort=True)):
            colour, name = palette[index % len(palette)], part["class"].iloc[0]
            figure.add_trace(go.Scatter(x=part["epoch"], y=part["value"], mode="lines+markers", name=name, legendgroup=name,
                                        line={"color": colour}, visible=number == 0))
            figure.add_trace(go.Scatter(x=part["epoch"], y=part["floor"], mode="lines", name=f"{name} floor",
                                        legendgroup=name, showlegend=False, line={"color": colour, "dash": "dot"},
                                        visible=number == 0))
            chosen = choice[choice["label"] == label]["epoch"]
            picked = part[part["epoch"].isin(chosen)]
            figure.add_trace(go.Scatter(x=picked["epoch"], y=picked["value"], mode="markers", legendgroup=name,
                                        showlegend=False, name=f"{name} chosen", visible=number == 0,
                                        marker={"symbol": "star", "size": 14, "color": colour, "line": {"color": "black", "width": 1}}))
            owner += [metric] * 3
    buttons = [{"label": metric, "method": "update",
                "args": [{"visible": [o == metric for o in owner]},
                         {"yaxis.type": "log" if (by_epoch.loc[by_epoch["metric"] == metric, ["value", "floor"]] > 0).all().all() and metric in ("fid", "kid") else "linear",
                          "yaxis.title.text": metric}]} for metric in metrics]
    figure.update_layout(height=480, xaxis_title="generator epoch", yaxis_title=metrics[0], xaxis_dtick=max(1, int(by_epoch["epoch"].max()) // 10),
                         yaxis_type="log" if metrics[0] in ("fid", "kid") and (by_epoch.loc[by_epoch["metric"] == metrics[0], ["value", "floor"]] > 0).all().all() else "linear",
                         updatemenus=[{"buttons": buttons, "x": 0, "y": 1.18, "xanchor": "left"},
                                      {"type": "buttons", "direction": "right", "x": 0.3, "y": 1.18, "xanchor": "left",
                                       "buttons": [{"label": f"{kind} y", "method": "relayout", "args": [{"yaxis.type": kind}]}
                                                   for kind in ("linear", "log")]}], margin={"t": 80})
    return figure
