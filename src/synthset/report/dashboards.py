"""The sections of each dashboard: which frames, which figure, which runs, what to say.

Each builder returns a ``Section``; ``guarded`` turns a missing input into a section that says so.
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from synthset import paths, stages
from synthset.config import SOURCES, Params
from synthset.errors import SynthsetError
from synthset.report import experiments, figures, figures_study2, frames, papers
from synthset.report.pages import Section

def title(params: Params) -> str:
    """The dataset's name on the pages (its ``data.title``)."""
    return params.data.title


def paper(params: Params) -> str | None:
    """Whose published numbers stand beside the dataset's (its ``data.paper``): the papers' MNIST or FIDS30."""
    return params.data.paper


def class_names(params: Params) -> dict[int, str]:
    """Label -> class name of the dataset the settings were loaded for."""
    return dict(zip(params.data.labels, params.data.class_names))


def guarded(title: str, build: Callable[[], Section]) -> Section:
    try:
        return build()
    except SynthsetError as error:
        return Section(title, "", missing=str(error))


def _paper_line(numbers: list[papers.PaperNumber]) -> str:
    return "Paper: " + "; ".join(f"{n.what} {n.value:g} ({n.where})" for n in numbers) + "." if numbers else ""


def gan_section(dataset: str, params: Params, runs: pd.DataFrame) -> Section:
    names = class_names(params)
    curves = frames.gan_curves(dataset, params.data.labels, names)
    choice = frames.epoch_choice(dataset, names)
    published = papers.GAN_NOTE.get(paper(params)) or _paper_line(papers.GAN.get(paper(params), []))
    return Section(f"{title(params)}: GAN training per class",
                   f"Per-step values of each class's GAN (its history.csv); buttons switch raw values and exponential "
                   f"smoothing; dotted: the paper's stated levels. Dashed: the last step of the epoch chosen by {choice['metric'].iloc[0]}. {published}",
                   figures.gan_training(curves, choice, papers.GAN_LEVELS.get(paper(params), [])), frames.provenance(frames.latest_runs(runs, dataset, stages.TRAIN_GAN, "label")),
                   [str(paths.epoch_choice(dataset)), str(paths.gan_history_of(dataset, params.data.labels[0]).parent.parent) + "/*/history.csv"])


def samples_sections(dataset: str, params: Params, runs: pd.DataFrame) -> list[Section]:
    names, labels = class_names(params), params.data.labels
    grids = frames.sample_grids(dataset, names, labels)
    choice = frames.epoch_choice(dataset, names)
    real = frames.real_images(dataset, labels, params.gan.sample_grid_size ** 2)
    gan_runs = frames.provenance(frames.latest_runs(runs, dataset, stages.TRAIN_GAN, "label"))
    sources = [f"artifacts/{dataset}/gan/*/samples/epoch_*.png", str(paths.real_split(dataset, "train")), str(paths.epoch_choice(dataset))]
    chosen_text = "Each class's generator at its chosen epoch (fixed noise), above real training images of the class."
    if paper(params) in papers.CHOSEN_EPOCH:
        epochs, where = papers.CHOSEN_EPOCH[paper(params)]
        chosen_text += " Paper Table 1 chose by eye, of 1,000 epochs: " + ", ".join(
            f"{k} {v}" for k, v in epochs.items()) + f" ({where})."
    return [
        Section(f"{title(params)}: samples at the chosen epoch", chosen_text,
                figures.samples_at_chosen_epoch(grids, choice, real), gan_runs, sources),
        Section(f"{title(params)}: one class across epochs",
                "The same noise at every kept epoch, real images last; the menu picks the class.",
                figures.samples_across_epochs(grids, real), gan_runs, sources),
    ]


