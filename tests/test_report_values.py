"""The report shows the numbers of the metrics files: each headline value, planted with a distinctive
value, is read back from the built page where a reader sees it (a plotly trace or a table cell), so a
wrong key, a stale value or a different rounding fails."""

from __future__ import annotations

import base64
import html
import json
import re

import numpy as np
import pytest
import yaml

from synthset.config import STUDY2_MODELS

# Study 1's final numbers (metrics/mnist/study1.json): no two alike, none halfway at the 4th decimal.
STUDY1 = {"real": (0.9412, 0.0123), "augmented": (0.8527, 0.0234), "synthetic": (0.6173, 0.0317),
          "real_plus_synthetic": (0.9586, 0.0156)}
LOSS = {"real": (0.2311, 0.0011), "augmented": (0.4122, 0.0021), "synthetic": (1.0733, 0.0031),
        "real_plus_synthetic": (0.1944, 0.0041)}
# Whole-set quality and its real-vs-real floor (metrics/mnist/quality.json), then two classes'.
WHOLE = {"fid": (23.4567, 3.2109), "kid": (0.0412, 0.0087), "classifier_score": (9.1234, 9.8766),
         "precision": (0.7123, 0.9311), "recall": (0.6834, 0.9422), "density": (0.8213, 1.0114),
         "coverage": (0.7741, 0.9533), "near_copy_share": (0.0217, 0.0108), "label_fidelity": (0.8812, 0.9911)}
PER_CLASS = {"3": {"fid": (31.0426, 4.4183), "kid": (0.0633, 0.0142)}, "8": {"fid": (38.7219, 5.1376), "kid": (0.0871, 0.0163)}}
BY_EPOCH = {("3", 1): (61.2041, 4.4183, 0.1207, 0.0142), ("3", 2): (44.8312, 4.4183, 0.0944, 0.0142),
            ("8", 1): (72.6634, 5.1376, 0.1318, 0.0163), ("8", 2): (57.0182, 5.1376, 0.1126, 0.0163)}
# Study 2 (metrics/study2.json): (train, test on real, test on synthetic) per model and table epoch.
POSTER = {"linear_softmax": {1: (0.8123, 0.8034, 0.7141), 2: (0.8461, 0.8372, 0.7433)},
          "fcnn": {1: (0.9012, 0.8893, 0.7764), 2: (0.9248, 0.9117, 0.8029)},
          "cnn_4l": {1: (0.9301, 0.9186, 0.8247), 2: (0.9562, 0.9433, 0.8518)},
          "cnn_5l": {1: (0.9419, 0.9328, 0.8612), 2: (0.9731, 0.9624, 0.8876)}}
SEMI = {"labelled_only": {1: (0.7012, 0.6923, 0.6834, 0.6741), 2: (0.7613, 0.7524, 0.7431, 0.7342)},
        "with_synthetic": {1: (0.8014, 0.7926, 0.7837, 0.7748), 2: (0.8617, 0.8528, 0.8439, 0.8346)}}
AUDIT = {"auditor": "cnn_5l", "images": 1000, "disputed": 37, "disputed_share": 0.037, "per_class": {}}


# Over trainings of the GANs and splits (metrics/mnist/gan_seeds.json): planted intervals, and a source without one.
GAN_SEEDS = {"dataset": "mnist", "gan_seeds": 3, "seeds": {"0": 42, "1": 142, "2": 242}, "split_seeds": 2, "sources": {
    "synthetic": {"values": [0.6171, 0.6432, 0.5918], "mean": 0.6174, "sd": 0.0257, "interval_95": [0.5536, 0.6812],
                  "half_width": 0.0638, "classifier_sd": 0.0127, "gan_sd": 0.0223},
    "real_plus_synthetic": {"values": [0.9588], "mean": 0.9588},
    "real": {"values": [0.9312, 0.9518], "mean": 0.9415, "sd": 0.0146, "interval_95": [0.8106, 1.0724],
             "half_width": 0.1309, "classifier_sd": 0.0120, "split_sd": 0.0083}}}


# A recorded experiment (metrics/experiments/): MNIST's synthetic-only numbers, at a commit this
# unversioned folder does not have, so its baseline cannot be shown to be this run's: stale.
EXPERIMENT = {"name": "wider-gan", "command": "dvc exp run -S scales.default.mnist.gan.epochs=30", "wall_seconds": 61.0,
              "commit": "abcdef0123456789abcdef0123456789abcdef01", "datasets": ["mnist"],
              "overrides": {"scales.default.mnist.gan.epochs": {"old": 24, "new": 30}},
              "metrics": {"mnist": {"study1": {"val_accuracy_synthetic": 0.7234, "val_accuracy_synthetic_std": 0.0189,
                                               "synthetic_gap_pp": 21.78}, "quality": {}, "features": {}}}}


