"""FIDS30's half of study 1, read from the session's tiny pipeline (conftest.tiny_pipeline): `synthset
fetch-images` of a tiny FIDS30-like download, then `synthset repro`."""

import json
import subprocess

import keras
import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_FIDS30_CLASSES as FRUITS
from conftest import TinyPipeline

from synthset.hashes import file_md5

pytestmark = pytest.mark.e2e
SOURCES = ["real", "augmented", "synthetic", "real_plus_synthetic"]


@pytest.fixture
def pipeline(tiny_pipeline):
    env, dvc = TinyPipeline.environment(tiny_pipeline.root)
    return tiny_pipeline.root, env, dvc, tiny_pipeline.log


def test_photos_are_imported_with_hashes_and_recorded_by_dvc(pipeline):
    root, *_ = pipeline
    sums = (root / "data" / "fids30" / "SHA256SUMS").read_text().splitlines()
    assert len(sums) == 12 + 13  # every copied file, the unreadable one too
    assert sorted(line.split()[1] for line in sums) == sorted(
        f"{fruit}/{number}.jpg" for fruit, count in zip(FRUITS, (12, 13)) for number in range(1, count + 1))
    data = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]
    mnist_files = len(list((root / "data" / "mnist").iterdir()))
    assert data["path"] == "data" and data["nfiles"] == len(sums) + 1 + mnist_files  # + SHA256SUMS


def test_photos_are_decoded_and_split_per_class(pipeline):
    root, *_ = pipeline
    record = json.loads((root / "artifacts" / "fids30" / "real" / "split.json").read_text())
    assert record["skipped"] == ["limes/13.jpg"]  # the unreadable file, named and left out
    assert record["images_per_class"]["validation"] == {"apples": 2, "limes": 2}  # 20 % of 12, rounded
    assert record["images_per_class"]["train"] == {"apples": 10, "limes": 10}
    assert not set(record["files"]["validation"]) & set(record["files"]["train"])
    assert "apples/1.jpg" in record["files"]["train"] + record["files"]["validation"]  # the CMYK photo
    assert record["files"]["holdout"] == record["files"]["train"]  # holdout_per_class 0: select on training photos


def test_epochs_are_selected_by_kid_and_the_synthetic_set_is_written(pipeline):
    root, *_ = pipeline
    choice = json.loads((root / "metrics" / "fids30" / "epoch_choice.json").read_text())
    assert choice["metric"] == "kid" and sorted(choice["classes"]) == ["0", "1"]
    # Each class's epoch has the lowest KID of its curve (the earlier on a tie), recomputed from
    # the curves file; the synthetic set is drawn from that checkpoint.
    curves = pd.read_csv(root / "metrics" / "fids30" / "quality_by_epoch.csv")
    manifest = json.loads((root / "artifacts" / "fids30" / "synthetic" / "manifest.json").read_text())
    for label, entry in choice["classes"].items():
        curve = curves[curves["class"] == int(label)]
        assert entry["epoch"] == curve.loc[curve["kid"] == curve["kid"].min(), "epoch"].min(), label
        assert manifest["classes"][label]["checkpoint"] == f"generator_epoch_{entry['epoch']:03d}.keras"
    synthetic = json.loads((root / "artifacts" / "fids30" / "synthetic" / "manifest.json").read_text())
    assert {k: v["images"] for k, v in synthetic["classes"].items()} == {"0": 8, "1": 8}
    quality = json.loads((root / "metrics" / "fids30" / "quality.json").read_text())["quality"]["fids30"]
    assert {"kid", "kid_floor", "fid", "fid_floor"} <= set(quality) and sorted(quality["per_class"]) == ["0", "1"]


def test_study1_metrics_and_mlflow_runs_for_fids30(pipeline):
    root, *_ = pipeline
    metrics = json.loads((root / "metrics" / "fids30" / "study1.json").read_text())["study1"]["fids30"]
    seed = yaml.safe_load((root / "params.yaml").read_text())["seed"]
    with np.load(root / "artifacts" / "fids30" / "real" / "validation.npz") as validation:
        images, labels = validation["images"], validation["labels"]  # labels: indices into FRUITS
    assert images.shape == (4, 64, 64, 3) and sorted(labels.tolist()) == [0, 0, 1, 1]
    for source in SOURCES:
        # The reported accuracy and loss are the saved CNN's on the validation photos, recomputed
        # here, and the last row of its per-epoch curves.
        model = keras.models.load_model(root / "artifacts" / "fids30" / "classifier" / source / f"model_seed_{seed}.keras")
        probabilities = np.asarray(model.predict(images, verbose=0))
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
        loss = float(np.mean(-np.log(probabilities[np.arange(len(labels)), labels].astype("float64"))))
        curves = pd.read_csv(root / "metrics" / "fids30" / "classifier" / f"{source}.csv")
        assert metrics[f"val_accuracy_{source}"] == pytest.approx(accuracy, abs=1e-4), source
        assert curves["val_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-5), source
        assert metrics[f"val_loss_{source}"] == pytest.approx(loss, abs=6e-5), source  # rounded to 4 decimals
        assert curves["val_loss"].iloc[-1] == pytest.approx(loss, abs=2e-6), source
    assert metrics["synthetic_gap_pp"] == pytest.approx(
        100 * (metrics["val_accuracy_real"] - metrics["val_accuracy_synthetic"]), abs=0.02)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("synthset-fids30").experiment_id], max_results=100)
    # fids30.gan.kind shared_then_per_class: the shared GAN's run, then one per fruit that starts from it
    gans = {r.data.tags["synthset.label"]: r for r in runs if r.data.tags.get("synthset.stage") == "train_gan"}
    assert sorted(gans) == ["0", "1", "all"] and gans["all"].info.run_name == "fids30-gan-shared"
    assert {gans[label].data.tags["synthset.started_from_run"] for label in "01"} == {gans["all"].info.run_id}
    assert (root / "artifacts" / "fids30" / "gan" / "shared" / "networks" / "generator.weights.h5").exists()
    assert all(r.info.status == "FINISHED" for r in runs)
    classifiers = [r for r in runs if r.data.tags.get("synthset.stage", "").startswith("train_cnn_")]
    assert sorted(r.data.tags["synthset.source"] for r in classifiers) == sorted(SOURCES)


