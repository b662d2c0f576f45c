"""`synthset datasets add`: the settings it chooses from what a source holds, and what it refuses,
without training anything (the end-to-end run is tests/test_own_images_e2e.py)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import yaml
from PIL import Image

from synthset import config
from synthset.catalog import add
from synthset.errors import SynthsetError

PROJECT = Path(__file__).resolve().parents[1]


def seen(per_class: int, classes: int, side: int, grey: bool, aspect: float = 1.0) -> add.Inspection:
    names = [f"c{i}" for i in range(classes)]
    total = per_class * classes
    return add.Inspection(names, dict.fromkeys(names, per_class), [side] * total, [aspect] * total,
                          Counter({"L" if grey else "RGB": total}), [], 0)


def test_few_photos_per_class_get_fids30s_choices():
    """~35 photos per class, 640 px, 4:3: what FIDS30 was tuned to: KID, no holdout, batch 8."""
    choice = add.choose("fruits", "photos", seen(35, 10, 640, grey=False, aspect=4 / 3), None, None, 5.0)
    data = choice.blocks["data"]
    assert data["image_shape"] == [64, 64, 3] and data["holdout_per_class"] == 0 and data["resize"] == "center_crop"
    assert choice.blocks["quality"]["selection_metric"] == "kid"
    gan = choice.scales["default"]["gan"]
    assert gan["batch_size"] == 8 and gan["generator"]["filters"] == [32, 16]  # 16x16 -> 64x64
    assert choice.scales["default"]["generate"]["epoch"] == -1  # no holdout: the last checkpoint


def test_many_greyscale_digits_get_mnists_choices():
    choice = add.choose("digits", "d", seen(5000, 10, 28, grey=True), None, None, 5.0)
    data = choice.blocks["data"]
    assert data["image_shape"] == [32, 32, 1] and data["holdout_per_class"] == 400
    assert choice.blocks["quality"]["selection_metric"] == "fid"  # 200 reference images for 64 features
    assert choice.scales["default"]["gan"]["batch_size"] == 64
    assert choice.scales["default"]["generate"]["epoch"] == "selected"


@pytest.mark.parametrize("side, upsamplings", [(28, 2), (32, 2), (64, 2), (96, 3), (128, 3), (256, 4)])
def test_the_generator_starts_from_a_square_of_at_most_16(side, upsamplings):
    choice = add.choose("x", "x", seen(40, 3, 200, grey=False), side, 3, 5.0)
    filters = choice.scales["default"]["gan"]["generator"]["filters"]
    assert len(filters) == upsamplings and config.base_size(side, upsamplings) <= 16


def test_a_side_no_generator_reaches_is_refused_naming_the_option():
    with pytest.raises(SynthsetError, match=r"image side 30: .*\(--image-size\)"):
        add.choose("x", "x", seen(40, 3, 200, grey=False), 30, 3, 5.0)


def test_a_bigger_budget_trains_longer():
    short, long = (add.choose("x", "x", seen(40, 3, 200, grey=False), None, None, minutes) for minutes in (2.0, 8.0))
    assert long.scales["default"]["gan"]["epochs"] > short.scales["default"]["gan"]["epochs"]


@pytest.fixture
def params_copy(tmp_path, monkeypatch) -> Path:
    shutil.copy(PROJECT / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "params.yaml"


def images(folder: Path, classes: list[str], per_class: int = 6) -> Path:
    for index, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for number in range(per_class):
            Image.new("L", (32, 32), 40 * index + number).save(folder / name / f"{number}.png")
    return folder


def test_dry_run_prints_the_blocks_and_writes_nothing(params_copy, tmp_path):
    before = params_copy.read_text()
    out = add.run(params_copy, "shapes", images(tmp_path / "shapes", ["a", "b"]), None, None, None, 5.0, dry_run=True)
    assert params_copy.read_text() == before and not (tmp_path / "data").exists()
    assert f"--dry-run: {params_copy} is unchanged" in out
    printed = yaml.safe_load(out.split("it would get:\n", 1)[1])
    assert printed["shapes"]["data"]["classes"] == ["a", "b"] and set(printed["scales"]) == {"default", "paper", "tiny"}


def test_the_written_params_load_and_keep_every_comment(params_copy, tmp_path):
    before = params_copy.read_text()
    add.run(params_copy, "shapes", images(tmp_path / "shapes", ["a", "b"]), None, None, None, 5.0, dry_run=False,
            track=False)
    after = params_copy.read_text()
    assert [line for line in before.splitlines() if line.lstrip().startswith("#")] == \
        [line for line in after.splitlines() if line.lstrip().startswith("#") and not line.startswith("# shapes: ")]
    project = config.load(params_copy)
    assert project.datasets[-1] == "shapes" and project.data_of("shapes").image_shape == (32, 32, 1)
    assert sorted(p.name for p in (tmp_path / "data" / "shapes").iterdir()) == ["SHA256SUMS", "a", "b"]


@pytest.mark.parametrize("name, message", [("Bad-Name", "lower-case letters"), ("gan", "none of scale, seed"),
                                           ("mnist", "mnist is a dataset of kind mnist")])
def test_a_name_that_cannot_be_a_new_image_dataset_is_refused(params_copy, tmp_path, name, message):
    with pytest.raises(SynthsetError, match=message):
        add.run(params_copy, name, images(tmp_path / "shapes", ["a", "b"]), None, None, None, 5.0, dry_run=True)


def test_an_unknown_class_and_a_one_class_folder_are_refused_before_any_write(params_copy, tmp_path):
    before = params_copy.read_text()
    folder = images(tmp_path / "shapes", ["a", "b"])
    with pytest.raises(SynthsetError, match="class 'c' is missing from shapes.data.source"):
        add.run(params_copy, "shapes", folder, ["a", "c"], None, None, 5.0, dry_run=False)
    with pytest.raises(SynthsetError, match="a dataset needs at least two"):
        add.run(params_copy, "shapes", images(tmp_path / "one", ["a"]), None, None, None, 5.0, dry_run=False)
    assert params_copy.read_text() == before