def classifier_section(dataset: str, params: Params, runs: pd.DataFrame) -> Section:
    curves = frames.classifier_curves(dataset)
    seeds = int(curves["seeds"].max())
    return Section(f"{title(params)}: CNN per training source",
                   f"Mean over {seeds} seed(s), band ± 1 std; crosses: the paper's stated values; validated on real images never used for training or "
                   f"selection. {_paper_line(papers.CLASSIFIER.get(paper(params), []))} "
                   f"Paper's scale: {papers.SCALE.get(paper(params), 'not run in the paper')}.",
                   figures.classifier_curves(curves, papers.CLASSIFIER_POINTS.get(paper(params), [])),
                   frames.provenance(frames.classifier_runs(runs, dataset)),
                   [str(paths.classifier_history(dataset, s)) for s in SOURCES])


def _reference_note(params: Params) -> str:
    """Where the real side of the quality metrics comes from, and so what they can be trusted to rank."""
    if params.data.holdout_per_class:
        return (f"The real side is {params.data.holdout_per_class} held-out training images per class, which no GAN "
                "trains on.")
    chosen = params.generate.epoch
    used = ("its generators are each class's epoch chosen by these metrics, which may favour copies"
            if chosen == "selected" else
            f"its generators are {'the last checkpoint' if chosen == -1 else f'epoch {chosen}'}, not chosen by them")
    return ("No holdout (data.holdout_per_class: 0): the real side is the training images themselves, so a "
            f"generator that copies them scores well here; {used}.")


def quality_sections(dataset: str, params: Params, runs: pd.DataFrame) -> list[Section]:
    names = class_names(params)
    quality = frames.quality(dataset, names)
    by_epoch = frames.quality_by_epoch(dataset, names)
    choice = frames.epoch_choice(dataset, names)
    per_image = quality["images_per_class"].iloc[0]
    return [
        Section(f"{title(params)}: quality of the synthetic set per class",
                f"Synthetic against real images ({per_image} per class); the black tick is the floor, the same metric "
                "between two real samples: what a perfect generator would score. Lower is better for fid, kid and "
                f"near_copy_share, higher for the others. {_reference_note(params)} The papers judged quality by eye only.",
                figures.quality_per_class(quality), frames.provenance(frames.latest_runs(runs, dataset, stages.ASSESS)),
                [str(paths.quality_metrics(dataset))]),
        Section(f"{title(params)}: quality against generator epoch",
                f"Every kept generator scored with every metric (menu); dotted: the floor; star: the epoch chosen by "
                f"{choice['metric'].iloc[0]}.",
                figures.quality_against_epoch(by_epoch, choice), frames.provenance(frames.latest_runs(runs, dataset, stages.SELECT_EPOCHS)),
                [str(paths.quality_by_epoch(dataset)), str(paths.epoch_choice(dataset))]),
    ]


def study2_sections(params: Params, runs: pd.DataFrame) -> list[Section]:
    dataset = params.dataset  # study 2's dataset (config.STUDY2_DATASETS)
    models = list(params.study2.models)
    ours = lambda: frames.study2_table(models)  # noqa: E731 - read inside each guarded section
    classifier_runs = frames.provenance(frames.latest_runs(runs, dataset, stages.TRAIN_STUDY2, "model"))
    note = f"Poster: {papers.POSTER_TEST_IMAGES}; ours: settings of params.yaml at this scale."
    return [
        guarded("Study 2: the four classifiers, ours and the poster's", lambda: Section(
            "Study 2: the four classifiers, ours and the poster's",
            f"Train / test accuracy on real test images, and test accuracy on synthetic ones, trained on real MNIST, "
            f"in the layout of the poster's {papers.POSTER_TABLE_WHERE}. {note}",
            figures_study2.classifier_table(ours()), classifier_runs, [str(paths.study2_metrics())])),
        guarded("Study 2: real against synthetic test accuracy", lambda: Section(
            "Study 2: real against synthetic test accuracy",
            "Ours at the last table epoch, the poster's at its first (epoch 5); hatched: synthetic test set.",
            figures_study2.classifier_bars(ours()), classifier_runs, [str(paths.study2_metrics())])),
        guarded("Study 2: semi-supervised discriminators", lambda: Section(
            "Study 2: semi-supervised discriminators",
            "semi-gan* learns from labelled real images only; semi-gan** also from unlabelled synthetic images, "
            "called fake. Cells: discriminator head train / test ; label head train / test, on real test images.",
            figures_study2.semi_table(frames.semi_table()),
            frames.provenance(frames.latest_runs(runs, dataset, stages.TRAIN_STUDY2, "variant")),
            [str(paths.study2_metrics())])),
        guarded("Study 2: the complete semi-supervised GAN", lambda: Section(
            "Study 2: the complete semi-supervised GAN",
            "Feature matching (Salimans et al. 2016, the poster's future work): test error on the real test set per "
            "epoch, one line per number of labelled images, each with its trend (a power law fitted to its errors, "
            "dotted) carried on to the epoch at which it would reach Salimans et al.'s error. The poster did not run it.",
            figures_study2.ssl_gan_curves(frames.ssl_gan(list(params.study2.ssl.labels), dataset)),
            frames.provenance(frames.latest_runs(runs, dataset, stages.TRAIN_STUDY2, "labels")),
            [str(paths.study2_history(dataset, paths.ssl_gan_name(n))) for n in params.study2.ssl.labels])),
        *attention_sections(runs, dataset),
    ]


