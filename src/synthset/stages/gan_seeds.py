"""Stage ``gan_seeds``: study 1's synthetic sources with an interval that includes the GANs' noise.

One training of the GANs is one draw of a chaotic process: the same FIDS30 settings gave a
synthetic-trained CNN of 0.42 or 0.51 from two floating-point orders. The pipeline's own GANs are
draw 0; this stage trains ``intervals.gan_seeds - 1`` more draws from other seeds, each through
the same stages (GANs, epoch choice, generation, the CNN on ``synthetic`` and
``real_plus_synthetic``) run in a work directory of its own that sees the project's real splits and
feature network, and reports each source's mean over the draws with a 95 % t-interval.

Each draw's CNN trains with one seed, as draw 0's first seed, so every value has the same mix of
GAN and classifier noise; draw 0's other classifier seeds say how much of it is the classifier's.
The split of the real images is the third noise: ``intervals.split_seeds - 1`` more splits of the
raw data (``seeds.data_split``) each train the real-data CNN once, for the real source's interval
and the split's share of it. Every draw's MLflow runs go to the experiment ``synthset-<dataset>-gan-seeds``
(``runs.DRAW``), tagged with their draw (``split-<s>`` for a split); an interrupted stage
resumes at the draw (and the epoch) it reached.
"""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from synthset import paths, seeds
from synthset.tracking import runs
from synthset.config import Params
from synthset.io import write_atomically
from synthset.hashes import file_md5, fingerprint

SOURCES = ("synthetic", "real_plus_synthetic")


def run(params: Params, dataset: str) -> dict:
    """Train the extra draws, then write each source's values, mean and interval; returns the summary."""
    draws = {0: _pipeline_values(params, dataset)}
    out = paths.gan_seeds_dir(dataset)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)  # empty with gan_seeds: 1
    for draw in range(1, params.intervals.gan_seeds):
        draws[draw] = _draw(params, dataset, draw)
        # The draw's synthetic set is versioned with the stage's output.
        shutil.copytree(_work_dir(dataset, draw) / paths.synthetic_dir(dataset), out / f"draw_{draw}" / "synthetic")
    splits = {0: _pipeline_real_value(params, dataset)}
    for split in range(1, params.intervals.split_seeds):
        splits[split] = _split_draw(params, dataset, split)
    summary = summarise(params, dataset, draws, splits)
    with write_atomically(paths.gan_seeds_summary(dataset)) as partial:
        partial.write_text(json.dumps(summary, indent=2) + "\n")
    shutil.rmtree(paths.gan_seeds_work_dir(dataset), ignore_errors=True)
    return summary


def _pipeline_values(params: Params, dataset: str) -> dict[str, float]:
    """Draw 0: the pipeline's own CNNs, first classifier seed (as every other draw trains one)."""
    return {source: _first_seed_value(params, dataset, source) for source in SOURCES}


def _pipeline_real_value(params: Params, dataset: str) -> float:
    """Split 0: the pipeline's own split and real-data CNN, first classifier seed."""
    return _first_seed_value(params, dataset, "real")


def _first_seed_value(params: Params, dataset: str, source: str) -> float:
    history = pd.read_csv(paths.classifier_seed_history(dataset, source))
    last = history[(history["seed"] == seeds.classifier(params.seed, 0)) & (history["epoch"] == history["epoch"].max())]
    return float(last["val_accuracy"].iloc[0])


def _draw(params: Params, dataset: str, draw: int) -> dict[str, float]:
    """One more draw of GANs and CNNs, in its own work directory; its values, or the values an
    earlier attempt of the same draw left."""
    from synthset.stages import generate, select_epochs, train_gan
    from synthset.tasks import study1_cnn

    seed = seeds.gan_draw(params.seed, draw)
    drawn = params.model_copy(update={"seed": seed, "classifier": params.classifier.model_copy(update={"seeds": 1})})
    key = fingerprint(drawn.model_dump(mode="json"), {split: file_md5(paths.real_split(dataset, split))
                                                               for split in ("train", "validation")})
    work = _work_dir(dataset, draw)
    state = work / "draw.json"
    if state.exists() and json.loads(state.read_text()).get("key") == key and (work / "values.json").exists():
        print(f"[gan-seeds {dataset}] draw {draw} (seed {seed}) finished by an earlier attempt: kept", flush=True)
        return json.loads((work / "values.json").read_text())
    if not (state.exists() and json.loads(state.read_text()).get("key") == key):
        shutil.rmtree(work, ignore_errors=True)
        _prepare_work_dir(work, dataset)
        state.write_text(json.dumps({"key": key, "seed": seed}))

    print(f"[gan-seeds {dataset}] draw {draw} of {params.intervals.gan_seeds - 1}: GANs and CNNs from seed {seed}",
          flush=True)
    with _inside(work), _tracked_as_draw(draw):
        train_gan.run(drawn, dataset, drawn.data.labels)
        select_epochs.run(drawn, dataset)
        generate.run(drawn, dataset)
        summaries = study1_cnn.run(drawn, dataset, list(SOURCES))
    values = {source: summaries[source]["val_accuracy"] for source in SOURCES}
    (work / "values.json").write_text(json.dumps(values))
    return values