# The complete semi-supervised GAN with 100 labels: test error per epoch, exactly 0.4 * epoch^-0.5.
SSL_ERRORS = {epoch: 0.4 * epoch**-0.5 for epoch in (1, 2, 3, 4)}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _plant(root, params_raw):
    (root / "params.yaml").write_text(yaml.safe_dump(params_raw | {"datasets": ["mnist"]}, sort_keys=False))
    study1 = {f"{metric}_{source}{suffix}": value for table, metric in ((STUDY1, "val_accuracy"), (LOSS, "val_loss"))
              for source, pair in table.items() for suffix, value in zip(("", "_std"), pair)}
    _write(root / "metrics/mnist/study1.json", json.dumps({"study1": {"mnist": study1 | {"seeds": 2, "synthetic_gap_pp": 32.39}}}))
    flat = lambda values: {k: v for m, (value, floor) in values.items() for k, v in ((m, value), (f"{m}_floor", floor))}  # noqa: E731
    quality = flat(WHOLE) | {"images_per_class": 250, "per_class": {label: flat(v) for label, v in PER_CLASS.items()}}
    _write(root / "metrics/mnist/quality.json", json.dumps({"quality": {"mnist": quality}}))
    _write(root / "metrics/mnist/quality_by_epoch.csv", "class,epoch,fid,fid_floor,kid,kid_floor\n" + "".join(
        f"{label},{epoch},{','.join(map(str, values))}\n" for (label, epoch), values in BY_EPOCH.items()))
    _write(root / "metrics/mnist/epoch_choice.json", json.dumps(
        {"metric": "fid", "classes": {"3": {"epoch": 2, "fid": 44.8312}, "8": {"epoch": 2, "fid": 57.0182}}}))
    study2 = {model: {"at_epoch": {str(e): dict(zip(("train_accuracy", "test_accuracy_real", "test_accuracy_synthetic"), v))
                                   for e, v in epochs.items()}} for model, epochs in POSTER.items()}
    heads = ("train_real_or_fake_accuracy", "test_real_or_fake_accuracy_real", "train_class_or_fake_accuracy",
             "test_class_or_fake_accuracy_real")
    study2 |= {f"semi_gan_{variant}": {"at_epoch": {str(e): dict(zip(heads, v)) for e, v in epochs.items()}}
               for variant, epochs in SEMI.items()}
    _write(root / "metrics/study2.json", json.dumps({"study2": study2}))
    _write(root / "metrics/mnist/study2/label_audit.json", json.dumps(AUDIT))
    _write(root / "metrics/mnist/gan_seeds.json", json.dumps(GAN_SEEDS))
    _write(root / "metrics/experiments/wider-gan.json", json.dumps(EXPERIMENT))
    _write(root / "metrics/mnist/study2/models/ssl_gan_100_labels.csv", "epoch,test_accuracy\n" + "".join(
        f"{epoch},{1 - error}\n" for epoch, error in SSL_ERRORS.items()))


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The report built once from the planted metrics files (no MLflow runs, no images)."""
    from synthset.report.build import build

    root = tmp_path_factory.mktemp("report")
    params_raw = yaml.safe_load(open(__file__.rsplit("tests", 1)[0] + "params.yaml"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        _plant(root, params_raw)
        build(root / "params.yaml")
    return {name: (root / "reports" / f"{name}.html").read_text() for name in ("index", "summary", "quality", "study2")}


def _decode(value):
    """Plotly's JSON with its typed arrays ({"dtype", "bdata"}) as lists."""
    if isinstance(value, dict) and set(value) >= {"dtype", "bdata"}:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"].rstrip("c")))
        return array.reshape(value["shape"]).tolist() if "shape" in value else array.tolist()
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def figures(page: str) -> dict[str, tuple[list[dict], dict]]:
    """Section title -> (traces, layout) of the plotly figure the section draws."""
    found = {}
    for section in page.split("<section>")[1:]:
        title = html.unescape(re.search(r"<h2>(.*?)</h2>", section).group(1))
        call = re.search(r'Plotly\.newPlot\(\s*"figure-\d+",\s*', section)
        if call is None:
            continue
        decoder = json.JSONDecoder()
        data, end = decoder.raw_decode(section, call.end())
        layout, _ = decoder.raw_decode(section, re.compile(r",\s*").match(section, end).end())
        found[title] = (_decode(data), _decode(layout))
    return found


def table(figure) -> dict[str, list]:
    """A plotly table's columns by header (bold tags removed)."""
    (trace,), _ = figure
    headers = [re.sub(r"</?b>", "", h) for h in trace["header"]["values"]]
    return dict(zip(headers, trace["cells"]["values"]))