def attention_sections(runs: pd.DataFrame, dataset: str) -> list[Section]:
    attention_runs = frames.provenance(frames.latest_runs(runs, dataset, stages.EXPLAIN))
    sections = [guarded("Study 2: attention of study 1's CNNs compared", lambda: Section(
        "Study 2: attention of study 1's CNNs compared",
        "Spearman correlation between two models' maps, mean over test images. real_vs_real_other_seed: a second "
        "real-trained CNN (ceiling); *_randomised: the same model with fresh weights (floor, Adebayo et al. 2018).",
        figures_study2.attention_bars(frames.attention_similarity(dataset)), attention_runs, [str(paths.attention_summary(dataset))]))]
    try:
        grids = frames.attention_grids(dataset)
    except SynthsetError as error:
        return sections + [Section("Study 2: attention grids", "", missing=str(error))]
    captions = {"cnn_5l_real_test": "cnn-5l on real test digits (the poster's Figures 1 and 2): each image, its Grad-CAM, its saliency.",
                "cnn_5l_synthetic_test": "cnn-5l on synthetic test digits: each image, its Grad-CAM, its saliency.",
                "compare_grad_cam": "Grad-CAM of study 1's CNNs side by side.", "compare_saliency": "Saliency of study 1's CNNs side by side."}
    for grid in grids:
        sections.append(Section(f"Study 2: attention grid {grid.stem}", captions.get(grid.stem, grid.stem),
                                figures_study2.image(grid), attention_runs, [str(grid)]))
    return sections


def _gan_budget(dataset: str, params: Params) -> str:
    """Why ours and the paper's differ first: how long the GANs train, ours against the paper's."""
    gan, mixed = params.gan, params.classifier.synthetic_per_class.mixed
    shared = f"{gan.shared_epochs} on every class's images, then " if gan.kind == "shared_then_per_class" else ""
    beside = f" ({mixed} of them beside the real ones)" if mixed is not None else ""
    return (f"Ours: {shared}{gan.epochs} GAN epochs per class at batch {gan.batch_size}; "
            f"{params.generate.images_per_class:,} generated images per class{beside}; the paper's: {papers.SCALE.get(paper(params), 'not run')}")


