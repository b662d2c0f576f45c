"""A dataset's version is its DVC hash: equal settings and data must give equal bytes."""

import json
import shutil
import subprocess
import time
import zipfile

import numpy as np

from synthset import paths
from synthset.io import save_model
from synthset.hashes import dvc_md5


def _model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_saved_model_has_no_time_stamp_and_loads(tmp_path):
    import keras

    model = _model()
    save_model(model, tmp_path / "a.keras")
    time.sleep(2.1)  # zip dates have a resolution of 2 s: a stamped file would now differ
    save_model(model, tmp_path / "b.keras")
    assert (tmp_path / "a.keras").read_bytes() == (tmp_path / "b.keras").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.keras") as archive:
        assert {entry.date_time for entry in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "date_saved" not in json.loads(archive.read("metadata.json"))
    loaded = keras.models.load_model(tmp_path / "a.keras")
    for saved, original in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, original)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.keras", "b.keras"]  # no temporary left


def test_dvc_md5_is_what_dvc_records(tmp_path):
    from dvc.repo import Repo

    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    Repo.init(str(tmp_path))
    folder = tmp_path / "images"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"first")
    (folder / "nested" / "b.bin").write_bytes(b"second")
    (tmp_path / "single.bin").write_bytes(b"alone")
    with Repo(str(tmp_path)) as repo:
        repo.add([str(folder), str(tmp_path / "single.bin")])
    import yaml

    recorded = {name: yaml.safe_load((tmp_path / f"{name}.dvc").read_text())["outs"][0]["md5"]
                for name in ("images", "single.bin")}
    assert dvc_md5(folder) == recorded["images"]
    assert dvc_md5(tmp_path / "single.bin") == recorded["single.bin"]
    (folder / "a.bin").write_bytes(b"changed")
    assert dvc_md5(folder) != recorded["images"]


def test_same_settings_same_gan_version(project):
    """Train class 3's tiny GAN twice from scratch: its output directory (checkpoints, grids,
    history) must have the same DVC hash, or every run would make a new dataset version."""
    import yaml

    from synthset import config
    from synthset.stages.prepare import run as prepare
    from synthset.stages.train_gan import ClassGan, train

    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["scales"]["tiny"]["mnist"]["gan"].update(epochs=1, train_images_per_class=16)  # one epoch of one batch
    (project / "params.yaml").write_text(yaml.safe_dump(raw))
    params = config.load(dataset="mnist")
    prepare(params, "mnist")
    hashes = []
    for attempt in range(2):  # in this process: the stage's own function, without a process start each time
        train(params, "mnist", ClassGan(3)).finish({".": paths.gan_dir("mnist", 3)})
        out = paths.gan_dir("mnist", 3)
        assert list((out / "checkpoints").glob("*.keras"))
        hashes.append(dvc_md5(out))
        shutil.rmtree(out)
        if attempt == 0:
            time.sleep(2.1)
    assert hashes[0] == hashes[1]


def test_git_commit_names_head_and_says_dirty_only_when_a_tracked_file_changed(tmp_path, monkeypatch):
    """The ``synthset.git_commit`` tag of every run: HEAD's hash, ``-dirty`` when a tracked file
    differs from it (an untracked file does not count), ``unknown`` outside git."""
    from synthset.hashes import git_commit

    monkeypatch.chdir(tmp_path)
    assert git_commit() == "unknown"
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "params.yaml").write_text("seed: 0\n")
    subprocess.run(["git", "add", "params.yaml"], check=True)
    subprocess.run(["git", "commit", "-qm", "first"], check=True)  # the identity: conftest.GIT_IDENTITY
    head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    assert git_commit() == head
    (tmp_path / "notes.txt").write_text("untracked")
    assert git_commit() == head
    (tmp_path / "params.yaml").write_text("seed: 1\n")
    assert git_commit() == f"{head}-dirty"
