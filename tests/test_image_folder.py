"""Image-folder datasets: import, decoding and split on tiny images drawn here, plus one check on the
real FIDS30 photos."""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import time
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from synthset import config
from synthset.datasets import image_folder
from synthset.errors import SynthsetError

CLASSES = ["apples", "bananas", "limes"]
DATASET = "fruit"
REAL_DATA = Path(__file__).resolve().parents[1] / "../shared/data/fids30"
REAL_CLASSES = "apples apricots bananas blueberries coconuts grapes kiwifruit limes raspberries strawberries".split()
FIDS30_HINT = "download FIDS30 from the ViCoS lab's FIDS30 page (https://www.vicos.si/resources/fids30/)"
NOT_AN_IMAGE = "not an image (by its suffix)"
HIDDEN = "hidden or __MACOSX"


def spec(source, classes=CLASSES, **changes) -> config.ImageFolderParams:
    """A validated dataset block, as params.yaml gives it, with ``changes`` over the defaults."""
    fields = {"kind": "image_folder", "title": "t", "paper": None, "source": str(source), "fetch_hint": None,
              "image_shape": (64, 64, 3), "classes": classes, "resize": "squash", "on_corrupt": "skip",
              "validation_fraction": 0.2, "validation_source": None, "holdout_per_class": 0}
    return config.ImageFolderParams(**{**fields, **changes})