def summary_rows(datasets: list[str], params_of: dict[str, Params]) -> pd.DataFrame:
    """The numbers that answer "how real is our synthetic data?", each with its reference."""
    rows = []
    for dataset in datasets:
        name = title(params_of[dataset])
        final = frames.classifier_final(dataset).set_index(["source", "metric"])
        acc = lambda source: f"{final.at[(source, 'val_accuracy'), 'mean']:.3f} ± {final.at[(source, 'val_accuracy'), 'std']:.3f}"  # noqa: E731
        gap = 100 * (final.at[("real", "val_accuracy"), "mean"] - final.at[("synthetic", "val_accuracy"), "mean"])
        rows.append((f"{name}: CNN trained on synthetic only, real validation accuracy", acc("synthetic"),
                     f"trained on real: {acc('real')}", "ours, real images"))
        kind, value, where = papers.SYNTHETIC_HEADLINE.get(paper(params_of[dataset]), ("gap", "not run in the paper", ""))
        where = f"{where}. {_gan_budget(dataset, params_of[dataset])}" if where else where
        if kind == "gap":
            rows.append((f"{name}: gap real - synthetic (points)", f"{gap:.1f}", value, where))
        else:
            curves = frames.classifier_curves(dataset)
            first = curves[(curves["source"] == "synthetic") & (curves["metric"] == "val_accuracy") & (curves["epoch"] == 1)]
            rows.append((f"{name}: synthetic-trained CNN, validation accuracy at epoch 1", f"{first['mean'].iloc[0]:.3f}",
                         value, where))
        rows.append((f"{name}: real + synthetic, real validation accuracy", acc("real_plus_synthetic"),
                     f"real only: {acc('real')}", "ours; not run in the paper"))
        draws = frames.gan_seeds(dataset)
        for source, what, over, noise in (
                ("synthetic", "synthetic only", f"{draws['gan_seeds']} trainings of the GANs", "gan_sd"),
                ("real_plus_synthetic", "real + synthetic", f"{draws['gan_seeds']} trainings of the GANs", "gan_sd"),
                ("real", "real only", f"{draws.get('split_seeds', 1)} splits of the real images", "split_sd")):
            entry = draws["sources"].get(source, {})
            if "interval_95" not in entry:
                continue  # one draw: no interval over them
            low, high = entry["interval_95"]
            parts = (f"; sd {entry['sd']:.3f}: the classifier's seed {entry['classifier_sd']:.3f}, "
                     f"the {'GANs' if noise == 'gan_sd' else 'split'} {entry[noise]:.3f}"
                     if entry.get("classifier_sd") is not None else "")
            drawn = "the GANs and the CNN" if noise == "gan_sd" else "the validation images and the CNN"
            rows.append((f"{name}: {what}, mean over {over}, 95 % interval",
                         f"{entry['mean']:.3f} ({low:.3f} to {high:.3f})",
                         f"real only: {acc('real')}" if source != "real" else f"the pipeline's split: {acc('real')}",
                         f"ours: each draws {drawn} afresh{parts}"))
        quality = frames.quality(dataset, class_names(params_of[dataset]))
        whole = quality[quality["class"] == "all"].set_index("metric")
        for metric in ("fid", "recall", "coverage", "label_fidelity", "near_copy_share"):
            if metric in whole.index:
                rows.append((f"{name}: {metric.replace('_', ' ')}", f"{whole.at[metric, 'value']:.3f}",
                             f"{whole.at[metric, 'floor']:.3f}", "floor: real vs real; the paper judged by eye"))
    return pd.DataFrame(rows, columns=["question", "ours", "reference", "source"])


def experiment_rows(datasets: list[str], params_of: dict[str, Params]) -> pd.DataFrame:
    """Each recorded experiment (``report.experiments``) beside the default run, a row for each dataset
    it changed: its synthetic-only accuracy and gap, the default's, its overrides and commit; "stale"
    when the default run's numbers are no longer those it ran beside (``experiments.stale``)."""
    rows = []
    for experiment in experiments.load_all():
        overrides = (", ".join(f"{key}={change.new}" for key, change in experiment.overrides.items())
                     or "no override, the commit's settings")
        for dataset in [d for d in experiment.datasets if d in datasets]:
            theirs = experiment.metrics[dataset]["study1"]
            final = frames.classifier_final(dataset).set_index(["source", "metric"])
            ours = final.at[("synthetic", "val_accuracy"), "mean"]
            gap = 100 * (final.at[("real", "val_accuracy"), "mean"] - ours)
            kind, value, where = papers.SYNTHETIC_HEADLINE.get(paper(params_of[dataset]), ("", "not run in the paper", ""))
            paper_gap = f"paper: {value}" + (f" ({where})" if where else "")
            stale = f", stale (recorded at {experiment.short_commit})" if experiments.stale(experiment, dataset) else ""
            rows.append((f"{title(params_of[dataset])}, experiment {experiment.name}{stale}: CNN trained on synthetic only, real "
                         f"validation accuracy (gap to real, points)",
                         f"{theirs['val_accuracy_synthetic']:.3f} ± {theirs['val_accuracy_synthetic_std']:.3f} "
                         f"({theirs['synthetic_gap_pp']:.1f})",
                         f"this run: {ours:.3f} ({gap:.1f}); {paper_gap}",
                         f"experiment {experiment.name} at commit {experiment.short_commit}: {overrides}"))
    return pd.DataFrame(rows, columns=["question", "ours", "reference", "source"])


