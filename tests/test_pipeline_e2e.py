"""The real pipeline on the tiny scale: the session's tiny pipeline (`synthset repro` of MNIST and
FIDS30 in a fresh project, conftest.tiny_pipeline) read from every side, and the team's way to
run it against `synthset services` (an MLflow server on PostgreSQL). Tests that run DVC or change
anything work on their own copy of the project, so none depends on another's order."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TINY_MNIST_CLASSES as CLASSES
from conftest import TINY_SSL_LABELS as SSL_LABELS
from conftest import PROJECT, TinyPipeline, commit_all, run_command

pytestmark = pytest.mark.e2e
SOURCES = ["real", "augmented", "synthetic", "real_plus_synthetic"]
STUDY2_MODELS = ["linear_softmax", "fcnn", "cnn_4l", "cnn_5l"]

_run = run_command


@pytest.fixture
def pipeline(tiny_pipeline):
    """The shared run, read only: (root, environment, dvc command, `synthset repro`'s log)."""
    env, dvc = TinyPipeline.environment(tiny_pipeline.root)
    return tiny_pipeline.root, env, dvc, tiny_pipeline.log


@pytest.fixture
def own_copy(tiny_pipeline, tmp_path, warm_start):
    """A copy of the shared run for a test that runs DVC in it or changes it; its `synthset`
    commands start warm, as under `synthset repro`."""
    root = tiny_pipeline.copy(tmp_path / "project")
    env, dvc = TinyPipeline.environment(root)
    return root, {**env, **warm_start}, dvc


def test_synthset_repro_ran_every_stage_and_each_started_warm(pipeline):
    root, _, _, log = pipeline
    stages = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    ran = sorted(set(re.findall(r"^Running stage '([^']+)'", re.sub(r"^\S+ +\| ", "", log, flags=re.M), re.M)))
    assert ran == sorted(stages)  # a fresh project: every stage of both datasets, the report last
    summary = re.search(r"pipeline up to date: (\d+) stages, (\d+) ran, up to one per core at once, (.*)$", log, re.M)
    assert summary, log[-2000:]
    assert int(summary[1]) == len(stages) + 1 and int(summary[2]) == len(stages)  # + data.dvc, which only DVC runs
    assert summary[3] == "every one started warm"


def split_of(root: Path, split: str, dataset: str = "mnist") -> tuple[np.ndarray, np.ndarray]:
    """A real split as the prepare stage saved it, read with numpy; labels as class indices 0..K-1."""
    with np.load(root / "artifacts" / dataset / "real" / f"{split}.npz") as data:
        return data["images"], np.searchsorted(CLASSES, data["labels"])


def first_of_each_class(images: np.ndarray, labels: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    chosen = np.concatenate([np.flatnonzero(labels == index)[:per_class] for index in range(len(CLASSES))])
    return images[chosen], labels[chosen]


def scores_of(model_file: Path, images: np.ndarray, output=None, scale: float = 1.0) -> np.ndarray:
    """The saved model's class scores (its ``output``'s, for a model with several)."""
    import keras

    scores = keras.models.load_model(model_file).predict(images * scale if scale != 1.0 else images, verbose=0)
    return np.asarray(scores[output] if output is not None else scores)


def accuracy_of(model_file: Path, images: np.ndarray, labels: np.ndarray, output=None, scale: float = 1.0) -> float:
    """The saved model's accuracy, recomputed: argmax of its scores against the labels."""
    scores = scores_of(model_file, images, output, scale)
    assert scores.shape[0] == len(labels)
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def test_metrics_file_holds_study1_numbers(pipeline, dataset="mnist"):
    root, *_ = pipeline
    metrics = json.loads((root / "metrics" / dataset / "study1.json").read_text())["study1"][dataset]
    seed = yaml.safe_load((root / "params.yaml").read_text())["seed"]
    val_images, val_labels = split_of(root, "validation")
    assert sorted(set(val_labels)) == list(range(len(CLASSES)))
    for source in SOURCES:
        # The reported accuracy and loss are the saved model's on the real validation split (one
        # seed at tiny), recomputed here, and the last row of the per-epoch curves. (The tiny CNNs
        # stay near chance, 1/3, so the loss, which differs per source and epoch, is what tells
        # the models apart.)
        probabilities = scores_of(root / "artifacts" / dataset / "classifier" / source / f"model_seed_{seed}.keras",
                                  val_images)
        accuracy = float(np.mean(np.argmax(probabilities, axis=1) == val_labels))
        loss = float(np.mean(-np.log(probabilities[np.arange(len(val_labels)), val_labels].astype("float64"))))
        curves = pd.read_csv(root / "metrics" / dataset / "classifier" / f"{source}.csv")
        assert metrics[f"val_accuracy_{source}"] == pytest.approx(accuracy, abs=1e-4), source
        assert curves["val_accuracy"].iloc[-1] == pytest.approx(accuracy, abs=1e-5), source
        assert metrics[f"val_loss_{source}"] == pytest.approx(loss, abs=6e-5), source  # rounded to 4 decimals
        assert curves["val_loss"].iloc[-1] == pytest.approx(loss, abs=2e-6), source
    expected_gap = 100 * (metrics["val_accuracy_real"] - metrics["val_accuracy_synthetic"])
    assert metrics["synthetic_gap_pp"] == pytest.approx(expected_gap, abs=0.02)
    assert metrics["seeds"] == 1 and metrics["val_accuracy_synthetic_std"] == 0.0
    history = (root / "metrics" / dataset / "classifier" / "synthetic.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_accuracy,train_loss,val_accuracy,val_loss,") and len(history) == 1 + 2


def test_study2_table_holds_every_model_at_every_table_epoch(pipeline):
    root, *_ = pipeline
    study2 = json.loads((root / "metrics" / "study2.json").read_text())["study2"]
    per_class = yaml.safe_load((root / "params.yaml").read_text())["scales"]["tiny"]["mnist"]["study2"][
        "test_images_per_class"]
    real_test = first_of_each_class(*split_of(root, "validation"), per_class)
    synthetic_test = [np.load(root / "artifacts" / "mnist" / "synthetic_test" / f"class_{label}.npz")
                      for label in CLASSES]
    synthetic_test = (np.concatenate([archive["images"] for archive in synthetic_test]),
                      np.searchsorted(CLASSES, np.concatenate([archive["labels"] for archive in synthetic_test])))
    assert len(real_test[1]) == len(synthetic_test[1]) == len(CLASSES) * 15
    for model in STUDY2_MODELS:
        row = study2[model]
        assert sorted(row["at_epoch"]) == ["1", "2"]
        for key in ("train_accuracy", "test_accuracy_real", "test_accuracy_synthetic"):
            assert row[key] == row["at_epoch"]["2"][key]
        # Both test columns are the saved model's accuracy on the test sets, recomputed here; the
        # train column is the last epoch's of the curves file.
        model_file = root / "artifacts" / "mnist" / "study2" / "models" / model / "model.keras"
        assert row["test_accuracy_real"] == pytest.approx(accuracy_of(model_file, *real_test), abs=1e-4), model
        assert row["test_accuracy_synthetic"] == pytest.approx(accuracy_of(model_file, *synthetic_test), abs=1e-4), model
        curves = pd.read_csv(root / "metrics" / "mnist" / "study2" / "models" / f"{model}.csv")
        assert row["train_accuracy"] == pytest.approx(curves["train_accuracy"].iloc[-1], abs=1e-4), model
    # The tiny digits are printed glyphs: real-trained CNNs tell three of them apart well above
    # chance (1/3; a tiny run gives about 0.8).
    assert study2["cnn_4l"]["test_accuracy_real"] >= 0.5 and study2["cnn_5l"]["test_accuracy_real"] >= 0.5
    for variant in ("labelled_only", "with_synthetic"):
        row = study2[f"semi_gan_{variant}"]
        assert sorted(row["at_epoch"]) == ["1", "2"]
        model_file = root / "artifacts" / "mnist" / "study2" / "models" / f"semi_gan_{variant}" / "model.keras"
        assert row["test_class_or_fake_accuracy_real"] == pytest.approx(
            accuracy_of(model_file, *real_test, output="class_or_fake"), abs=1e-4), variant
    assert sorted(study2["ssl_gan"], key=int) == [str(n) for n in SSL_LABELS]
    whole_validation = split_of(root, "validation")
    for count, row in study2["ssl_gan"].items():
        # The discriminator's classifier on the whole real validation split, recomputed.
        discriminator = root / "artifacts" / "mnist" / "study2" / "models" / f"ssl_gan_{count}_labels" / "discriminator.keras"
        accuracy = accuracy_of(discriminator, *whole_validation, output=0, scale=1 / 255)
        assert row["labels"] == int(count) and row["test_images"] == len(whole_validation[1])
        assert row["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
        assert row["test_error"] == pytest.approx(1 - accuracy, abs=1e-4)
    audit = json.loads((root / "metrics" / "mnist" / "study2" / "label_audit.json").read_text())
    assert audit["images"] == len(CLASSES) * 15 and sum(c["disputed"] for c in audit["per_class"].values()) == audit["disputed"]
    assert study2["label_audit"]["disputed"] == audit["disputed"]
    attention = study2["attention"]
    assert sorted(attention["sanity_passed"]) == ["grad_cam", "saliency"]
    # The headline similarities are the per-class rows of the attention table, averaged here.
    table = pd.read_csv(root / "metrics" / "mnist" / "study2" / "attention.csv")
    assert sorted(table["class"].unique()) == CLASSES
    real = table[table["images"] == "real"].groupby(["method", "pair"])[["rank_correlation", "top_iou"]].mean()
    for method in ("grad_cam", "saliency"):
        for pair in ("real_vs_augmented", "real_vs_synthetic", "augmented_vs_synthetic", "real_vs_real_randomised"):
            for measure in ("rank_correlation", "top_iou"):
                assert attention["similarity"][method][pair][measure] == pytest.approx(
                    real.loc[(method, pair), measure], abs=1e-4), (method, pair, measure)
    # The grids: a row per class, per image the digit and one overlay per map set, 3x zoom.
    from PIL import Image

    sources = yaml.safe_load((root / "params.yaml").read_text())["study2"]["attention"]["sources"]
    per_class = yaml.safe_load((root / "params.yaml").read_text())["study2"]["attention"]["grid_images_per_class"]

    def grid_size(overlays: int) -> tuple[int, int]:
        return 3 * (per_class * (1 + overlays) * 30 + 2), 3 * (len(CLASSES) * 30 + 2)

    expected = {"cnn_5l_real_test.png": grid_size(2), "cnn_5l_synthetic_test.png": grid_size(2),
                "compare_grad_cam.png": grid_size(len(sources) + 1), "compare_saliency.png": grid_size(len(sources) + 1)}
    grids = root / "artifacts" / "mnist" / "study2" / "attention"
    assert {path.name: Image.open(path).size for path in grids.glob("*.png")} == expected
    synthetic_test = json.loads((root / "artifacts" / "mnist" / "synthetic_test" / "manifest.json").read_text())
    assert {int(k): v["images"] for k, v in synthetic_test["classes"].items()} == {label: 15 for label in CLASSES}


def test_quality_metrics_and_epoch_choice_come_from_the_pipeline(pipeline):
    root, *_ = pipeline
    quality = json.loads((root / "metrics" / "mnist" / "quality.json").read_text())["quality"]["mnist"]
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "near_copy_share", "label_fidelity"):
        assert name in quality and f"{name}_floor" in quality
    assert sorted(quality["per_class"], key=int) == [str(c) for c in CLASSES]
    # Each class's epoch is the one with the best value of the selection metric in its curve
    # (lower is better for fid and kid; the earlier epoch on a tie), recomputed from the curves file.
    choice = json.loads((root / "metrics" / "mnist" / "epoch_choice.json").read_text())
    metric = choice["metric"]
    assert metric == yaml.safe_load((root / "params.yaml").read_text())["mnist"]["quality"]["selection_metric"]
    assert metric in ("fid", "kid")
    curves = pd.read_csv(root / "metrics" / "mnist" / "quality_by_epoch.csv")
    manifest = json.loads((root / "artifacts" / "mnist" / "synthetic" / "manifest.json").read_text())
    assert sorted(choice["classes"], key=int) == [str(c) for c in CLASSES]
    for label, entry in choice["classes"].items():
        curve = curves[curves["class"] == int(label)].sort_values("epoch")
        best = curve.loc[curve[metric] == curve[metric].min(), "epoch"].min()
        assert entry["epoch"] == best and entry[metric] == pytest.approx(curve[metric].min(), rel=1e-5), label
        assert manifest["classes"][label]["checkpoint"] == f"generator_epoch_{entry['epoch']:03d}.keras"


def test_a_conditional_gan_goes_through_selection_generation_and_the_classifier(own_copy):
    """`mnist.gan.kind: conditional`: one GAN for every class, whose per-class views the rest of the
    chain reads as it reads the per-class GANs: each class's chosen checkpoint draws its images, the
    set is logged on the conditional run that made it, and the CNN trains on it."""
    import keras

    from synthset import paths
    from synthset.synthetic import kept_checkpoints, sample
    from synthset.hashes import dvc_md5, file_md5

    root, env, dvc = own_copy
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["scales"][raw["scale"]]["mnist"]["gan"]["kind"] = "conditional"  # its place: per scale
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    log = _run(dvc + ["repro", "train_cnn_on_synthetic@mnist"], root, env)
    assert re.findall(r"Running stage '([^']+)'", log) == [  # check_data reads params.yaml whole: seconds
        "check_data", "train_gan@mnist", "select_epochs@mnist", "generate@mnist", "train_cnn_on_synthetic@mnist"]

    # One model trained; each class's output holds its view's checkpoint of every epoch, a sample
    # grid and the history; the work directory is gone.
    epochs = raw["scales"]["tiny"]["mnist"]["gan"]["epochs"]
    for label in CLASSES:
        out = root / "artifacts" / "mnist" / "gan" / str(label)
        assert sorted(kept_checkpoints(out)) == list(range(1, epochs + 1)), label
        assert paths.sample_grid(out, epochs).exists() and paths.gan_history(out).exists()
    assert not (root / paths.gan_work_dir("mnist", "conditional")).exists()

    choice = json.loads((root / "metrics" / "mnist" / "epoch_choice.json").read_text())
    manifest = json.loads((root / "artifacts" / "mnist" / "synthetic" / "manifest.json").read_text())
    for label in CLASSES:
        checkpoint = (root / "artifacts" / "mnist" / "gan" / str(label) / "checkpoints"
                      / f"generator_epoch_{choice['classes'][str(label)]['epoch']:03d}.keras")
        entry = manifest["classes"][str(label)]
        assert entry["checkpoint"] == checkpoint.name and entry["generator_md5"] == file_md5(checkpoint)
        with np.load(root / "artifacts" / "mnist" / "synthetic" / f"class_{label}.npz") as archive:
            drawn = archive["images"]
        view = keras.saving.load_model(checkpoint, compile=False)  # the class's view: noise in, digits out
        expected = sample(view, len(drawn), raw["gan"]["latent_dim"], seed=(raw["seed"], label, 0),
                          batch_size=raw["generate"]["batch_size"])
        assert np.array_equal(drawn, expected), label

    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name("synthset-mnist")
    [conditional] = client.search_runs([experiment.experiment_id], "attributes.run_name = 'mnist-gan-conditional'")
    assert conditional.info.status == "FINISHED"
    steps = len(pd.read_csv(paths.gan_history(root / "artifacts" / "mnist" / "gan" / str(CLASSES[0]))))
    assert steps > 0 and len(client.get_metric_history(conditional.info.run_id, "d_loss")) == steps  # every step, once
    generated = {put.dataset.digest for put in conditional.inputs.dataset_inputs
                 if any(t.key == "mlflow.data.context" and t.value == "generated" for t in put.tags)}
    assert dvc_md5(root / "artifacts" / "mnist" / "synthetic") in generated
    # The CNN trained on this set: its saved model's validation accuracy is its curves' last value.
    cnn = root / "artifacts" / "mnist" / "classifier" / "synthetic" / f"model_seed_{raw['seed']}.keras"
    assert accuracy_of(cnn, *split_of(root, "validation")) == pytest.approx(
        pd.read_csv(root / "metrics" / "mnist" / "classifier" / "synthetic.csv")["val_accuracy"].iloc[-1], abs=1e-5)


def test_generated_dataset_is_a_dvc_output(pipeline):
    root, *_ = pipeline
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    outs = [out["path"] for out in lock["generate@mnist"]["outs"]]
    assert outs == ["artifacts/mnist/synthetic"]
    assert sorted(p.name for p in (root / "artifacts/mnist/synthetic").iterdir()) == sorted(
        [f"class_{label}.npz" for label in CLASSES] + ["manifest.json"]
    )


def test_mlflow_store_holds_parent_gan_runs_classifier_runs_grids_and_models(pipeline, tiny_pipeline, tmp_path):
    root, env, *_ = pipeline
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("synthset-mnist")
    runs = client.search_runs([experiment.experiment_id], max_results=100)
    parents = [r for r in runs if "synthset.parent_key" in r.data.tags]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert sorted(int(r.data.tags["synthset.label"]) for r in children) == CLASSES
    data_version = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]["md5"]
    for child in children:
        assert child.info.status == "FINISHED"
        assert child.data.tags["synthset.data_version"] == data_version
        # The commit the project was at (dirty or not: DVC writes .gitignore files as stages finish).
        assert child.data.tags["synthset.git_commit"] in (tiny_pipeline.commit, f"{tiny_pipeline.commit}-dirty")
        history = client.get_metric_history(child.info.run_id, "g_loss")
        assert sorted(m.step for m in history) == list(range(2 * 2))  # 2 epochs of 32 images in batches of 16
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "images" in artifacts and "history.csv" in artifacts
    classifiers = [r for r in runs if r.data.tags.get("synthset.stage", "").startswith("train_cnn_")]
    assert sorted(r.data.tags["synthset.source"] for r in classifiers) == sorted(SOURCES)
    for run in classifiers:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    models = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    assert sorted(m.name for m in models) == (["classifier"] * (4 + 4) + ["feature_network"] + ["generator"] * len(CLASSES)
                                              + ["semi_gan_discriminator"] * 2)
    stages = {r.data.tags.get("synthset.stage") for r in runs}
    assert {"train_features", "select_epochs", "assess", "train_study2", "audit_labels", "explain"} <= stages
    study2 = [r for r in runs if r.data.tags.get("synthset.stage") == "train_study2"]
    classifiers = [r for r in study2 if "synthset.model" in r.data.tags]
    assert sorted(r.data.tags["synthset.model"] for r in classifiers) == sorted(STUDY2_MODELS)
    assert sorted(r.data.tags.get("synthset.variant", "") for r in study2 if "synthset.variant" in r.data.tags) == [
        "labelled_only", "with_synthetic"]
    assert sorted(int(r.data.tags["synthset.labels"]) for r in study2 if "synthset.labels" in r.data.tags) == sorted(SSL_LABELS)
    for run in classifiers:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "test_accuracy_synthetic")] == [1, 2]
    # The sample grid is the class's: a PNG of the generator's digits, as logged.
    from PIL import Image

    grid = next(a.path for a in client.list_artifacts(children[0].info.run_id, "images") if a.path.endswith(".png"))
    with Image.open(client.download_artifacts(children[0].info.run_id, grid, str(tmp_path))) as picture:
        assert picture.size[0] >= 28 * 4 and np.asarray(picture).std() > 0
    generator = next(m for m in models if m.name == "generator")
    assert mlflow.keras.load_model(generator.model_uri).output_shape[1:] == (28, 28, 1)