def subplot_traces(figure, subplot_title: str) -> list[dict]:
    """The traces drawn in the subplot with this title (make_subplots titles its axes in order)."""
    traces, layout = figure
    index = [a["text"] for a in layout["annotations"]].index(subplot_title)
    axis = "x" if index == 0 else f"x{index + 1}"
    return [t for t in traces if t.get("xaxis", "x") == axis]


def test_the_summary_table_shows_study_1s_accuracies_quality_and_study_2(pages):
    rows = table(figures(pages["summary"])["How real is our synthetic data?"])
    shown = {question: (ours, reference) for question, ours, reference in zip(rows["question"], rows["ours"], rows["reference"])}
    assert shown["MNIST: CNN trained on synthetic only, real validation accuracy"] == (
        "0.617 ± 0.032", "trained on real: 0.941 ± 0.012")
    assert shown["MNIST: gap real - synthetic (points)"] == ("32.4", "about 3")
    assert shown["MNIST: real + synthetic, real validation accuracy"] == ("0.959 ± 0.016", "real only: 0.941 ± 0.012")
    assert shown["MNIST: synthetic only, mean over 3 trainings of the GANs, 95 % interval"] == (
        "0.617 (0.554 to 0.681)", "real only: 0.941 ± 0.012")
    assert not [question for question in shown if question.startswith("MNIST: real + synthetic, mean over")]
    assert shown["MNIST: real only, mean over 2 splits of the real images, 95 % interval"] == (
        "0.942 (0.811 to 1.072)", "the pipeline's split: 0.941 ± 0.012")
    sources = dict(zip(rows["question"], rows["reference from; why ours differs"]))
    assert sources["MNIST: real only, mean over 2 splits of the real images, 95 % interval"].endswith(
        "sd 0.015: the classifier's seed 0.012, the split 0.008")
    assert sources["MNIST: synthetic only, mean over 3 trainings of the GANs, 95 % interval"].endswith(
        "sd 0.026: the classifier's seed 0.013, the GANs 0.022")
    assert shown["MNIST: fid"] == ("23.457", "3.211")
    assert shown["MNIST: recall"] == ("0.683", "0.942")
    assert shown["MNIST: coverage"] == ("0.774", "0.953")
    assert shown["MNIST: label fidelity"] == ("0.881", "0.991")
    assert shown["MNIST: near copy share"] == ("0.022", "0.011")
    assert shown["Study 2: cnn-5l test accuracy, real / synthetic test set"] == ("0.962 / 0.888 (epoch 2)",
                                                                                "0.994 / 0.972 (epoch 5)")
    assert shown["Study 2: label head on real test, semi-gan* / semi-gan**"][0] == "0.734 / 0.835"
    assert shown["Study 2: synthetic test labels disputed by cnn-5l"][0] == "37 of 1000 (3.7%)"
    # 0.4 e^-0.5 = 0.05 at e = 64, = 0.0093 at e = (0.4 / 0.0093)^2 = 1,850
    assert shown["Study 2: complete semi-supervised GAN, test error with 100 labels"] == (
        "0.200 (epoch 4; its trend reaches 0.05 near epoch 64 and 0.0093 near epoch 1,850)", "0.0093 (full training)")
    assert shown["MNIST, experiment wider-gan, stale (recorded at abcdef0): CNN trained on synthetic only, real "
                 "validation accuracy (gap to real, points)"] == ("0.723 ± 0.019 (21.8)",
                                                                  "this run: 0.617 (32.4); paper: about 3 (paper, section 4, Figures 8-9)")
    assert sources["MNIST, experiment wider-gan, stale (recorded at abcdef0): CNN trained on synthetic only, real "
                   "validation accuracy (gap to real, points)"] == (
        "experiment wider-gan at commit abcdef0: scales.default.mnist.gan.epochs=30")
    assert len(shown) == 15  # every row accounted for: no other number shown
    why = dict(zip(rows["question"], rows["reference from; why ours differs"]))
    raw = yaml.safe_load(open(__file__.rsplit("tests", 1)[0] + "params.yaml"))
    default = raw["scales"]["default"]["mnist"]
    gan, generated = default["gan"], default["generate"]["images_per_class"]
    kind = gan.get("kind") or raw["mnist"]["gan"]["kind"]
    shared = f"{gan['shared_epochs']} on every class's images, then " if kind == "shared_then_per_class" else ""
    assert why["MNIST: gap real - synthetic (points)"].endswith(
        f"Ours: {shared}{gan['epochs']} GAN epochs per class at batch {gan['batch_size']}; {generated:,} generated "
        "images per class; the paper's: 30 GAN epochs per class at batch 128; 8,000 generated images per class (section 4)")
    assert why["Study 2: cnn-5l test accuracy, real / synthetic test set"].endswith(
        "Ours: 2 of its 5 epochs, on every training digit")


