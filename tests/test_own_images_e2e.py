"""Your own images, end to end: two folders drawn here go from `synthset datasets add` to a finished
`synthset repro` in a copy of the session's tiny project (MNIST and FIDS30 already run), with no
edit but the command's: a greyscale 32x32 PNG folder of 4 classes, and an RGB JPEG folder of mixed
sizes with 3 classes whose names have spaces and accents, inside a zip with a top folder."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pytest
import yaml
from PIL import Image, ImageDraw

from conftest import TinyPipeline, commit_all, run_command

pytestmark = pytest.mark.e2e
GREY_CLASSES = ["circle", "cross", "square", "triangle"]
RGB_CLASSES = ["crème brûlée", "green limes", "red apples"]


def draw_shapes(folder: Path, classes: list[str], per_class: int, seed: int, colour: bool) -> None:
    """A shape per class, jittered: greyscale 32x32 PNGs, or colour JPEGs of sizes from 40 to 150 px."""
    rng = np.random.default_rng(seed)
    for index, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for number in range(per_class):
            width, height = (int(v) for v in rng.integers(40, 150, size=2)) if colour else (32, 32)
            image = Image.new("RGB" if colour else "L", (width, height), 0)
            x0, y0 = (int(v) for v in rng.integers(0, 6, size=2))
            box = [x0 + width * 0.2, y0 + height * 0.2, width * 0.75, height * 0.75]
            fill = tuple(int(c) for c in rng.integers(60, 256, size=3)) if colour else int(rng.integers(150, 256))
            draw = ImageDraw.Draw(image)
            [draw.ellipse, draw.line, draw.rectangle, draw.polygon][index % 4](
                box if index % 4 != 3 else [(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) / 2, box[1])],
                fill=fill, **({"width": 3} if index % 4 == 1 else {}))
            if colour:
                image.save(folder / name / f"photo {number}.jpg", "JPEG", quality=90)
            else:
                image.save(folder / name / f"{number}.png")


@pytest.fixture(scope="module")
def added(tiny_pipeline, tmp_path_factory):
    """The tiny project with both folders added by `synthset datasets add`, then `synthset repro`."""
    base = tmp_path_factory.mktemp("own-images")
    root = tiny_pipeline.copy(base / "project")
    env, dvc = TinyPipeline.environment(root)
    draw_shapes(base / "grey", GREY_CLASSES, per_class=12, seed=0, colour=False)
    draw_shapes(base / "photos" / "my photos", RGB_CLASSES, per_class=12, seed=1, colour=True)
    archive = base / "photos.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in sorted((base / "photos").rglob("*")):
            handle.write(path, path.relative_to(base / "photos").as_posix())
    params_before = (root / "params.yaml").read_text()
    status = ["git", "status", "--porcelain", "--untracked-files=all"]
    before = set(subprocess.run(status, cwd=root, capture_output=True, text=True).stdout.splitlines())
    logs = {"grey4": run_command(["synthset", "datasets", "add", "grey4", str(base / "grey")], root, env),
            "rgb3": run_command(["synthset", "datasets", "add", "rgb3", str(archive)], root, env)}
    after = set(subprocess.run(status, cwd=root, capture_output=True, text=True).stdout.splitlines())
    changed = sorted(line[3:] for line in after - before)
    commit_all(root, env, "two datasets of our own")
    logs["repro"] = run_command(["synthset", "repro"], root, env)
    commit_all(root, env, "their first run")  # dvc.lock: the version `synthset datasets list` finds
    return root, env, dvc, logs, params_before, changed, base


def test_add_chooses_settings_from_the_images_and_says_why(added):
    root, _, _, logs, before, changed, _ = added
    assert "grey4: 48 images copied" in logs["grey4"] and "rgb3: 36 images copied" in logs["rgb3"]
    assert "data.image_shape (channels)  1" in logs["grey4"] and "all greyscale" in logs["grey4"]
    assert "data.image_shape (channels)  3" in logs["rgb3"] and "colour present" in logs["rgb3"]
    raw = yaml.safe_load((root / "params.yaml").read_text())
    assert raw["datasets"][-2:] == ["grey4", "rgb3"]
    assert raw["grey4"]["data"]["image_shape"] == [32, 32, 1] and raw["grey4"]["data"]["classes"] == GREY_CLASSES
    assert raw["rgb3"]["data"]["image_shape"] == [64, 64, 3] and raw["rgb3"]["data"]["classes"] == RGB_CLASSES
    assert raw["grey4"]["quality"]["selection_metric"] == "kid"  # ~10 images per class: no covariance for FID
    assert all("grey4" in raw["scales"][scale] for scale in ("default", "paper", "tiny"))
    # Only params.yaml and data.dvc change (data/ itself is DVC's); every comment of params.yaml stays.
    assert changed == ["data.dvc", "params.yaml"]
    kept = [line for line in before.splitlines() if line.lstrip().startswith("#")]
    text = (root / "params.yaml").read_text()
    assert all(line in text for line in kept)


def test_each_added_dataset_runs_study_1_to_its_metrics(added):
    root, *_ = added
    for name, classes, shape in (("grey4", GREY_CLASSES, (32, 32, 1)), ("rgb3", RGB_CLASSES, (64, 64, 3))):
        split = json.loads((root / "artifacts" / name / "real" / "split.json").read_text())
        assert list(split["images_per_class"]["train"]) == classes
        with np.load(root / "artifacts" / name / "real" / "validation.npz") as validation:
            assert validation["images"].shape[1:] == shape
        study1 = json.loads((root / "metrics" / name / "study1.json").read_text())["study1"][name]
        assert 0.0 <= study1["val_accuracy_synthetic"] <= 1.0 and "synthetic_gap_pp" in study1
        quality = json.loads((root / "metrics" / name / "quality.json").read_text())["quality"][name]
        assert sorted(quality["per_class"]) == [str(label) for label in range(len(classes))]


def test_the_pipeline_is_up_to_date_and_the_report_shows_every_dataset(added):
    root, env, dvc, *_ = added
    status = subprocess.run(dvc + ["status"], cwd=root, env=env, capture_output=True, text=True)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    titles = ["MNIST", "FIDS30", "grey4", "rgb3"]
    for page, what in (("gan", "GAN training per class"), ("samples", "samples at the chosen epoch"),
                       ("classifiers", "CNN per training source"), ("quality", "quality of the synthetic set per class")):
        html = (root / "reports" / f"{page}.html").read_text()
        for title in titles:
            assert f"{title}: {what}" in html, (page, title)
    assert "crème brûlée" in (root / "reports" / "samples.html").read_text()


def test_mlflow_runs_of_the_added_datasets_record_their_data(added):
    root, *_ = added
    client = mlflow.MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    for name in ("grey4", "rgb3"):
        runs = client.search_runs(experiments, f"tags.`synthset.dataset` = '{name}'")
        stages = {run.data.tags.get("synthset.stage") for run in runs}
        assert {"train_gan", "train_cnn_on_real", "train_cnn_on_synthetic"} <= stages, stages
        inputs = [d.dataset.name for run in runs for d in run.inputs.dataset_inputs]
        assert any(name in input_name for input_name in inputs), inputs


def test_datasets_list_has_a_row_per_added_synthetic_set(added):
    root, env, *_ = added
    rows = json.loads(run_command(["synthset", "datasets", "list", "--json", "--no-runs"], root, env))
    sets = {row["set"] for row in rows}
    assert {"grey4-synthetic", "rgb3-synthetic"} <= sets, sets


def test_a_changed_source_is_reported_and_only_imported_on_request(added, tmp_path):
    """The DVC-tracked copy decides: a source that gains and loses images changes nothing until
    `datasets add` runs again, which names what changed."""
    root, env, dvc, _, _, _, base = added
    project = TinyPipeline(root, "", "").copy(tmp_path / "project")
    grey = base / "grey"
    Image.new("L", (32, 32), 255).save(grey / "circle" / "new.png")
    removed = sorted((grey / "square").iterdir())[0]
    removed.rename(tmp_path / removed.name)
    try:
        status = subprocess.run(dvc + ["status"], cwd=project, env=env, capture_output=True, text=True)
        assert "Data and pipelines are up to date" in status.stdout
        dry = run_command(["synthset", "datasets", "add", "grey4", str(grey), "--dry-run"], project, env)
        assert "added: 1 (circle/new.png)" in dry and f"removed: 1 (square/{removed.name})" in dry
        assert "nothing imported" in dry
    finally:
        (grey / "circle" / "new.png").unlink()
        (tmp_path / removed.name).rename(removed)


def test_a_sweep_tunes_an_added_datasets_gan(added, tmp_path):
    """Optuna sweeps work for an added dataset as for MNIST: its classes of `grey4.sweep.classes`,
    trial 0 the settings `datasets add` chose."""
    import optuna

    root, env, *_ = added
    project = TinyPipeline(root, "", "").copy(tmp_path / "project")
    run_command(["synthset", "sweep", "grey4", "--study", "grey4-tiny", "--n-trials", "1", "--workers", "1"],
                project, env)
    journal = project / "sweeps" / "studies.journal"
    study = optuna.load_study(study_name="grey4-tiny", storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))))
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 1 and finished[0].value is not None
