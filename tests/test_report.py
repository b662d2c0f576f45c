"""The report's frames, from small metrics files and a temporary SQLite MLflow store, and its build."""

from __future__ import annotations

import json

import mlflow
import pandas as pd
import pytest
import yaml

from synthset.config import STUDY2_MODELS, SOURCES
from synthset.errors import SynthsetError
from synthset.report import frames, papers

CURVES = "epoch,train_accuracy,train_loss,val_accuracy,val_loss,train_accuracy_std,train_loss_std,val_accuracy_std,val_loss_std\n"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    return tmp_path


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def write_classifier_curves(root, dataset="mnist"):
    for offset, source in enumerate(SOURCES):
        folder = root / "metrics" / dataset / "classifier"
        write(folder / f"{source}.csv", CURVES + f"1,0.5,1.0,0.{4 + offset},1.1,0.01,0.02,0.03,0.04\n"
                                                  f"2,0.7,0.8,0.{5 + offset},0.9,0.01,0.02,0.05,0.04\n")
        write(folder / f"{source}_seeds.csv", "epoch,train_accuracy,train_loss,val_accuracy,val_loss,seed\n"
              "1,0.5,1,0.4,1,42\n2,0.7,1,0.5,1,42\n1,0.5,1,0.4,1,43\n2,0.7,1,0.5,1,43\n")


def test_classifier_curves_are_long_with_mean_std_and_seed_count(workdir):
    write_classifier_curves(workdir)
    curves = frames.classifier_curves("mnist")
    assert len(curves) == len(SOURCES) * 4 * 2
    synthetic = curves[(curves["source"] == "synthetic") & (curves["metric"] == "val_accuracy")]
    assert list(synthetic["mean"]) == [0.6, 0.7] and list(synthetic["std"]) == [0.03, 0.05]
    assert set(curves["seeds"]) == {2}


def test_a_missing_metrics_file_is_named(workdir):
    write_classifier_curves(workdir)
    (workdir / "metrics/mnist/classifier/augmented.csv").unlink()
    with pytest.raises(frames.MissingInput, match="metrics/mnist/classifier/augmented.csv: missing"):
        frames.classifier_curves("mnist")


def test_quality_pairs_each_metric_with_its_floor_per_class(workdir):
    scores = {m: 0.5 for m in frames.SHOWN_QUALITY_METRICS} | {f"{m}_floor": 0.9 for m in frames.SHOWN_QUALITY_METRICS}
    per_class = {"0": scores | {"fid": 7.0}, "1": scores | {"fid_floor": 2.0}}
    write(workdir / "metrics/fids30/quality.json",
          json.dumps({"quality": {"fids30": scores | {"images_per_class": 15, "per_class": per_class}}}))
    quality = frames.quality("fids30", ["apples", "bananas"]).set_index(["class", "metric"])
    assert len(quality) == 3 * len(frames.SHOWN_QUALITY_METRICS)
    assert quality.at[("apples", "fid"), "value"] == 7.0 and quality.at[("bananas", "fid"), "floor"] == 2.0
    assert quality.at[("all", "coverage"), "floor"] == 0.9 and set(quality["images_per_class"]) == {15}


def test_quality_by_epoch_keeps_values_and_floors_aligned(workdir):
    header = "class,epoch," + ",".join(frames.SHOWN_QUALITY_METRICS) + "," + ",".join(f"{m}_floor" for m in frames.SHOWN_QUALITY_METRICS)
    rows = [f"{label},{epoch}," + ",".join(str(10 * label + epoch + i) for i in range(8)) + "," + ",".join(str(100 + label) for _ in range(8))
            for label in (0, 1) for epoch in (1, 2)]
    write(workdir / "metrics/mnist/quality_by_epoch.csv", "\n".join([header, *rows]) + "\n")
    by_epoch = frames.quality_by_epoch("mnist", ["0", "1"])
    cell = by_epoch[(by_epoch["label"] == 1) & (by_epoch["epoch"] == 2) & (by_epoch["metric"] == "kid")]
    assert list(cell["value"]) == [13] and list(cell["floor"]) == [101] and list(cell["class"]) == ["1"]
    assert len(by_epoch) == 2 * 2 * 8