def _study2_training_images(params: Params) -> str:
    per_class = params.study2.train_images_per_class
    return "every training digit" if per_class is None else f"{per_class:,} training digits per class"


def study2_summary_rows(params: Params) -> pd.DataFrame:
    ours = frames.study2_table(list(params.study2.models))
    last = ours[(ours["model"] == "cnn_5l") & (ours["epoch"] == ours["epoch"].max())]
    semi = frames.semi_table()
    semi_last = semi[semi["epoch"] == semi["epoch"].max()].set_index("variant")
    audit = frames.label_audit(params.dataset)
    poster5 = papers.POSTER_TABLE["cnn_5l"][5]
    rows = []
    if len(last):
        rows.append(("Study 2: cnn-5l test accuracy, real / synthetic test set",
                     f"{last['test_real'].iloc[0]:.3f} / {last['test_synthetic'].iloc[0]:.3f} (epoch {last['epoch'].iloc[0]})",
                     f"{poster5[1]:.3f} / {poster5[2]:.3f} (epoch 5)",
                     f"poster, {papers.POSTER_TABLE_WHERE}. Ours: {last['epoch'].iloc[0]} of its 5 epochs, "
                     f"on {_study2_training_images(params)}"))
    rows.append(("Study 2: label head on real test, semi-gan* / semi-gan**",
                 f"{semi_last.at['labelled_only', 'label_test']:.3f} / {semi_last.at['with_synthetic', 'label_test']:.3f}",
                 f"{papers.POSTER_SEMI['labelled_only'][5][3]:.3f} / {papers.POSTER_SEMI['with_synthetic'][5][3]:.3f} (epoch 5)",
                 f"poster, {papers.POSTER_TABLE_WHERE}"))
    rows.append(("Study 2: synthetic test labels disputed by cnn-5l", f"{audit['disputed']} of {audit['images']} "
                 f"({audit['disputed_share']:.1%})", "the poster labelled its 1,000 by hand", "poster, Data"))
    ssl = frames.ssl_gan([100], params.dataset) if 100 in params.study2.ssl.labels else None
    if ssl is not None:
        last = ssl[ssl["epoch"] == ssl["epoch"].max()].iloc[0]
        trend = figures_study2.error_trend(ssl["epoch"], 1 - ssl["test_accuracy"])
        heading = ("its curve is not falling" if trend is None else
                   f"its trend reaches 0.05 near epoch {figures_study2.epochs_to_reach(trend, 0.05):,.0f} and "
                   f"{papers.SSL_ERROR_100_LABELS} near epoch {figures_study2.epochs_to_reach(trend, papers.SSL_ERROR_100_LABELS):,.0f}")
        rows.append(("Study 2: complete semi-supervised GAN, test error with 100 labels",
                     f"{1 - last['test_accuracy']:.3f} (epoch {int(last['epoch'])}; {heading})",
                     f"{papers.SSL_ERROR_100_LABELS} (full training)", papers.SSL_ERROR_WHERE))
    return pd.DataFrame(rows, columns=["question", "ours", "reference", "source"])