def test_the_summary_bars_show_the_whole_sets_bounded_quality_beside_its_floor(pages):
    traces, _ = figures(pages["summary"])["MNIST: synthetic against real, whole set"]
    ours, floor = traces
    metrics = ["precision", "recall", "density", "coverage", "near_copy_share", "label_fidelity"]
    assert dict(zip(ours["x"], ours["y"])) == {m: WHOLE[m][0] for m in metrics}
    assert dict(zip(floor["x"], floor["y"])) == {m: WHOLE[m][1] for m in metrics}


def test_the_index_shows_each_sources_study_1_accuracy(pages):
    title = "Study 1 at a glance: the CNN on real validation images, by training source"
    (bars,), _ = figures(pages["index"])[title]
    assert bars["x"] == ["real", "augmented", "synthetic", "real + synthetic"]
    assert bars["y"] == [STUDY1[s][0] for s in STUDY1] and bars["error_y"]["array"] == [STUDY1[s][1] for s in STUDY1]


@pytest.mark.parametrize("metric", ["fid", "kid"])
def test_the_quality_page_shows_fid_and_kid_per_class_with_floors(pages, metric):
    figure = figures(pages["quality"])["MNIST: quality of the synthetic set per class"]
    bars, floors = subplot_traces(figure, metric)
    assert bars["type"] == "bar" and bars["x"] == floors["x"] == ["all", "3", "8"]
    assert bars["y"] == [WHOLE[metric][0], PER_CLASS["3"][metric][0], PER_CLASS["8"][metric][0]]
    assert floors["y"] == [WHOLE[metric][1], PER_CLASS["3"][metric][1], PER_CLASS["8"][metric][1]]


def test_the_quality_page_shows_fid_against_epoch_and_the_chosen_one(pages):
    traces, _ = figures(pages["quality"])["MNIST: quality against generator epoch"]
    shown = [t for t in traces if t.get("visible", True) is True]  # the selection metric, fid, first
    by_name = {t["name"]: t for t in shown}
    for label in ("3", "8"):
        assert by_name[label]["x"] == [1, 2] and by_name[label]["y"] == [BY_EPOCH[(label, e)][0] for e in (1, 2)]
        assert by_name[f"{label} floor"]["y"] == [BY_EPOCH[(label, e)][1] for e in (1, 2)]
        assert (by_name[f"{label} chosen"]["x"], by_name[f"{label} chosen"]["y"]) == ([2], [BY_EPOCH[(label, 2)][0]])


def test_the_study2_page_shows_the_classifier_table_with_our_values(pages):
    rows = table(figures(pages["study2"])["Study 2: the four classifiers, ours and the poster's"])
    assert rows["model"] == ["linear softmax", "fcnn", "cnn-4l", "cnn-5l"]
    assert rows["ours, epoch 2: real"][3] == "0.973 / 0.962" and rows["ours, epoch 2: synthetic"][3] == "n/a / 0.888"
    for epoch in (1, 2):
        assert rows[f"ours, epoch {epoch}: real"] == [f"{POSTER[m][epoch][0]:.3f} / {POSTER[m][epoch][1]:.3f}" for m in STUDY2_MODELS]
        assert rows[f"ours, epoch {epoch}: synthetic"] == [f"n/a / {POSTER[m][epoch][2]:.3f}" for m in STUDY2_MODELS]
    assert rows["poster, epoch 5: real"][3] == "0.996 / 0.994"  # the paper's, beside ours


def test_the_study2_page_shows_the_last_epochs_test_accuracies_and_the_semi_supervised_heads(pages):
    shown = figures(pages["study2"])
    traces, _ = shown["Study 2: real against synthetic test accuracy"]
    by_name = {t["name"]: t for t in traces}
    assert by_name["ours, real test (epoch 2)"]["y"] == [POSTER[m][2][1] for m in STUDY2_MODELS]
    assert by_name["ours, synthetic test (epoch 2)"]["y"] == [POSTER[m][2][2] for m in STUDY2_MODELS]
    rows = table(shown["Study 2: semi-supervised discriminators"])
    assert rows["ours: discriminator ; label head"] == [
        "0.701 / 0.692 ; 0.683 / 0.674", "0.761 / 0.752 ; 0.743 / 0.734",
        "0.801 / 0.793 ; 0.784 / 0.775", "0.862 / 0.853 ; 0.844 / 0.835"]
    assert rows["epoch"] == [1, 2, 1, 2]