def test_a_stage_run_against_the_team_server_keeps_runs_grids_and_models_there(own_copy, team_services, tmp_path):
    """The team's way: MLFLOW_TRACKING_URI names `synthset services`' MLflow server; a GAN stage's
    run, its sample grids and its model are uploaded through it, nothing lands in the checkout."""
    root, env, _ = own_copy
    running, directory = team_services
    env["MLFLOW_TRACKING_URI"] = running.tracking_uri
    (root / "mlflow.db").unlink()
    for local in ("mlruns", "mlartifacts"):
        shutil.rmtree(root / local, ignore_errors=True)
    _run(["synthset", "train-gan", "mnist", "1"], root, env)
    client = mlflow.MlflowClient(running.tracking_uri)
    experiment = client.get_experiment_by_name("synthset-mnist")
    [run] = client.search_runs([experiment.experiment_id], "tags.`synthset.label` = '1'")
    assert run.info.status == "FINISHED" and run.info.artifact_uri.startswith("mlflow-artifacts:")
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "g_loss")) == list(range(2 * 2))
    grid = next(a.path for a in client.list_artifacts(run.info.run_id, "images") if a.path.endswith(".png"))
    assert Path(client.download_artifacts(run.info.run_id, grid, str(tmp_path))).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mlflow.set_tracking_uri(running.tracking_uri)
    [generator] = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    assert mlflow.keras.load_model(generator.model_uri).output_shape[1:] == (28, 28, 1)
    assert list((directory / "mlartifacts").rglob("MLmodel"))
    assert not (root / "mlflow.db").exists() and not (root / "mlruns").exists() and not (root / "mlartifacts").exists()