def test_epoch_choice_maps_the_chosen_epoch_to_its_last_step(workdir):
    write(workdir / "metrics/mnist/epoch_choice.json",
          json.dumps({"metric": "fid", "classes": {"0": {"epoch": 2, "fid": 3.5}, "1": {"epoch": 1, "fid": 4.0}}}))
    history = "step,epoch,d_loss,g_loss,d_acc_real,d_acc_fake\n" + "".join(
        f"{step},{step // 3},1,1,0.5,0.5\n" for step in range(9))
    write(workdir / "artifacts/mnist/gan/0/history.csv", history)
    choice = frames.epoch_choice("mnist", ["0", "1"])
    assert list(choice["epoch"]) == [2, 1] and list(choice["score"]) == [3.5, 4.0]
    assert choice.loc[0, "step"] == 5  # epoch 2 (1-based) = history epoch 1 = steps 3, 4, 5
    assert pd.isna(choice.loc[1, "step"])  # class 1 has no history: no line, no crash


def log_gan_run(label, d_loss, status="FINISHED"):
    with mlflow.start_run(run_name=f"gan-{label}", tags={"synthset.stage": "train_gan", "synthset.dataset": "mnist",
                                                         "synthset.label": str(label), "synthset.data_version": "abc.dir"}) as run:
        for step, value in enumerate(d_loss):
            mlflow.log_metrics({"d_loss": value, "g_loss": 2 * value, "d_acc_real": 0.5, "d_acc_fake": 0.4}, step=step)
    if status != "FINISHED":
        mlflow.MlflowClient().set_terminated(run.info.run_id, status)
    return run.info.run_id


def test_gan_curves_come_from_each_classs_history_file_and_links_from_mlflow(workdir):
    """The figures read the DVC-tracked history.csv; MLflow gives only the runs to link to."""
    write(workdir / "artifacts/mnist/gan/0/history.csv",
          "step,epoch,d_loss,g_loss,d_acc_real,d_acc_fake\n0,0,1.0,2.0,0.5,0.4\n1,0,0.8,1.6,0.5,0.4\n2,1,0.6,1.2,0.5,0.4\n")
    write(workdir / "artifacts/mnist/gan/1/history.csv", "step,epoch,d_loss,g_loss,d_acc_real,d_acc_fake\n0,0,0.3,0.6,0.5,0.4\n")
    curves = frames.gan_curves("mnist", [0, 1], ["zero", "one"])
    d_loss = curves[(curves["class"] == "zero") & (curves["metric"] == "d_loss")]
    assert list(d_loss["step"]) == [0, 1, 2] and list(d_loss["value"]) == [1.0, 0.8, 0.6]
    assert list(curves[(curves["class"] == "one") & (curves["metric"] == "g_loss")]["value"]) == [0.6]

    mlflow.set_tracking_uri(f"sqlite:///{workdir / 'mlflow.db'}")
    mlflow.set_experiment("synthset-mnist")
    log_gan_run(0, [9.0, 9.0])
    newest = log_gan_run(0, [1.0, 0.8, 0.6])
    other = log_gan_run(1, [0.3])
    log_gan_run(1, [5.0], status="FAILED")
    provenance = frames.provenance(frames.latest_runs(frames.runs("mnist"), "mnist", "train_gan", "label"))
    assert set(provenance["run_id"]) == {newest, other} and set(provenance["data_version"]) == {"abc.dir"}
    assert provenance["url"].isna().all()  # a local store has no UI address


def test_a_history_file_without_a_curve_is_named(workdir):
    write(workdir / "artifacts/mnist/gan/0/history.csv", "step,epoch,d_loss\n0,0,1.0\n")
    with pytest.raises(SynthsetError, match=r"artifacts/mnist/gan/0/history.csv: no column\(s\) g_loss"):
        frames.gan_curves("mnist", [0], ["zero"])


