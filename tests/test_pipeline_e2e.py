"""`dvc repro` of the real pipeline on the tiny scale, in a fresh copy of the project."""

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from conftest import copy_project, pipeline_environment, run_command, write_tiny_mnist

pytestmark = pytest.mark.e2e
SOURCES = ["real", "augmented", "synthetic", "real_plus_synthetic"]
STUDY2_MODELS = ["linear_softmax", "fcnn", "cnn_4l", "cnn_5l"]
# Three of the ten digits: every stage runs, per-class stages included, in a third of the time.
CLASSES = [0, 1, 2]
SSL_LABELS = [30, 60]


_run = run_command


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """MNIST's study 1 and study 2 (FIDS30's pipeline has its own module, so both run in parallel)."""
    root = copy_project(tmp_path_factory.mktemp("clone"))
    write_tiny_mnist(root / "data" / "mnist")
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["scale"] = "tiny"
    raw["datasets"] = ["mnist"]
    raw["mnist"]["classes"] = CLASSES
    raw["study2"]["ssl"]["labels"] = SSL_LABELS  # the tiny training split has 40 images per class
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    env, dvc = pipeline_environment()
    _run(["git", "init", "-q"], root, env)
    _run(dvc + ["init", "-q"], root, env)
    _run(dvc + ["add", "-q", "data"], root, env)
    log = _run(dvc + ["repro"], root, env)
    return root, env, dvc, log


def test_metrics_file_holds_study1_numbers(pipeline, dataset="mnist"):
    root, *_ = pipeline
    metrics = json.loads((root / "metrics" / dataset / "study1.json").read_text())["study1"][dataset]
    for source in SOURCES:
        assert 0.0 <= metrics[f"val_accuracy_{source}"] <= 1.0
    expected_gap = 100 * (metrics["val_accuracy_real"] - metrics["val_accuracy_synthetic"])
    assert metrics["synthetic_gap_pp"] == pytest.approx(expected_gap, abs=0.02)
    assert metrics["seeds"] == 1 and metrics["val_accuracy_synthetic_std"] == 0.0
    history = (root / "metrics" / dataset / "classifier" / "synthetic.csv").read_text().splitlines()
    assert history[0].startswith("epoch,train_accuracy,train_loss,val_accuracy,val_loss,") and len(history) == 1 + 2


def test_study2_table_holds_every_model_at_every_table_epoch(pipeline):
    root, *_ = pipeline
    study2 = json.loads((root / "metrics" / "study2.json").read_text())["study2"]
    for model in STUDY2_MODELS:
        row = study2[model]
        assert sorted(row["at_epoch"]) == ["1", "2"]
        for key in ("train_accuracy", "test_accuracy_real", "test_accuracy_synthetic"):
            assert 0.0 <= row[key] <= 1.0 and row[key] == row["at_epoch"]["2"][key]
    for variant in ("labelled_only", "with_synthetic"):
        row = study2[f"semi_gan_{variant}"]
        assert sorted(row["at_epoch"]) == ["1", "2"] and 0.0 <= row["test_class_or_fake_accuracy_real"] <= 1.0
    assert sorted(study2["ssl_gan"], key=int) == [str(n) for n in SSL_LABELS]
    for count, row in study2["ssl_gan"].items():
        assert row["labels"] == int(count) and row["test_error"] == pytest.approx(1 - row["test_accuracy"], abs=1e-4)
    audit = json.loads((root / "metrics" / "mnist" / "study2" / "label_audit.json").read_text())
    assert audit["images"] == len(CLASSES) * 15 and sum(c["disputed"] for c in audit["per_class"].values()) == audit["disputed"]
    assert study2["label_audit"]["disputed"] == audit["disputed"]
    attention = study2["attention"]
    assert sorted(attention["sanity_passed"]) == ["grad_cam", "saliency"]
    for method in ("grad_cam", "saliency"):
        for pair in ("real_vs_augmented", "real_vs_synthetic", "augmented_vs_synthetic", "real_vs_real_randomised"):
            assert -1.0 <= attention["similarity"][method][pair]["rank_correlation"] <= 1.0
    assert len(list((root / "artifacts" / "mnist" / "study2" / "attention").glob("*.png"))) == 4
    synthetic_test = json.loads((root / "artifacts" / "mnist" / "synthetic_test" / "manifest.json").read_text())
    assert {int(k): v["images"] for k, v in synthetic_test["classes"].items()} == {label: 15 for label in CLASSES}


def test_quality_metrics_and_epoch_choice_come_from_the_pipeline(pipeline):
    root, *_ = pipeline
    quality = json.loads((root / "metrics" / "mnist" / "quality.json").read_text())["quality"]["mnist"]
    for name in ("fid", "kid", "precision", "recall", "density", "coverage", "near_copy_share", "label_fidelity"):
        assert name in quality and f"{name}_floor" in quality
    assert sorted(quality["per_class"], key=int) == [str(c) for c in CLASSES]
    choice = json.loads((root / "metrics" / "mnist" / "epoch_choice.json").read_text())
    manifest = json.loads((root / "artifacts" / "mnist" / "synthetic" / "manifest.json").read_text())
    for label, entry in choice["classes"].items():
        assert manifest["classes"][label]["checkpoint"] == f"generator_epoch_{entry['epoch']:03d}.keras"