def test_mlflow_runs_name_the_dvc_version_of_the_data_they_read_and_made(pipeline):
    """Lineage: each classifier run's inputs carry the DVC hash of its training and validation data;
    each GAN run, the synthetic sets its generator drew (context generated)."""
    root, env, *_ = pipeline
    outs = {out["path"]: out["md5"] for stage in yaml.safe_load((root / "dvc.lock").read_text())["stages"].values()
            for out in stage.get("outs", [])}
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("synthset-mnist")
    runs = client.search_runs([experiment.experiment_id], max_results=200)

    def inputs(run):
        return {(put.dataset.name, put.dataset.digest, next(t.value for t in put.tags if t.key == "mlflow.data.context"))
                for put in run.inputs.dataset_inputs}

    synthetic, synthetic_test = outs["artifacts/mnist/synthetic"], outs["artifacts/mnist/synthetic_test"]
    train, validation = outs["artifacts/mnist/real/train.npz"], outs["artifacts/mnist/real/validation.npz"]
    by_source = {r.data.tags["synthset.source"]: inputs(r) for r in runs
                 if r.data.tags.get("synthset.stage", "").startswith("train_cnn_")}
    assert by_source["synthetic"] == {("mnist-synthetic", synthetic, "training"),
                                      ("mnist-real", validation, "validation")}
    assert by_source["real_plus_synthetic"] == by_source["synthetic"] | {("mnist-real", train, "training")}
    gans = [r for r in runs if r.data.tags.get("synthset.stage") == "train_gan" and "synthset.label" in r.data.tags]
    assert len(gans) == len(CLASSES)
    for run in gans:
        assert inputs(run) == {("mnist-real", train, "training"), ("mnist-synthetic", synthetic, "generated"),
                               ("mnist-synthetic-test", synthetic_test, "generated")}
    found = client.search_runs([experiment.experiment_id], f"dataset.digest = '{synthetic}'", max_results=200)
    assert {r.info.run_id for r in gans} <= {r.info.run_id for r in found}