def _split_draw(params: Params, dataset: str, split: int) -> float:
    """The real-data CNN on another split of the raw data, in its own work directory: its accuracy."""
    from synthset.stages import prepare
    from synthset.tasks import study1_cnn

    seed = seeds.data_split(params.seed, split)
    drawn = params.model_copy(update={"seed": seed, "classifier": params.classifier.model_copy(update={"seeds": 1})})
    work = paths.gan_seeds_work_dir(dataset) / f"split_{split}"
    shutil.rmtree(work, ignore_errors=True)  # minutes of work: redone rather than resumed
    raw = work / paths.raw(dataset)
    raw.parent.mkdir(parents=True)
    raw.symlink_to(paths.raw(dataset).resolve(), target_is_directory=True)
    print(f"[gan-seeds {dataset}] split {split} of {params.intervals.split_seeds - 1}: the real-data CNN on "
          f"the split of seed {seed}", flush=True)
    with _inside(work), _tracked_as_draw(f"split-{split}"):
        prepare.run(drawn, dataset)
        return study1_cnn.run(drawn, dataset, ["real"])["real"]["val_accuracy"]


def _work_dir(dataset: str, draw: int) -> Path:
    return paths.gan_seeds_work_dir(dataset) / f"draw_{draw}"


def _prepare_work_dir(work: Path, dataset: str) -> None:
    """A project tree in which the stages find the real splits and the feature network (links)."""
    for shared in (paths.real_split(dataset, "train").parent, paths.features_dir(dataset)):
        link = work / shared
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(shared.resolve(), target_is_directory=True)


@contextmanager
def _inside(directory: Path):
    previous = Path.cwd()
    os.chdir(directory)
    try:
        yield
    finally:
        os.chdir(previous)


@contextmanager
def _tracked_as_draw(draw: int | str):
    """The draw's runs (in this process and in its workers, which inherit the environment)."""
    os.environ[runs.DRAW] = str(draw)
    try:
        yield
    finally:
        del os.environ[runs.DRAW]


def summarise(params: Params, dataset: str, draws: dict[int, dict[str, float]],
              splits: dict[int, float] | None = None) -> dict:
    """Each synthetic source's values by draw of the GANs, the real source's by split, their mean
    and 95 % t-interval, and the share of their variance that is not the classifier's seed (from
    draw 0's classifier seeds): the GANs' (``gan_sd``) or the split's (``split_sd``)."""
    splits = splits or {}
    result = {"dataset": dataset, "gan_seeds": len(draws), "seeds": {str(d): seeds.gan_draw(params.seed, d) for d in draws},
              "sources": {source: _interval(dataset, source, [draws[d][source] for d in sorted(draws)], "gan_sd")
                          for source in SOURCES},
              "split_seeds": len(splits) or 1}
    if len(splits) > 1:
        result["split_seed_values"] = {str(s): seeds.data_split(params.seed, s) for s in splits}
        result["sources"]["real"] = _interval(dataset, "real", [splits[s] for s in sorted(splits)], "split_sd")
    return result


def _interval(dataset: str, source: str, values: list[float], rest: str) -> dict:
    """Mean, sd, 95 % t-interval of ``values``; the classifier seed's sd and the rest's (named ``rest``)."""
    values = np.array(values)
    entry = {"values": [round(float(v), 4) for v in values], "mean": round(float(values.mean()), 4)}
    if len(values) > 1:
        sd = float(values.std(ddof=1))
        half = float(stats.t.ppf(0.975, len(values) - 1) * sd / np.sqrt(len(values)))
        classifier_sd = _classifier_sd(dataset, source)
        entry.update(sd=round(sd, 4), interval_95=[round(float(values.mean()) - half, 4),
                                                   round(float(values.mean()) + half, 4)],
                     half_width=round(half, 4), classifier_sd=None if classifier_sd is None else round(classifier_sd, 4))
        entry[rest] = None if classifier_sd is None else round(float(np.sqrt(max(0.0, sd**2 - classifier_sd**2))), 4)
    return entry


def _classifier_sd(dataset: str, source: str) -> float | None:
    """The spread of draw 0's final accuracies over its classifier seeds (one set of GANs)."""
    seeds = pd.read_csv(paths.classifier_seed_history(dataset, source))
    last = seeds[seeds["epoch"] == seeds["epoch"].max()]["val_accuracy"]
    return float(last.std(ddof=1)) if len(last) > 1 else None
