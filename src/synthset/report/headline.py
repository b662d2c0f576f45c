"""The headline results as a markdown table, read from the committed ``metrics/`` files.

The README shows this table verbatim and a test compares the two, so the front page states what
the metrics files hold and nothing else; ``synthset results`` prints it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from synthset import paths
from synthset.config import SOURCES, STUDY2_DATASETS
from synthset.errors import SynthsetError
from synthset.report.figures import SOURCE_NAMES
from synthset.report.papers import POSTER_MODEL_NAMES, POSTER_TABLE

POSTER_EPOCH = 5  # the poster's first table epoch, the one the default scale's short training is closest to
QUALITY_ROWS = (("fid", "FID (floor)"), ("recall", "recall (floor)"), ("label_fidelity", "label fidelity (floor)"))


def read_metrics(root: Path, path: Path) -> dict:
    """One metrics file as a dict; a missing or unreadable file is named with how to write it."""
    where = root / path
    if not where.is_file():
        raise SynthsetError(f"{where}: missing; the pipeline writes it (`synthset repro`, or `dvc pull` for a run "
                            f"that was pushed), and `synthset results` reads it")
    try:
        return json.loads(where.read_text())
    except json.JSONDecodeError as error:
        raise SynthsetError(f"{where}: not JSON ({error})") from None


def _value(record: dict, key: str, where: Path) -> float:
    if key not in record:
        raise SynthsetError(f"{where}: no `{key}` (has {', '.join(sorted(record)) or 'nothing'})")
    return record[key]


def _entry(root: Path, path: Path, *keys: str) -> tuple[dict, Path]:
    """The section of a metrics file its writer nests under ``keys`` (``study1.<dataset>``, ...)."""
    record = read_metrics(root, path)
    for key in keys:
        record = _value(record, key, root / path)
    return record, root / path


def _accuracy(study1: dict, source: str, where: Path) -> str:
    mean = _value(study1, f"val_accuracy_{source}", where)
    std = study1.get(f"val_accuracy_{source}_std")
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def study1_table(root: Path, titles: Mapping[str, str]) -> list[str]:
    """A column per dataset: the CNN's real validation accuracy per training source (mean ± std over
    classifier seeds), the gap between real and synthetic, and the synthetic set's quality beside
    its real-vs-real floor. ``titles``: dataset -> its name in the header."""
    datasets = list(titles)
    study1 = [_entry(root, paths.study1_metrics(dataset), "study1", dataset) for dataset in datasets]
    quality = [_entry(root, paths.quality_metrics(dataset), "quality", dataset) for dataset in datasets]
    lines = [_row(["study 1", *titles.values()]), _row(["---"] * (len(datasets) + 1))]
    for source in SOURCES:
        lines.append(_row([f"CNN on {SOURCE_NAMES[source]}", *(_accuracy(record, source, where) for record, where in study1)]))
    lines.append(_row(["gap real - synthetic (points)",
                       *(f"{_value(record, 'synthetic_gap_pp', where):.2f}" for record, where in study1)]))
    for key, name in QUALITY_ROWS:
        lines.append(_row([name, *(f"{_value(record, key, where):.3f} ({_value(record, f'{key}_floor', where):.3f})"
                                   for record, where in quality)]))
    return lines


def study2_table(root: Path) -> list[str]:
    """A column per poster classifier: accuracy on the real and on the synthetic test set, then the
    poster's own at its first table epoch."""
    real = read_metrics(root, paths.study2_headline("real"))
    synthetic = read_metrics(root, paths.study2_headline("synth"))
    if set(real) != set(synthetic):
        raise SynthsetError(f"{root / paths.study2_headline('real')} and {root / paths.study2_headline('synth')} name "
                            f"different models ({sorted(real)} against {sorted(synthetic)})")
    models = list(real)
    lines = [_row(["study 2, test set", *(POSTER_MODEL_NAMES.get(model, model) for model in models)]),
             _row(["---"] * (len(models) + 1)),
             _row(["real", *(f"{real[model]:.3f}" for model in models)]),
             _row(["synthetic", *(f"{synthetic[model]:.3f}" for model in models)])]
    for column, name in ((1, "real"), (2, "synthetic")):
        lines.append(_row([f"poster, epoch {POSTER_EPOCH}: {name}",
                           *(f"{POSTER_TABLE[model][POSTER_EPOCH][column]:.3f}" if model in POSTER_TABLE else ""
                             for model in models)]))
    return lines


def results_markdown(root: Path, titles: Mapping[str, str]) -> str:
    """Study 1's table for the datasets of ``titles`` (dataset -> its name) and, when one of them is
    study 2's, the poster's classifiers."""
    lines = study1_table(root, titles)
    if any(dataset in STUDY2_DATASETS for dataset in titles):
        lines += ["", *study2_table(root)]
    return "\n".join(lines) + "\n"