def test_dvc_metrics_show_prints_the_headline_narrow_enough_for_a_terminal(own_copy):
    root, env, dvc = own_copy
    lines = _run(dvc + ["metrics", "show"], root, env).strip().splitlines()
    assert max(len(line) for line in lines) <= 180, lines[0]
    assert sorted(line.split()[0] for line in lines[1:]) == [
        "metrics/fids30/headline.json", "metrics/mnist/headline.json", "metrics/study2_on_real.json",
        "metrics/study2_on_synth.json"]
    assert {"real", "augmented", "synthetic", "real+synth", "gap_pp", "fid", "fid_floor", "recall", "label_fid",
            *STUDY2_MODELS} == set(lines[0].split()[1:])


def test_second_repro_does_nothing_and_gan_change_reruns_only_its_dependents(own_copy, monkeypatch):
    from dvc.repo import Repo

    root, env, dvc = own_copy
    monkeypatch.chdir(root)  # DVC's API names stages relative to the working directory
    again = _run(dvc + ["repro"], root, env)
    assert "Running stage" not in again
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["scales"]["tiny"]["mnist"]["gan"]["epochs"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    with Repo(".") as repo:
        status = repo.status()
        # DVC's graph: an edge from each stage to a stage it depends on; here, upstream -> downstream.
        edges = {(upstream.addressing, stage.addressing) for stage, upstream in repo.index.graph.edges}
    # The stages that read the gan section see the change directly (the GANs; epoch selection and
    # generation, for the latent size; the extra trainings of the GANs, gan_seeds; the report, for
    # the grid size); the synthetic-data
    # classifiers follow through their dependency on the generated images. Real-data stages and
    # FIDS30's are untouched; check_data, which reads every dataset's settings, declares
    # params.yaml whole and re-runs in seconds to the same record, so nothing follows from it.
    assert set(status) == {"check_data", "train_gan@mnist", "select_epochs@mnist", "generate@mnist",
                           "generate_test@mnist", "gan_seeds@mnist", "report"}
    assert {("train_gan@mnist", "select_epochs@mnist"), ("select_epochs@mnist", "generate@mnist"),
            ("generate@mnist", "assess@mnist"), ("train_features@mnist", "select_epochs@mnist"),
            ("train_gan@mnist", "generate@mnist"), ("generate@mnist", "train_cnn_on_synthetic@mnist")} <= edges
    assert ("generate@mnist", "train_cnn_on_real@mnist") not in edges
    assert not {edge for edge in edges if "@fids30" in edge[1] and "@mnist" in edge[0]}


REPORT_PAGES = ["index", "summary", "gan", "samples", "classifiers", "quality", "study2"]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "report-index.png"


def test_report_stage_writes_every_dashboard_from_the_run(pipeline):
    root, env, *_ = pipeline
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert sorted(out["path"] for out in lock["report"]["outs"]) == sorted(
        [f"reports/{name}.html" for name in REPORT_PAGES] + ["reports/plotly.min.js"])  # not sweeps.html: `synthset sweep`'s
    assert sorted(p.stem for p in (root / "reports").glob("*.html")) == sorted(REPORT_PAGES)
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    experiment = mlflow.MlflowClient().get_experiment_by_name("synthset-mnist")
    gan_runs = mlflow.MlflowClient().search_runs([experiment.experiment_id], "tags.`synthset.stage` = 'train_gan'")
    data_version = yaml.safe_load((root / "data.dvc").read_text())["outs"][0]["md5"]
    for name in REPORT_PAGES:
        text = (root / "reports" / f"{name}.html").read_text()
        assert "Not available" not in text, f"{name}.html lacks a section: " + text.split("Not available")[1][:300]
        assert data_version in text and "cdn." not in text.lower()
    gan_page = (root / "reports" / "gan.html").read_text()
    assert all(run.info.run_id in gan_page for run in gan_runs)


def _serve(directory: Path):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _chromium(user_data_dir: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1400,1800", f"--user-data-dir={user_data_dir}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


RENDERED = """
return Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => {
  const svg = div.querySelector('svg.main-svg'), box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
  const marks = div.querySelectorAll('path.point, path.js-line, .bars path, image, g.table .cell-text, canvas').length;
  return {id: div.id, traces: (div._fullData || []).length, width: box.width, height: box.height, marks: marks};
});"""


def _assert_pages_render(directory: Path, names: list[str], profile: Path, screenshot_of: str | None = None) -> None:
    """Every page served on localhost loads without console errors and every plot has drawn marks."""
    from selenium.webdriver.support.ui import WebDriverWait

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: `apt-get install chromium chromium-driver` "
                    "(scripts/setup.sh installs them)")
    server = _serve(directory)
    driver = _chromium(profile)
    try:
        for name in names:
            driver.get(f"http://127.0.0.1:{server.server_port}/{name}.html")
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "return document.readyState === 'complete' && window.Plotly !== undefined"))
            plots = WebDriverWait(driver, 30).until(lambda d: (lambda p: p if p and all(x["marks"] for x in p) else None)(
                d.execute_script(RENDERED)))
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert not errors, f"{name}.html: console errors {errors}"
            for plot in plots:
                assert plot["traces"] > 0 and plot["width"] > 0 and plot["height"] > 0, f"{name}.html: {plot}"
            if name == screenshot_of:
                SCREENSHOT.parent.mkdir(exist_ok=True)
                driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()
        server.shutdown()