def test_generated_dataset_is_a_dvc_output(pipeline):
    root, *_ = pipeline
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    outs = [out["path"] for out in lock["generate@mnist"]["outs"]]
    assert outs == ["artifacts/mnist/synthetic"]
    assert sorted(p.name for p in (root / "artifacts/mnist/synthetic").iterdir()) == sorted(
        [f"class_{label}.npz" for label in CLASSES] + ["manifest.json"]
    )


def test_mlflow_store_holds_parent_gan_runs_and_classifier_runs(pipeline):
    root, *_ = pipeline
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
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
        assert len(child.data.tags["synthset.git_commit"]) > 0
        history = client.get_metric_history(child.info.run_id, "g_loss")
        assert len(history) == 2 * 2  # 2 epochs of 32 images in batches of 16
        artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert "images" in artifacts and "history.csv" in artifacts
    classifiers = [r for r in runs if r.data.tags.get("synthset.stage") == "train_classifier"]
    assert sorted(r.data.tags["synthset.source"] for r in classifiers) == sorted(SOURCES)
    for run in classifiers:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")] == [1, 2]
    models = mlflow.search_logged_models(experiment_ids=[experiment.experiment_id], output_format="list")
    assert sorted(m.name for m in models) == (["classifier"] * (4 + 4) + ["feature_network"] + ["generator"] * len(CLASSES)
                                              + ["semi_gan_discriminator"] * 2)
    stages = {r.data.tags.get("synthset.stage") for r in runs}
    assert {"train_features", "select_epochs", "assess_quality", "train_poster_classifier", "audit_labels",
            "attention"} <= stages
    poster = [r for r in runs if r.data.tags.get("synthset.stage") == "train_poster_classifier"]
    assert sorted(r.data.tags["synthset.model"] for r in poster) == sorted(STUDY2_MODELS)
    for run in poster:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "test_accuracy_synthetic")] == [1, 2]


def test_second_repro_does_nothing_and_gan_change_reruns_only_its_dependents(pipeline):
    root, env, dvc, _ = pipeline
    again = _run(dvc + ["repro"], root, env)
    assert "Running stage" not in again
    raw = yaml.safe_load((root / "params.yaml").read_text())
    raw["scales"]["tiny"]["gan"]["epochs"] = 3
    (root / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    status = json.loads(_run(dvc + ["status", "--json"], root, env))
    # Only the GANs see the change directly; generation and the synthetic-data classifiers follow
    # through their dependency on the GAN outputs. Real-data stages are untouched.
    assert set(status) == {"train_gan@mnist"}
    edges = {tuple(part.strip().strip('"') for part in line.rstrip(";").split("->"))
             for line in _run(dvc + ["dag", "--dot"], root, env).splitlines() if "->" in line}
    assert ("train_gan@mnist", "generate@mnist") in edges
    assert {("train_gan@mnist", "select_epochs@mnist"), ("select_epochs@mnist", "generate@mnist"),
            ("generate@mnist", "assess_quality@mnist"), ("train_features@mnist", "select_epochs@mnist")} <= edges
    assert {("generate@mnist", "train_cnn_synthetic@mnist"), ("generate@mnist", "train_cnn_real_plus_synthetic@mnist")} <= edges
    assert not {("generate@mnist", "train_cnn_real@mnist"), ("generate@mnist", "train_cnn_augmented@mnist")} & edges


REPORT_PAGES = ["index", "summary", "gan", "samples", "classifiers", "quality", "study2"]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[1] / "test-artifacts" / "report-index.png"


def test_report_stage_writes_every_dashboard_from_the_run(pipeline):
    root, *_ = pipeline
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    assert [out["path"] for out in lock["report"]["outs"]] == ["reports"]
    assert sorted(p.stem for p in (root / "reports").glob("*.html")) == sorted(REPORT_PAGES)
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
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


def test_report_pages_render_in_headless_chromium(pipeline, tmp_path):
    """Every page served on localhost loads without console errors and every plot has drawn marks."""
    from selenium.webdriver.support.ui import WebDriverWait

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed: `apt-get install chromium chromium-driver` "
                    "(scripts/setup.sh installs them)")
    root, *_ = pipeline
    server = _serve(root / "reports")
    driver = _chromium(tmp_path / "chromium-profile")
    try:
        for name in REPORT_PAGES:
            driver.get(f"http://127.0.0.1:{server.server_port}/{name}.html")
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "return document.readyState === 'complete' && window.Plotly !== undefined"))
            plots = WebDriverWait(driver, 30).until(lambda d: (lambda p: p if p and all(x["marks"] for x in p) else None)(
                d.execute_script(RENDERED)))
            errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert not errors, f"{name}.html: console errors {errors}"
            for plot in plots:
                assert plot["traces"] > 0 and plot["width"] > 0 and plot["height"] > 0, f"{name}.html: {plot}"
            if name == "index":
                SCREENSHOT.parent.mkdir(exist_ok=True)
                driver.save_screenshot(str(SCREENSHOT))
    finally:
        driver.quit()
        server.shutdown()
    assert SCREENSHOT.stat().st_size > 10_000