def test_run_links_point_at_the_tracking_server(monkeypatch):
    from synthset.tracking import store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000/")
    assert store.run_url("3", "abc") == "http://mlflow.example:5000/#/experiments/3/runs/abc"


def test_no_store_gives_no_runs_and_creates_none(workdir):
    assert frames.runs("mnist").empty and not (workdir / "mlflow.db").exists()
    with pytest.raises(frames.MissingInput, match="class 0's GAN history"):
        frames.gan_curves("mnist", [0], ["0"])


def test_ema_smooths_like_tensorboard():
    values = pd.Series([0.0, 1.0, 1.0])
    assert list(frames.ema(values, 0.0)) == [0.0, 1.0, 1.0]
    assert list(frames.ema(values, 0.5)) == [0.0, 0.5, 0.75]


def test_classifier_tables_keep_the_posters_model_order(workdir):
    cell = {"train_accuracy": 0.9, "test_accuracy_real": 0.8, "test_accuracy_synthetic": 0.7}
    semi = {"train_real_or_fake_accuracy": 1.0, "test_real_or_fake_accuracy_real": 0.9,
            "train_class_or_fake_accuracy": 0.8, "test_class_or_fake_accuracy_real": 0.7}
    study2 = {m: {"at_epoch": {"1": cell, "2": cell | {"test_accuracy_real": 0.85}}} for m in STUDY2_MODELS}
    study2 |= {f"semi_gan_{v}": {"at_epoch": {"1": semi}} for v in ("labelled_only", "with_synthetic")}
    write(workdir / "metrics/study2.json", json.dumps({"study2": study2}))
    table = frames.study2_table(list(STUDY2_MODELS))
    assert list(table["model"]) == [m for m in STUDY2_MODELS for _ in (1, 2)]
    assert list(table[table["model"] == "cnn_5l"]["test_real"]) == [0.8, 0.85]
    assert list(frames.semi_table()["label_test"]) == [0.7, 0.7]


def test_papers_numbers_cover_every_model_and_class():
    assert set(papers.POSTER_TABLE) == set(STUDY2_MODELS)
    assert all(set(rows) == set(papers.POSTER_EPOCHS) for rows in papers.POSTER_TABLE.values())
    params = yaml.safe_load(open(frames.__file__.rsplit("src", 1)[0] + "params.yaml"))
    assert set(papers.FIDS30_CHOSEN_EPOCH) == set(params["fids30"]["data"]["classes"])


def test_build_without_any_run_names_what_is_missing(workdir, params_raw):
    from synthset.report.build import build

    (workdir / "params.yaml").write_text(yaml.safe_dump(params_raw | {"datasets": ["mnist"]}, sort_keys=False))
    written = build(workdir / "params.yaml")
    assert {p.name for p in written} == {"plotly.min.js", "index.html", "summary.html", "gan.html", "samples.html",
                                         "classifiers.html", "quality.html", "study2.html"}
    classifiers = (workdir / "reports/classifiers.html").read_text()
    assert "Not available" in classifiers and "metrics/mnist/classifier/real.csv: missing" in classifiers
    assert "FIDS30" not in (workdir / "reports/quality.html").read_text()
    assert "cdn" not in (workdir / "reports/index.html").read_text().lower()


def test_class_names_follow_the_labels_not_the_positions():
    assert frames.class_name({2: "two", 0: "zero"}, "2") == "two"  # MNIST classes [2, 0]: the label is the digit
    assert frames.class_name(["apples", "limes"], 1) == "limes"  # FIDS30: the label is the position
    assert frames.class_name({0: "zero"}, 7) == "7"


def test_the_quality_page_says_when_its_real_side_is_the_training_set(params_raw):
    from synthset.config import resolve
    from synthset.report.dashboards import _reference_note

    fids30 = resolve(params_raw, scale="default", dataset="fids30")
    assert fids30.data.holdout_per_class == 0
    assert "the real side is the training images themselves" in _reference_note(fids30)
    mnist = resolve(params_raw, scale="default", dataset="mnist")
    assert f"{mnist.data.holdout_per_class} held-out training images per class" in _reference_note(mnist)