def test_report_pages_render_in_headless_chromium(pipeline, tmp_path):
    root, *_ = pipeline
    _assert_pages_render(root / "reports", REPORT_PAGES, tmp_path / "chromium-profile", screenshot_of="index")
    # What a reader sees: the window's width (1400 CSS pixels) of a page with colour on it (plots,
    # not a blank or one-colour error page).
    from PIL import Image

    with Image.open(SCREENSHOT) as shot:
        pixels = np.asarray(shot.convert("RGB"))
    assert shot.size[0] == 1400
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100 and (pixels.max(axis=-1) - pixels.min(axis=-1)).max() > 100


def test_exp_run_set_param_runs_that_value_or_is_refused_naming_the_key_that_decides(own_copy):
    """`dvc exp run -S` as a user would: a value in its one place runs (and `dvc params diff` shows
    it); a value that another place would shadow stops the pipeline at its first stage, naming both."""
    from dvc.repo import Repo

    root, env, dvc = own_copy
    commit_all(root, env, "tiny run")

    refused = subprocess.run(dvc + ["exp", "run", "-S", "+gan.epochs=10", "train_gan@mnist"], cwd=root, env=env,
                             capture_output=True, text=True)
    _run(["git", "checkout", "--", "params.yaml", "dvc.lock"], root, env)
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "`gan.epochs` (10)" in output and "`scales.tiny.mnist.gan.epochs` (2)" in output
    # The first stage, which reads every setting, refuses it: nothing trains.
    assert "Running stage 'check_data'" in output and "Running stage 'train_gan@mnist'" not in output

    log = _run(dvc + ["exp", "run", "-S", "quality.kid_subsets=20", "assess@mnist"], root, env)
    # The stages upstream of the target that read the setting run too: epoch selection scores KID.
    assert re.findall(r"Running stage '([^']+)'", log) == ["check_data", "select_epochs@mnist", "assess@mnist"]
    with Repo(str(root)) as repo:
        result = repo.params.diff()  # `dvc params diff`: HEAD against the workspace
    assert not any(result.get("errors", {}).values()), result["errors"]
    diff = result["diff"]
    assert list(diff) == ["params.yaml"] and list(diff["params.yaml"]) == ["quality.kid_subsets"]
    assert {key: diff["params.yaml"]["quality.kid_subsets"][key] for key in ("old", "new")} == {"old": 50, "new": 20}
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name("synthset-mnist")
    newest = client.search_runs([experiment.experiment_id], "tags.`synthset.stage` = 'assess'",
                                order_by=["attributes.start_time DESC"], max_results=1)[0]
    assert newest.data.params["quality.kid_subsets"] == "20"  # the value that ran