def encoded(image: Image.Image, kind: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def jpeg_bytes(size: tuple[int, int], colour, mode: str = "RGB") -> bytes:
    return encoded(Image.new(mode, size, colour), "JPEG", quality=95)


def png(colour=(200, 30, 30), size: tuple[int, int] = (16, 16), mode: str = "RGB") -> bytes:
    return encoded(Image.new(mode, size, colour))


def write_files(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def zip_files(path: Path, files: dict[str, bytes]) -> Path:
    """A zip of ``files`` only: no folder entries, as some tools write them."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tree(root: Path) -> Path:
    """FIDS30/<class>/*.jpg as in the original archive: sizes differ, one CMYK, two corrupt files."""
    top = root / "FIDS30"
    write_files(top, {
        "apples/1.jpg": jpeg_bytes((120, 80), (200, 30, 30)),
        "apples/2.jpg": jpeg_bytes((30, 50), (180, 40, 40)),
        "apples/10.jpg": jpeg_bytes((640, 480), (220, 20, 20)),
        "apples/notes.txt": b"not an image",
        "bananas/1.jpg": jpeg_bytes((90, 90), (230, 220, 40)),
        "bananas/2.JPEG": jpeg_bytes((200, 60), (0, 255, 255, 0), mode="CMYK"),  # red in CMYK
        "limes/1.jpg": jpeg_bytes((70, 100), (40, 200, 40)),
        "limes/2.jpg": jpeg_bytes((64, 64), (50, 180, 50)),
        "limes/3.jpg": jpeg_bytes((400, 300), (60, 210, 60))[:400],  # truncated
        "limes/4.jpg": b"garbage that only looks like a jpeg by its name",
    })
    (top / "links.txt").write_text("where the photos came from\n")
    return top


def zip_tree(top: Path, path: Path) -> Path:
    """The tree zipped with its top folder, plus the resource forks macOS adds to zips."""
    with zipfile.ZipFile(path, "w") as archive:
        for entry in sorted(top.rglob("*")):  # folders too, as zip tools store them
            archive.write(entry, f"{top.name}/{entry.relative_to(top).as_posix()}")
        archive.writestr(f"__MACOSX/{top.name}/apples/._1.jpg", b"resource fork")
        archive.writestr(f"{top.name}/apples/._1.jpg", b"resource fork")
    return path


def two_classes(root: Path, per_class: int = 3, classes=("apples", "limes")) -> Path:
    """``per_class`` PNGs of a distinct grey per class and file, named 1.png, 2.png, ..."""
    return write_files(root, {f"{name}/{number}.png": png((40 * index + 10 * number,) * 3)
                              for index, name in enumerate(classes) for number in range(1, per_class + 1)})


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "download")


# --- the FIDS30 layout --------------------------------------------------------------------------


def test_folder_zip_and_one_level_down_give_identical_arrays(tree, tmp_path):
    archive = zip_tree(tree, tmp_path / "FIDS30.zip")
    manifests = [image_folder.import_source(spec(source), DATASET, tmp_path / folder)
                 for source, folder in ((tree, "a"), (tree.parent, "b"), (archive, "c"))]  # b: one level down
    assert manifests[0] == manifests[1] == manifests[2]
    assert list(manifests[0]) == ["apples/1.jpg", "apples/2.jpg", "apples/10.jpg", "bananas/1.jpg",
                                  "bananas/2.JPEG", "limes/1.jpg", "limes/2.jpg", "limes/3.jpg", "limes/4.jpg"]
    assert image_folder.list_source(archive, DATASET, CLASSES).ignored == Counter({NOT_AN_IMAGE: 1, HIDDEN: 1})
    loaded = [image_folder.load_class_images(tmp_path / d, CLASSES, 64, "squash", "skip") for d in "abc"]
    for other in loaded[1:]:
        np.testing.assert_array_equal(loaded[0].images, other.images)
        np.testing.assert_array_equal(loaded[0].labels, other.labels)
        assert loaded[0].files == other.files
    images, labels, files, skipped, small = loaded[0]
    assert images.shape == (7, 64, 64, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert files[:3] == ["apples/1.jpg", "apples/2.jpg", "apples/10.jpg"]  # numeric, not text, order
    assert skipped == ["limes/3.jpg", "limes/4.jpg"]
    assert small == 1  # apples/2.jpg is 30 px wide, below half of 64


def test_manifest_matches_hashlib_and_reruns_rewrite_nothing(tree, tmp_path):
    destination = tmp_path / "data"
    manifest = image_folder.import_source(spec(tree), DATASET, destination)
    for name, digest in manifest.items():
        assert hashlib.sha256((destination / name).read_bytes()).hexdigest() == digest
        assert (destination / name).read_bytes() == (tree / name).read_bytes()
    assert image_folder.read_manifest(destination / image_folder.MANIFEST_NAME) == manifest
    assert not (destination / "apples" / "notes.txt").exists()

    stamps = {name: (destination / name).stat().st_mtime_ns for name in manifest}
    (destination / "apples" / "99.jpg").write_bytes(b"left from another source")
    (destination / "limes" / "1.jpg").write_bytes(b"changed")
    time.sleep(0.01)
    assert image_folder.import_source(spec(tree), DATASET, destination) == manifest
    assert not (destination / "apples" / "99.jpg").exists()
    assert (destination / "limes" / "1.jpg").read_bytes() == (tree / "limes" / "1.jpg").read_bytes()
    unchanged = {name for name in manifest if name != "limes/1.jpg"}
    assert all((destination / name).stat().st_mtime_ns == stamps[name] for name in unchanged)


def test_cmyk_jpeg_decodes_to_rgb(tree):
    path = tree / "bananas" / "2.JPEG"
    assert Image.open(path).mode == "CMYK"
    pixels = image_folder.decode_image(path, 64, "squash")
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    red, green, blue = pixels.reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 60 and blue < 60


def test_multi_picture_jpeg_gives_its_first_picture(tmp_path):
    path = tmp_path / "mpo.jpg"
    first, second = Image.new("RGB", (80, 60), (250, 0, 0)), Image.new("RGB", (80, 60), (0, 0, 250))
    first.save(path, "MPO", save_all=True, append_images=[second])
    assert Image.open(path).format == "MPO"
    red, _, blue = image_folder.decode_image(path).reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 50


def test_exif_orientation_is_applied(tmp_path):
    """Orientation 6 means 'rotate 90 degrees clockwise to display': the stored left half ends on top."""
    image = Image.new("RGB", (80, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    pixels = image_folder.decode_image(tmp_path / "rotated.jpg", 64, "squash").astype(int)
    assert pixels[:28, :, 0].mean() > 200 and pixels[36:, :, 2].mean() > 200


def test_transparent_png_pixels_become_white(tmp_path):
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (image_folder.decode_image(tmp_path / "clear.png") == 255).all()


def test_corrupt_file_refused_by_name_or_skipped_with_a_count(tree, tmp_path, caplog):
    destination = tmp_path / "data"
    image_folder.import_source(spec(tree), DATASET, destination)
    with pytest.raises(SynthsetError, match=r"limes/3\.jpg' is not a readable image.*fruit\.data\.on_corrupt"):
        image_folder.split(spec(tree, on_corrupt="refuse"), 0, destination, DATASET)
    with pytest.raises(SynthsetError, match=r"limes/3\.jpg' is not a readable image.*on_corrupt"):
        image_folder.load_class_images(destination, CLASSES, 64, "squash", "refuse")
    with caplog.at_level(logging.WARNING, logger="synthset.datasets.image_folder"):
        loaded = image_folder.load_class_images(destination, CLASSES, 64, "squash", "skip")
    assert loaded.skipped == ["limes/3.jpg", "limes/4.jpg"]
    assert "limes/3.jpg" not in loaded.files and len(loaded.files) == len(loaded.images) == 7
    assert "skipped 2 corrupt" in caplog.text and "limes/4.jpg" in caplog.text
    with pytest.raises(SynthsetError, match="on_corrupt 'ignore'"):
        image_folder.load_class_images(destination, CLASSES, 64, "squash", "ignore")


def test_class_with_only_corrupt_files_is_an_error(tree, tmp_path):
    for name in ("1.jpg", "2.jpg"):
        (tree / "limes" / name).unlink()
    image_folder.import_source(spec(tree), DATASET, tmp_path / "data")
    with pytest.raises(SynthsetError, match="class 'limes' has no readable image"):
        image_folder.load_class_images(tmp_path / "data", CLASSES, 64, "squash", "skip")


def test_missing_source_says_where_to_get_it(tmp_path):
    fids30 = spec(tmp_path / "nowhere", fetch_hint=FIDS30_HINT)
    with pytest.raises(SynthsetError, match=r"fids30\.data\.source '.*nowhere' does not exist: download FIDS30 "
                                            r".*vicos\.si.* and set fids30\.data\.source in params\.yaml"):
        image_folder.import_source(fids30, "fids30", tmp_path / "data")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(SynthsetError, match="broken.zip' is neither a folder, a readable zip nor a .csv"):
        image_folder.import_source(spec(tmp_path / "broken.zip"), DATASET, tmp_path / "data")
    source = two_classes(tmp_path / "source", classes=CLASSES)
    held_out = spec(source, validation_fraction=None, validation_source=str(tmp_path / "gone"))
    with pytest.raises(SynthsetError, match=r"fruit\.data\.validation_source '.*gone' does not exist"):
        image_folder.import_source(held_out, DATASET, tmp_path / "data")


def test_missing_or_empty_class_is_named(tree, tmp_path):
    missing = f"class 'mangos' is missing from fruit.data.source '{re.escape(str(tree))}'"
    with pytest.raises(SynthsetError, match=missing):
        image_folder.import_source(spec(tree, [*CLASSES, "mangos"]), DATASET, tmp_path / "data")
    archive = zip_tree(tree, tmp_path / "FIDS30.zip")
    with pytest.raises(SynthsetError, match=r"class 'mangos' is missing .*FIDS30\.zip.*found apples, bananas, limes"):
        image_folder.import_source(spec(archive, [*CLASSES, "mangos"]), DATASET, tmp_path / "data")
    (tree / "figs").mkdir()
    (tree / "figs" / "readme.txt").write_text("no photos here")
    with pytest.raises(SynthsetError, match=r"class 'figs' in fruit\.data\.source .* has no images \(folder 'figs'"):
        image_folder.import_source(spec(tree, ["apples", "figs"]), DATASET, tmp_path / "data")
    (tree / "olives").mkdir()
    with pytest.raises(SynthsetError, match=r"class 'olives' in fruit\.data\.source .* has no images"):
        image_folder.import_source(spec(tree, ["apples", "olives"]), DATASET, tmp_path / "data")
    with pytest.raises(SynthsetError, match=r"class 'olives' in fruit\.data\.source .* has no images"):
        image_folder.import_source(spec(zip_tree(tree, tmp_path / "with-olives.zip"), ["apples", "olives"]),
                                   DATASET, tmp_path / "data")
    image_folder.import_source(spec(tree, ["apples", "bananas"]), DATASET, tmp_path / "data")
    with pytest.raises(SynthsetError, match="is the import's own destination"):
        image_folder.import_source(spec(tmp_path / "data", ["apples", "bananas"]), DATASET, tmp_path / "data")
    with pytest.raises(SynthsetError, match="class 'figs' is missing"):
        image_folder.load_class_images(tmp_path / "data", ["figs"], 64, "squash", "skip")
    shutil.copytree(tree / "figs", tmp_path / "data" / "figs")
    with pytest.raises(SynthsetError, match="class 'figs' has no images in"):
        image_folder.load_class_images(tmp_path / "data", ["figs"], 64, "squash", "skip")


def test_squash_keeps_the_whole_photo_and_centre_crop_its_middle(tmp_path):
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))  # red left third
    image.save(tmp_path / "wide.png")
    squashed = image_folder.decode_image(tmp_path / "wide.png", 64, "squash").astype(int)
    cropped = image_folder.decode_image(tmp_path / "wide.png", 64, "center_crop").astype(int)
    assert squashed[:, :19, 0].min() > 240 and squashed[:, 24:, 2].min() > 240
    assert cropped[..., 2].min() > 240 and cropped[..., 0].max() < 15
    with pytest.raises(SynthsetError, match="resize method 'stretch'"):
        image_folder.decode_image(tmp_path / "wide.png", 64, "stretch")


def test_split_is_per_class_80_20_disjoint_and_seeded():
    counts = {0: 38, 1: 10, 2: 5, 3: 3, 4: 2, 5: 1}
    labels = np.repeat(list(counts), list(counts.values()))
    np.random.default_rng(0).shuffle(labels)
    train, validation = image_folder.split_per_class(labels, 0.2, seed=7)
    assert train.dtype == validation.dtype == np.int64
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(len(labels)))
    expected = {0: 8, 1: 2, 2: 1, 3: 1, 4: 1, 5: 0}  # round(0.2 n), at least one when n >= 2
    assert {label: int((labels[validation] == label).sum()) for label in counts} == expected
    again = image_folder.split_per_class(labels, 0.2, seed=7)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(validation, again[1])
    assert not np.array_equal(validation, image_folder.split_per_class(labels, 0.2, seed=8)[1])
    with pytest.raises(SynthsetError, match="got 1.0"):
        image_folder.split_per_class(labels, 1.0, seed=7)


def test_split_of_one_class_ignores_the_others():
    labels = np.array([0] * 20 + [1] * 10)
    _, validation = image_folder.split_per_class(labels, 0.2, seed=3)
    _, fewer = image_folder.split_per_class(labels[:25], 0.2, seed=3)
    np.testing.assert_array_equal(validation[validation < 20], fewer[fewer < 20])


# --- bad or unusual inputs ----------------------------------------------------------------------


def test_one_class_is_not_a_dataset(tmp_path):
    one = write_files(tmp_path / "one", {"apples/1.png": png(), "apples/2.png": png((0, 9, 0)), "notes.txt": b""})
    with pytest.raises(SynthsetError, match=r"has 1 class folder\(s\) with images \(apples\): a dataset needs at "
                                            "least two"):
        image_folder.list_source(one, DATASET)
    archive = zip_files(tmp_path / "one.zip", {"top/apples/1.png": png()})
    with pytest.raises(SynthsetError, match=r"one\.zip' has 1 class folder\(s\) with images \(apples\)"):
        image_folder.list_source(archive, DATASET)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SynthsetError, match=r"has 0 class folder\(s\) with images \(none\)"):
        image_folder.list_source(tmp_path / "empty", DATASET)
    (tmp_path / "one.csv").write_text("one/apples/1.png,apples\none/apples/2.png,apples\n")
    with pytest.raises(SynthsetError, match=r"labels its images with 1 class\(es\): a dataset needs at least two"):
        image_folder.list_source(tmp_path / "one.csv", DATASET)


def test_a_class_too_small_for_the_split_is_named(tmp_path):
    source = write_files(tmp_path / "source", {"apples/1.png": png((10,) * 3), "apples/2.png": png((20,) * 3),
                                               "apples/3.png": png((30,) * 3), "limes/1.png": png((40,) * 3)})
    data = tmp_path / "data"
    image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    with pytest.raises(SynthsetError, match=r"fruit: class\(es\) \{'limes': 1\} have fewer than 2 readable images"):
        image_folder.split(spec(source, ["apples", "limes"]), 0, data, DATASET)

    write_files(source, {"limes/2.png": png((50,) * 3), "limes/3.png": png((60,) * 3), "limes/4.png": png((70,) * 3)})
    image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    with pytest.raises(SynthsetError, match=r"\{'apples': 3\} have fewer than 4 .*holdout_per_class 2"):
        image_folder.split(spec(source, ["apples", "limes"], holdout_per_class=2), 0, data, DATASET)
    # 3 images pass the count of 2 + holdout, but half of them for validation leaves 1, which is held out
    with pytest.raises(SynthsetError, match=r"fruit: class\(es\) \{'apples': 3\} leave no training image"):
        image_folder.split(spec(source, ["apples", "limes"], validation_fraction=0.5, holdout_per_class=1),
                           0, data, DATASET)
    parts, _ = image_folder.split(spec(source, ["apples", "limes"], holdout_per_class=1), 0, data, DATASET)
    assert np.bincount(parts["train"][1]).tolist() == [1, 2]

    (data / "limes" / "4.png").write_bytes(b"unreadable")
    (data / "limes" / "3.png").write_bytes(b"unreadable")
    (data / "limes" / "2.png").write_bytes(b"unreadable")
    with pytest.raises(SynthsetError, match=r"\{'limes': 1\} have fewer than 2 readable images"):
        image_folder.split(spec(source, ["apples", "limes"]), 0, data, DATASET)


def mixed_modes() -> dict[str, tuple[bytes, tuple[int, int, int], int]]:
    """One class of every pixel format: file -> (bytes, expected RGB, expected grey)."""
    white_on_clear = Image.new("RGBA", (24, 24), (0, 0, 0, 0))  # hidden colour black: must not show
    white_on_clear.paste((255, 255, 255, 255), (6, 6, 18, 18))
    palette_clear = Image.new("P", (16, 16), 0)
    palette_clear.putpalette([0, 0, 0, 255, 0, 0])
    palette_clear.paste(1, (0, 0, 16, 8))  # top half red, bottom half transparent black
    return {
        "grey.png": (png(200, mode="L"), (200, 200, 200), 200),
        "rgb.png": (png((255, 0, 0)), (255, 0, 0), 76),  # ITU-R 601 luma of red
        "white on clear.png": (encoded(white_on_clear), (255, 255, 255), 255),
        "grey clear.png": (png((0, 0), mode="LA"), (255, 255, 255), 255),
        "palette.png": (encoded(Image.new("RGB", (16, 16), (0, 0, 255)).convert("P")), (0, 0, 255), 29),
        "palette clear.png": (encoded(palette_clear, transparency=0), (255, 128, 128), 166),  # red over white
        "cmyk.jpg": (jpeg_bytes((16, 16), (0, 255, 255, 0), mode="CMYK"), (255, 0, 0), 76),
        "bilevel.png": (png(1, mode="1"), (255, 255, 255), 255),
        "16-bit white.png": (png(65535, mode="I;16"), (255, 255, 255), 255),
        "16-bit half.png": (png(128 * 257, mode="I;16"), (128, 128, 128), 128),
        "16-bit dark.png": (png(200, mode="I;16"), (1, 1, 1), 1),  # 200 of 65535, not 200 of 255
    }


@pytest.mark.parametrize("channels", [3, 1])
def test_every_pixel_format_decodes_to_the_configured_channels(tmp_path, channels):
    files = mixed_modes()
    folder = write_files(tmp_path / "data", {f"mixed/{name}": data for name, (data, _, _) in files.items()})
    assert Image.open(folder / "mixed" / "16-bit white.png").mode == "I;16"
    loaded = image_folder.load_class_images(folder, ["mixed"], 16, "squash", "refuse", channels)
    assert loaded.images.shape == (len(files), 16, 16, channels) and loaded.skipped == []
    for name, pixels in zip(loaded.files, loaded.images.astype(int)):
        _, rgb, grey = files[name.removeprefix("mixed/")]
        expected = np.asarray(rgb if channels == 3 else [grey])
        tolerance = 12 if name.endswith(".jpg") else 1
        mean = pixels.reshape(-1, channels).mean(axis=0)
        if "palette clear" in name:  # a half and half image: its mean, its halves exactly
            top, bottom = pixels[:6].reshape(-1, channels), pixels[10:].reshape(-1, channels)
            assert np.abs(top - (np.asarray([255, 0, 0]) if channels == 3 else 76)).max() <= 1, name
            assert (bottom == 255).all(), name
            tolerance = 3
        assert np.abs(mean - expected).max() <= tolerance, (name, mean, expected)


def test_unreadable_images_are_skipped_or_refused_and_other_files_passed_over(tmp_path, caplog):
    source = write_files(tmp_path / "source", {
        "apples/1.png": png((10,) * 3), "apples/2.png": png((20,) * 3),
        "apples/broken.png": b"not a png", "apples/cut.jpg": jpeg_bytes((300, 200), (200, 0, 0))[:300],
        "apples/empty.gif": b"", "apples/notes.txt": b"picked in May", "apples/labels.csv": b"a,b\n",
        "apples/Thumbs.db": b"\0", "apples/README": b"apples",
        "limes/1.png": png((30,) * 3), "limes/2.png": png((40,) * 3)})
    listing = image_folder.list_source(source, DATASET, ["apples", "limes"])
    assert listing.ignored == Counter({NOT_AN_IMAGE: 4})
    assert list(listing.by_class["apples"]) == ["1.png", "2.png", "broken.png", "cut.jpg", "empty.gif"]
    data = tmp_path / "data"
    manifest = image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    assert "apples/broken.png" in manifest and "apples/notes.txt" not in manifest
    assert not (data / "apples" / "notes.txt").exists()
    with caplog.at_level(logging.WARNING, logger="synthset.datasets.image_folder"):
        parts, record = image_folder.split(spec(source, ["apples", "limes"]), 0, data, DATASET)
    assert record["skipped"] == ["apples/broken.png", "apples/cut.jpg", "apples/empty.gif"]
    assert sum(len(files) for files in record["files"].values()) - len(record["files"]["holdout"]) == 4
    assert "skipped 3 corrupt or unreadable file(s)" in caplog.text
    with pytest.raises(SynthsetError, match=r"data/apples/broken\.png' is not a readable image.*set "
                                            r"fruit\.data\.on_corrupt to 'skip'"):
        image_folder.split(spec(source, ["apples", "limes"], on_corrupt="refuse"), 0, data, DATASET)


def test_hidden_files_and_macosx_folders_are_passed_over(tmp_path):
    files = {"apples/1.png": png((10,) * 3), "apples/2.png": png((20,) * 3), "apples/.DS_Store": b"\0\0\0\1Bud1",
             "apples/._1.png": b"resource fork", "apples/.thumbs/3.png": png((30,) * 3),
             "limes/1.png": png((40,) * 3), "limes/2.png": png((50,) * 3),
             ".DS_Store": b"\0\0\0\1Bud1", "__MACOSX/apples/._2.png": b"resource fork",
             "__MACOSX/limes/._1.png": png((60,) * 3), ".git/objects/1.png": png((70,) * 3)}
    source = write_files(tmp_path / "source", files)
    archive = zip_files(tmp_path / "source.zip", {f"top/{name}": data for name, data in files.items()})
    for where in (source, archive):
        listing = image_folder.list_source(where, DATASET)  # classes found, not given
        assert list(listing.by_class) == ["apples", "limes"], where
        assert {name: list(members) for name, members in listing.by_class.items()} == {
            "apples": ["1.png", "2.png"], "limes": ["1.png", "2.png"]}
        assert listing.ignored == Counter({HIDDEN: 3}) and listing.nested == 0
        data = tmp_path / f"data-{where.suffix or 'folder'}"
        manifest = image_folder.import_source(spec(where, ["apples", "limes"]), DATASET, data)
        assert list(manifest) == ["apples/1.png", "apples/2.png", "limes/1.png", "limes/2.png"]
        assert sorted(p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()) == [
            "SHA256SUMS", *manifest]


def test_images_in_sub_folders_belong_to_their_class(tmp_path):
    names = ["1.png", "2.png", "10.png", "green/1.png", "green/2.png", "green/deep/3.png", "Red/2.png"]
    files = {f"apples/{name}": png((10 * number,) * 3) for number, name in enumerate(names, start=1)}
    files |= {"limes/1.png": png((100, 200, 100)), "limes/2.png": png((110, 210, 110))}
    shuffled = dict(sorted(files.items(), key=lambda item: hashlib.md5(item[0].encode()).hexdigest()))
    source = write_files(tmp_path / "source", shuffled)
    listing = image_folder.list_source(source, DATASET, ["apples", "limes"])
    assert list(listing.by_class["apples"]) == names and listing.nested == 4
    data = tmp_path / "data"
    manifest = image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    assert list(manifest)[:len(names)] == [f"apples/{name}" for name in names]
    assert (data / "apples" / "green" / "deep" / "3.png").read_bytes() == files["apples/green/deep/3.png"]
    loaded = image_folder.load_class_images(data, ["apples", "limes"], 8, "squash", "refuse")
    assert loaded.files == list(manifest)
    assert loaded.images[:len(names), 0, 0, 0].tolist() == [10 * n for n in range(1, len(names) + 1)]
    # the copy mirrors the source: a sub-folder gone from the source goes from the copy too
    shutil.rmtree(source / "apples" / "green")
    image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    assert not (data / "apples" / "green").exists()


def test_natural_order_never_compares_a_number_with_text():
    names = ["b.png2.png", "b.png", "b2.png", "1\u00b22.png", "10.png", "9.png"]
    assert sorted(names, key=image_folder.natural_key) == ["1\u00b22.png", "9.png", "10.png", "b2.png", "b.png",
                                                           "b.png2.png"]


def test_class_names_with_accents_and_spaces(tmp_path):
    classes = ["crème brûlée", "red apples"]
    files = {"crème brûlée/tarte n°1.png": png((200, 150, 50)),
             "crème brûlée/tarte n°2.png": png((210, 160, 60)),
             "red apples/a 1.png": png((200, 0, 0)), "red apples/a 2.png": png((210, 0, 0)),
             "red apples/a 3.png": png((220, 0, 0))}
    nfc = write_files(tmp_path / "nfc", files)
    # macOS writes names decomposed (e + combining accent): the same class to anyone reading them
    nfd = write_files(tmp_path / "nfd", {unicodedata.normalize("NFD", name): data for name, data in files.items()})
    assert (nfd / unicodedata.normalize("NFD", "crème brûlée")).is_dir() and not (nfd / "crème brûlée").exists()
    archive = zip_files(tmp_path / "desserts.zip", {f"Desserts/{unicodedata.normalize('NFD', name)}": data
                                                       for name, data in files.items()})
    manifests = []
    for index, source in enumerate((nfc, nfd, archive)):
        assert list(image_folder.list_source(source, DATASET).by_class) == classes, source
        data = tmp_path / f"data{index}"
        manifests.append(image_folder.import_source(spec(source, classes), DATASET, data))
        assert image_folder.read_manifest(data / image_folder.MANIFEST_NAME) == manifests[-1]
        parts, record = image_folder.split(spec(source, classes), 0, data, DATASET)
        assert record["files"]["validation"] == ["crème brûlée/tarte n°1.png", "red apples/a 3.png"]
        assert parts["train"][0].shape == (3, 64, 64, 3) and parts["train"][1].tolist() == [0, 1, 1]
    assert manifests[0] == manifests[1] == manifests[2]
    assert list(manifests[0])[0] == "crème brûlée/tarte n°1.png"


def test_zip_with_or_without_a_top_folder(tmp_path):
    files = {f"{name}/{number}.png": png((40 * index, 10 * number, 0))
             for index, name in enumerate(CLASSES) for number in (1, 2)}
    files |= {"bananas/info.txt": b"ripe"}
    folder = write_files(tmp_path / "folder", files)
    flat = zip_files(tmp_path / "flat.zip", files)
    topped = zip_files(tmp_path / "topped.zip", {f"Fruit Photos/{name}": data for name, data in files.items()}
                       | {"__MACOSX/Fruit Photos/apples/._1.png": b"fork", "Fruit Photos/README.md": b"hi"})
    manifests = [image_folder.import_source(spec(source), DATASET, tmp_path / f"data{index}")
                 for index, source in enumerate((folder, flat, topped))]
    assert manifests[0] == manifests[1] == manifests[2] and len(manifests[0]) == 6
    for source in (flat, topped):
        listing = image_folder.list_source(source, DATASET)
        assert list(listing.by_class) == CLASSES and listing.ignored == Counter({NOT_AN_IMAGE: 1})
    loaded = [image_folder.load_class_images(tmp_path / f"data{index}", CLASSES) for index in range(3)]
    np.testing.assert_array_equal(loaded[0].images, loaded[2].images)


def test_the_same_image_in_two_classes_is_refused_naming_both(tmp_path):
    source = two_classes(tmp_path / "source")
    shutil.copy(source / "apples" / "3.png", source / "limes" / "copy.png")
    shutil.copy(source / "limes" / "1.png", source / "limes" / "again.png")  # twice in one class: allowed
    with pytest.raises(SynthsetError, match=r"the same image \(sha256 \w{12}\) is in two classes of fruit\.data\."
                                            r"source '.*source': 'apples/3\.png' and 'limes/copy\.png'"):
        image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, tmp_path / "data")
    (source / "limes" / "copy.png").unlink()
    assert len(image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, tmp_path / "data")) == 7


def test_images_far_below_the_image_side_are_counted_and_warned(tmp_path, caplog):
    data = write_files(tmp_path / "data", {"apples/tiny.png": png(size=(8, 8)), "apples/thin.png": png(size=(20, 200)),
                                           "apples/fine.png": png(size=(40, 40)), "limes/big.png": png(size=(64, 64)),
                                           "limes/tiny.png": png(size=(8, 8))})
    with caplog.at_level(logging.WARNING, logger="synthset.datasets.image_folder"):
        loaded = image_folder.load_class_images(data, ["apples", "limes"], 64, "center_crop", "refuse")
    assert loaded.small == 3 and loaded.images.shape == (5, 64, 64, 3)
    assert "3 image(s) have a side below half of 64 px" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="synthset.datasets.image_folder"):
        assert image_folder.load_class_images(data, ["apples", "limes"], 16).small == 0
    assert "below half" not in caplog.text


def test_the_imported_copy_decides_and_changes_names_what_a_changed_source_brings(tmp_path):
    source = two_classes(tmp_path / "source", per_class=4)
    data = tmp_path / "data"
    old = image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data)
    before, record = image_folder.split(spec(source, ["apples", "limes"]), 3, data, DATASET)

    (source / "apples" / "2.png").unlink()
    (source / "limes" / "9.png").write_bytes(png((99,) * 3))
    (source / "limes" / "1.png").write_bytes(png((98,) * 3))
    after, again = image_folder.split(spec(source, ["apples", "limes"]), 3, data, DATASET)
    assert again == record
    for part in before:
        np.testing.assert_array_equal(before[part][0], after[part][0])
        np.testing.assert_array_equal(before[part][1], after[part][1])

    new = image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, tmp_path / "elsewhere")
    assert image_folder.changes(old, new) == {"added": ["limes/9.png"], "removed": ["apples/2.png"],
                                              "changed": ["limes/1.png"]}
    assert image_folder.changes(old, old) == {"added": [], "removed": [], "changed": []}
    assert image_folder.read_manifest(data / image_folder.MANIFEST_NAME) == old  # the copy is as imported


def test_csv_of_path_and_label_rows(tmp_path):
    write_files(tmp_path / "set", {"imgs/a/1.png": png((10,) * 3), "imgs/a/2.png": png((20,) * 3),
                                   "imgs/b/1.png": png((30,) * 3), "imgs/b/2.png": png((40,) * 3)})
    write_files(tmp_path / "elsewhere", {"3.png": png((50,) * 3), "4.png": png((60,) * 3)})
    rows = ["imgs/a/1.png,apples", "imgs/a/2.png,apples", f"{tmp_path / 'elsewhere' / '4.png'},apples",
            "imgs/b/1.png,limes", "imgs/b/2.png,limes", "../elsewhere/3.png,limes", "imgs/notes.txt,limes"]
    with_header = tmp_path / "set" / "labels.csv"
    with_header.write_text("\n".join(["path,label", *rows]) + "\n", encoding="utf-8-sig")  # as Excel saves it
    bare = tmp_path / "set" / "bare.csv"
    bare.write_text("\n".join(rows) + "\n\n")
    manifests = []
    for index, source in enumerate((with_header, bare)):
        listing = image_folder.list_source(source, DATASET)
        assert {name: list(members) for name, members in listing.by_class.items()} == {
            "apples": ["imgs__a__1.png", "imgs__a__2.png", f"{tmp_path.name}__elsewhere__4.png"],
            "limes": ["elsewhere__3.png", "imgs__b__1.png", "imgs__b__2.png"]}
        assert listing.ignored == Counter({NOT_AN_IMAGE: 1})
        data = tmp_path / f"data{index}"
        manifests.append(image_folder.import_source(spec(source, ["apples", "limes"]), DATASET, data))
        assert all((data / name).resolve().is_relative_to(data.resolve()) for name in manifests[-1])
        parts, _ = image_folder.split(spec(source, ["apples", "limes"]), 0, data, DATASET)
        assert np.bincount(parts["train"][1]).tolist() == [2, 2]
    assert manifests[0] == manifests[1]
    assert image_folder.csv_member("/x.png") == "x.png" and image_folder.csv_member("../.cache/x.png") == "cache__x.png"

    with_header.write_text("path,label\nimgs/a/1.png,apples\n\nimgs/a/9.png,apples\nimgs/b/1.png,limes\n")
    with pytest.raises(SynthsetError, match=r"fruit\.data\.source '.*labels\.csv': row 4: '.*imgs/a/9\.png' does not "
                                            "exist"):
        image_folder.list_source(with_header, DATASET)
    with_header.write_text("imgs/a/1.png,apples\nimgs/b/1.png,limes\nimgs/a/1.png,apples\n")
    with pytest.raises(SynthsetError, match=r"rows 1 and 3 both give 'apples/imgs__a__1\.png'"):
        image_folder.list_source(with_header, DATASET)
    with_header.write_text("imgs/a/1.png;apples\n")
    with pytest.raises(SynthsetError, match=r"row 1 \['imgs/a/1\.png;apples'\] is not `path,label`"):
        image_folder.list_source(with_header, DATASET)


def test_a_validation_source_is_the_whole_validation_split(tmp_path):
    source = two_classes(tmp_path / "source", per_class=3)
    (tmp_path / "source.csv").write_text("".join(f"source/{name}/{n}.png,{name}\n" for name in ("apples", "limes")
                                                 for n in (1, 2, 3)))
    held = write_files(tmp_path / "held", {"apples/1.png": png((201,) * 3), "limes/x/1.png": png((202,) * 3),
                                           "limes/2.png": png((203,) * 3), "limes/notes.txt": b""})
    data = tmp_path / "data"
    for where in (source, tmp_path / "source.csv"):
        held_out = spec(where, ["apples", "limes"], validation_fraction=None, validation_source=str(held),
                        holdout_per_class=1)
        manifest = image_folder.import_source(held_out, DATASET, data)
        assert [name for name in manifest if name.startswith("_validation/")] == [
            "_validation/apples/1.png", "_validation/limes/2.png", "_validation/limes/x/1.png"]
        assert image_folder.raw_data_problem(held_out, data, "params.yaml", DATASET) is None
        parts, record = image_folder.split(held_out, 0, data, DATASET)
        assert record["files"]["validation"] == [f"_validation/{name}" for name in
                                                 ("apples/1.png", "limes/2.png", "limes/x/1.png")]
        assert parts["validation"][1].tolist() == [0, 1, 1]
        assert parts["validation"][0][:, 0, 0, 0].tolist() == [201, 203, 202]
        assert len(record["files"]["train"]) == 4 and len(record["files"]["holdout"]) == 2
    shutil.rmtree(data / "_validation" / "limes")
    assert "lacks class(es) _validation/limes" in image_folder.raw_data_problem(held_out, data, "params.yaml", DATASET)


def test_an_image_in_both_the_source_and_the_validation_source_is_refused(tmp_path):
    """A validation image that is also a training image would score the CNN on what it learnt."""
    source = two_classes(tmp_path / "source", per_class=3)
    leaked = sorted((source / "limes").iterdir())[0]
    held = write_files(tmp_path / "held", {"apples/1.png": png((201,) * 3), "limes/copy.png": leaked.read_bytes()})
    held_out = spec(source, ["apples", "limes"], validation_fraction=None, validation_source=str(held))
    with pytest.raises(SynthsetError, match=f"in {DATASET}.data.source and {DATASET}.data.validation_source: "
                                            f"'limes/{leaked.name}' and '_validation/limes/copy.png'"):
        image_folder.import_source(held_out, DATASET, tmp_path / "data")


# --- the real photos ----------------------------------------------------------------------------

# sha256 of the 353 decoded 64x64 photos in file order: the RGB decode path and the natural file
# order must keep them byte for byte. Lanczos and the JPEG decoder may differ in other Pillow versions.
FIDS30_ARRAYS = {"12.3.0": "ae129c9ce7c880abeeee7af581a48e58f44aa78eb7f166b2de1098cdc707b32f"}


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="the shared FIDS30 photos are not here")
def test_real_fids30_imports_and_decodes(tmp_path):
    """All 353 shared photos: hashes as published, every one decodes (about 7 s on two cores)."""
    fids30 = spec(REAL_DATA, REAL_CLASSES, fetch_hint=FIDS30_HINT, on_corrupt="refuse")
    manifest = image_folder.import_source(fids30, "fids30", tmp_path / "fids30")
    assert manifest == image_folder.read_manifest(REAL_DATA.parent / "fids30-SHA256SUMS")
    images, labels, files, skipped, _ = image_folder.load_class_images(tmp_path / "fids30", REAL_CLASSES, 64,
                                                                       "squash", "refuse")
    assert images.shape == (353, 64, 64, 3) and images.dtype == np.uint8 and skipped == []
    assert files == list(manifest)
    assert np.bincount(labels).tolist() == [38, 30, 42, 31, 26, 38, 36, 29, 38, 45]
    assert 40 < images.mean() < 220  # decoded photos, not blank frames
    if PIL.__version__ in FIDS30_ARRAYS:
        assert hashlib.sha256(images.tobytes()).hexdigest() == FIDS30_ARRAYS[PIL.__version__]