def _draw_runs(root, draw: str):
    """(client, the runs of stage gan_seeds' ``draw``: a GAN draw's number or ``split-<n>``)."""
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("synthset-fids30-gan-seeds").experiment_id
    return client, client.search_runs([experiment], f"tags.`synthset.gan_draw` = '{draw}'", max_results=100)


def test_a_second_training_of_the_gans_gives_the_synthetic_sources_an_interval(pipeline):
    """`classifier.gan_seeds: 2` at the tiny scale: draw 0 is the pipeline's own GANs with its first
    classifier seed, draw 1 trains GANs and CNNs from seed + 100 in its own MLflow experiment; the
    mean and t-interval are those of the two values, and draw 1's set is a different one."""
    from scipy import stats

    from synthset.hashes import dvc_md5

    root, *_ = pipeline
    seed = yaml.safe_load((root / "params.yaml").read_text())["seed"]
    summary = json.loads((root / "metrics" / "fids30" / "gan_seeds.json").read_text())
    assert summary["gan_seeds"] == 2 and summary["seeds"] == {"0": seed, "1": seed + 100}
    client, draws = _draw_runs(root, "1")
    assert sorted(r.info.run_name for r in draws) == sorted([
        "fids30-gan-shared", "fids30-gan-class-0", "fids30-gan-class-1", "fids30-epoch-selection",
        f"fids30-cnn-synthetic-seed-{seed + 100}", f"fids30-cnn-real_plus_synthetic-seed-{seed + 100}"])
    assert all(r.info.status == "FINISHED" for r in draws)
    main = client.get_experiment_by_name("synthset-fids30").experiment_id
    assert not client.search_runs([main], "tags.`synthset.gan_draw` = '1'")  # the pipeline's experiment holds its own
    for source in ("synthetic", "real_plus_synthetic"):
        seeds = pd.read_csv(root / "metrics" / "fids30" / "classifier" / f"{source}_seeds.csv")
        own = seeds[(seeds["seed"] == seed) & (seeds["epoch"] == seeds["epoch"].max())]["val_accuracy"].iloc[0]
        [cnn] = [r for r in draws if r.info.run_name == f"fids30-cnn-{source}-seed-{seed + 100}"]
        values = [own, cnn.data.metrics["val_accuracy"]]
        entry = summary["sources"][source]
        assert entry["values"] == pytest.approx(values, abs=1e-4), source
        half = stats.t.ppf(0.975, 1) * np.std(values, ddof=1) / np.sqrt(2)
        assert entry["interval_95"] == pytest.approx([np.mean(values) - half, np.mean(values) + half], abs=2e-4)
    drawn = root / "artifacts" / "fids30" / "gan_seeds" / "draw_1" / "synthetic"
    assert (drawn / "manifest.json").exists()
    assert dvc_md5(drawn) != dvc_md5(root / "artifacts" / "fids30" / "synthetic")
    assert not (root / "artifacts" / ".resume" / "fids30" / "gan_seeds").exists()


def test_a_second_split_of_the_photos_gives_the_real_source_an_interval(pipeline):
    """`intervals.split_seeds: 2` at the tiny scale: split 0 is the pipeline's own split and real-data
    CNN (first seed); split 1 re-splits the photos with seed + 1000 and trains the real-data CNN once,
    in the GAN draws' MLflow experiment; the interval is that of the two values."""
    root, *_ = pipeline
    seed = yaml.safe_load((root / "params.yaml").read_text())["seed"]
    summary = json.loads((root / "metrics" / "fids30" / "gan_seeds.json").read_text())
    assert summary["split_seeds"] == 2 and summary["split_seed_values"] == {"0": seed, "1": seed + 1000}
    _, [run] = _draw_runs(root, "split-1")
    assert run.info.run_name == f"fids30-cnn-real-seed-{seed + 1000}" and run.info.status == "FINISHED"
    # another split: the CNN was validated on other photos than the pipeline's
    assert run.data.tags["synthset.input_md5.validation"] != file_md5(root / "artifacts" / "fids30" / "real" / "validation.npz")
    seeds = pd.read_csv(root / "metrics" / "fids30" / "classifier" / "real_seeds.csv")
    own = seeds[(seeds["seed"] == seed) & (seeds["epoch"] == seeds["epoch"].max())]["val_accuracy"].iloc[0]
    entry = summary["sources"]["real"]
    assert entry["values"] == pytest.approx([own, run.data.metrics["val_accuracy"]], abs=1e-4)
    assert set(entry) >= {"interval_95", "classifier_sd", "split_sd"}


def test_missing_source_stops_before_any_work_and_says_how_to_get_fids30(pipeline, tmp_path):
    root, env, *_ = pipeline
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["fids30"]["data"]["source"] = str(tmp_path / "nowhere")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = subprocess.run(["synthset", "fetch-images", "--no-dvc"], cwd=tmp_path, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert f"{tmp_path / 'nowhere'}" in result.stderr and "vicos.si" in result.stderr.lower()
    assert "remove fids30 from `datasets`" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["params.yaml"]  # nothing written