def test_dataset_versions_list_restore_and_compare(own_copy, tmp_path):
    """Two commits with different generation settings are two versions of mnist-synthetic: `synthset
    datasets` lists both with the settings that changed, restores each by hash from the cache and,
    once the cache is gone, from the DVC remote, and compares them re-scored; nothing anywhere is
    refused with how to get it."""
    root, env, dvc = own_copy
    remote = tmp_path / "remote"
    _run(dvc + ["remote", "add", "-d", "storage", str(remote)], root, env)
    first = commit_all(root, env, "tiny run")
    _run(dvc + ["push", "-q"], root, env)
    raw = yaml.safe_load((root / "params.yaml").read_text())
    # The cheapest change that makes a new version: more images from the same generators.
    per_class = raw["scales"]["tiny"]["mnist"]["generate"]["images_per_class"]
    raw["scales"]["tiny"]["mnist"]["generate"]["images_per_class"] = per_class + 4
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    log = _run(dvc + ["repro", "generate@mnist"], root, env)
    assert re.findall(r"Running stage '([^']+)'", log) == ["check_data", "generate@mnist"]
    second = commit_all(root, env, "more images")
    _run(dvc + ["push", "-q"], root, env)

    def md5_at(rev):
        lock = yaml.safe_load(_run(["git", "show", f"{rev}:dvc.lock"], root, env))
        return next(out["md5"] for out in lock["stages"]["generate@mnist"]["outs"])

    listed = json.loads(subprocess.run(["synthset", "datasets", "list", "mnist-synthetic", "--json", "--html"], cwd=root,
                                       env=env, capture_output=True, text=True, check=True).stdout)
    assert [row["version"] for row in listed] == [md5_at(first), md5_at(second)] != [md5_at(first)] * 2
    assert [row["revision"] for row in listed] == [first[:7], second[:7]]
    assert listed[0]["changed"] == "(first version)"
    assert listed[1]["changed"] == f"scales.tiny.mnist.generate.images_per_class: {per_class} -> {per_class + 4}"
    assert listed[0]["where"] == "cache, remote storage" and listed[1]["where"] == "workspace, cache, remote storage"
    assert listed[0]["tstr_accuracy"] is not None  # the first commit's metrics files
    assert "(generated)" in listed[1]["runs"] and "(training)" in listed[0]["runs"]  # GAN runs; classifier runs
    assert "mnist-gan-class-0" in listed[1]["runs"] and (root / "reports" / "versions.html").exists()

    _run(["synthset", "datasets", "checkout", first[:7], "--dataset", "mnist", "--to", str(tmp_path / "a")], root, env)
    from synthset.hashes import dvc_md5

    assert dvc_md5(tmp_path / "a") == md5_at(first)
    compared = _run(["synthset", "datasets", "compare", first[:7], second[:7], "--dataset", "mnist"], root, env)
    assert f"A {first[:7]} now" in compared and f"B {second[:7]} now" in compared and "label_fidelity" in compared
    _assert_pages_render(root / "reports", ["versions", "compare"], tmp_path / "chromium-profile")

    shutil.rmtree(root / ".dvc" / "cache")
    _run(["synthset", "datasets", "checkout", first[:7], "--dataset", "mnist-synthetic", "--to", str(tmp_path / "b")],
         root, env)
    assert dvc_md5(tmp_path / "b") == md5_at(first)
    assert dvc_md5(root / "artifacts" / "mnist" / "synthetic") == md5_at(second)  # the workspace untouched
    shutil.rmtree(remote)
    shutil.rmtree(root / ".dvc" / "cache")  # the checkout above fetched the version into it
    refused = subprocess.run(["synthset", "datasets", "checkout", first[:7], "--dataset", "mnist", "--to",
                              str(tmp_path / "c")], cwd=root, env=env, capture_output=True, text=True)
    assert refused.returncode == 2
    assert f"is in neither the local DVC cache nor the remote 'storage'" in refused.stderr
    assert "dvc pull" in refused.stderr and f"dvc repro generate@mnist" in refused.stderr
    assert not (tmp_path / "c").exists()


def test_a_two_worker_sweep_keeps_its_study_in_postgresql_and_its_runs_on_the_server(own_copy, team_services):
    """The team's way to sweep: the study in the services' PostgreSQL (SYNTHSET_OPTUNA_STORAGE, the
    default --storage), the trial runs nested under the study's run on the MLflow server."""
    import optuna

    root, env, _ = own_copy
    running, _ = team_services
    env["MLFLOW_TRACKING_URI"] = running.tracking_uri
    log = _run(["synthset", "sweep", "mnist", "--study", "team", "--n-trials", "2", "--workers", "2"], root,
               {**env, "SYNTHSET_OPTUNA_STORAGE": running.optuna_storage})
    assert "2/2 trials done" in log
    study = optuna.load_study(study_name="team", storage=running.optuna_storage)
    assert len(study.trials) == 2 and all(t.state.is_finished() for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both workers ran one
    assert not (root / "sweeps" / "studies.journal").exists()
    client = mlflow.MlflowClient(running.tracking_uri)
    experiment = client.get_experiment_by_name("synthset-mnist-sweeps")
    runs = client.search_runs([experiment.experiment_id], "tags.`synthset.study` = 'team'")
    [study_run] = [r for r in runs if r.data.tags["synthset.role"] == "study"]
    trials = [r for r in runs if r.data.tags["synthset.role"] == "trial"]
    assert len(trials) == 2 and {r.data.tags["mlflow.parentRunId"] for r in trials} == {study_run.info.run_id}
    for run in trials:
        assert run.data.metrics and run.info.status in ("FINISHED", "KILLED")
        assert [a.path for a in client.list_artifacts(run.info.run_id, "samples")] == ["samples/class_2.png"]


def test_the_gpu_scale_script_records_its_run_as_a_dvc_experiment_and_an_experiment_file(own_copy):
    """scripts/gpu/paper_scale.sh at the tiny scale on the CPU: it refuses without a GPU unless told,
    then runs the pipeline as a named DVC experiment and keeps its overrides and numbers as an experiment file."""
    root, env, dvc = own_copy
    commit_all(root, env, "tiny run")
    shutil.copytree(PROJECT / "scripts", root / "scripts", dirs_exist_ok=True)
    (root / ".venv").symlink_to(Path(sys.executable).parent.parent)  # the suite's environment, set up
    script_env = {**env, "SYNTHSET_SCALE": "tiny", "SYNTHSET_SKIP_SETUP": "1"}

    refused = subprocess.run(["bash", "scripts/gpu/paper_scale.sh"], cwd=root, env=script_env, capture_output=True, text=True)
    assert refused.returncode == 1 and "TensorFlow sees no GPU" in refused.stderr
    assert "Running stage" not in refused.stdout + refused.stderr

    log = _run(["bash", "scripts/gpu/paper_scale.sh"], root, {**script_env, "SYNTHSET_ALLOW_CPU": "1"})
    assert "tiny-scale:" in log and "metrics/experiments/tiny-scale.json" in log
    assert "tiny-scale" in _run(dvc + ["exp", "list", "--name-only"], root, env).split()
    entry = json.loads((root / "metrics/experiments/tiny-scale.json").read_text())
    assert entry["command"].startswith("dvc exp run --name tiny-scale -S scale=tiny")
    # the copy's params.yaml is at the tiny scale already: no override, every dataset its own run's
    assert entry["overrides"] == {} and entry["datasets"] == ["mnist", "fids30"]
    assert entry["commit"] == _run(["git", "rev-parse", "HEAD"], root, env).strip()
    assert entry["metrics"]["mnist"]["study1"] == json.loads((root / "metrics/mnist/study1.json").read_text())["study1"]["mnist"]
