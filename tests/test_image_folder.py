"""FIDS30 import, decoding and split on a tiny generated archive, plus one check on the real photos."""

from __future__ import annotations

import hashlib
import io
import logging
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthset.datasets import fids30
from synthset.errors import SynthsetError

CLASSES = ["apples", "bananas", "limes"]
REAL_DATA = Path(__file__).resolve().parents[1] / "../shared/data/fids30"
REAL_CLASSES = "apples apricots bananas blueberries coconuts grapes kiwifruit limes raspberries strawberries".split()


def jpeg_bytes(size: tuple[int, int], colour, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def write_tree(root: Path) -> Path:
    """FIDS30/<class>/*.jpg as in the original archive: sizes differ, one CMYK, two corrupt files."""
    top = root / "FIDS30"
    files = {
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
    }
    for name, data in files.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_bytes(data)
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


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "download")


def test_folder_and_zip_give_identical_arrays(tree, tmp_path):
    archive = zip_tree(tree, tmp_path / "FIDS30.zip")
    from_folder = fids30.import_source(tree, CLASSES, tmp_path / "a")
    from_parent = fids30.import_source(tree.parent, CLASSES, tmp_path / "b")  # class folders one level down
    from_zip = fids30.import_source(archive, CLASSES, tmp_path / "c")
    assert from_folder == from_parent == from_zip
    assert list(from_folder) == ["apples/1.jpg", "apples/2.jpg", "apples/10.jpg", "bananas/1.jpg",
                                 "bananas/2.JPEG", "limes/1.jpg", "limes/2.jpg", "limes/3.jpg", "limes/4.jpg"]
    loaded = [fids30.load_class_images(tmp_path / d, CLASSES, 64, "squash", "skip") for d in "abc"]
    for other in loaded[1:]:
        np.testing.assert_array_equal(loaded[0].images, other.images)
        np.testing.assert_array_equal(loaded[0].labels, other.labels)
        assert loaded[0].files == other.files
    images, labels, files, skipped = loaded[0]
    assert images.shape == (7, 64, 64, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert files[:3] == ["apples/1.jpg", "apples/2.jpg", "apples/10.jpg"]  # numeric, not text, order
    assert skipped == ["limes/3.jpg", "limes/4.jpg"]


def test_manifest_matches_hashlib_and_reruns_rewrite_nothing(tree, tmp_path):
    destination = tmp_path / "data"
    manifest = fids30.import_source(tree, CLASSES, destination)
    for name, digest in manifest.items():
        assert hashlib.sha256((destination / name).read_bytes()).hexdigest() == digest
        assert (destination / name).read_bytes() == (tree / name).read_bytes()
    assert fids30.read_manifest(destination / fids30.MANIFEST_NAME) == manifest
    assert not (destination / "apples" / "notes.txt").exists()

    stamps = {name: (destination / name).stat().st_mtime_ns for name in manifest}
    (destination / "apples" / "99.jpg").write_bytes(b"left from another source")
    (destination / "limes" / "1.jpg").write_bytes(b"changed")
    time.sleep(0.01)
    assert fids30.import_source(tree, CLASSES, destination) == manifest
    assert not (destination / "apples" / "99.jpg").exists()
    assert (destination / "limes" / "1.jpg").read_bytes() == (tree / "limes" / "1.jpg").read_bytes()
    unchanged = {name for name in manifest if name != "limes/1.jpg"}
    assert all((destination / name).stat().st_mtime_ns == stamps[name] for name in unchanged)


def test_cmyk_jpeg_decodes_to_rgb(tree):
    path = tree / "bananas" / "2.JPEG"
    assert Image.open(path).mode == "CMYK"
    pixels = fids30.decode_image(path, 64, "squash")
    assert pixels.shape == (64, 64, 3) and pixels.dtype == np.uint8
    red, green, blue = pixels.reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 60 and blue < 60


def test_multi_picture_jpeg_gives_its_first_picture(tmp_path):
    path = tmp_path / "mpo.jpg"
    first, second = Image.new("RGB", (80, 60), (250, 0, 0)), Image.new("RGB", (80, 60), (0, 0, 250))
    first.save(path, "MPO", save_all=True, append_images=[second])
    assert Image.open(path).format == "MPO"
    red, _, blue = fids30.decode_image(path).reshape(-1, 3).mean(axis=0)
    assert red > 200 and blue < 50


def test_exif_orientation_is_applied(tmp_path):
    """Orientation 6 means 'rotate 90 degrees clockwise to display': the stored left half ends on top."""
    image = Image.new("RGB", (80, 40), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 40, 40))
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(tmp_path / "rotated.jpg", exif=exif, quality=95)
    pixels = fids30.decode_image(tmp_path / "rotated.jpg", 64, "squash").astype(int)
    assert pixels[:28, :, 0].mean() > 200 and pixels[36:, :, 2].mean() > 200


def test_transparent_png_pixels_become_white(tmp_path):
    Image.new("RGBA", (20, 20), (255, 0, 0, 0)).save(tmp_path / "clear.png")
    assert (fids30.decode_image(tmp_path / "clear.png") == 255).all()


def test_corrupt_file_refused_by_name_or_skipped_with_a_count(tree, tmp_path, caplog):
    destination = tmp_path / "data"
    fids30.import_source(tree, CLASSES, destination)
    with pytest.raises(SynthsetError, match=r"limes/3\.jpg.*fids30\.on_corrupt"):
        fids30.load_class_images(destination, CLASSES, 64, "squash", "refuse")
    with caplog.at_level(logging.WARNING, logger="synthset.datasets.fids30"):
        loaded = fids30.load_class_images(destination, CLASSES, 64, "squash", "skip")
    assert loaded.skipped == ["limes/3.jpg", "limes/4.jpg"]
    assert "limes/3.jpg" not in loaded.files and len(loaded.files) == len(loaded.images) == 7
    assert "skipped 2 corrupt" in caplog.text and "limes/4.jpg" in caplog.text
    with pytest.raises(SynthsetError, match="on_corrupt 'ignore'"):
        fids30.load_class_images(destination, CLASSES, 64, "squash", "ignore")


def test_class_with_only_corrupt_files_is_an_error(tree, tmp_path):
    for name in ("1.jpg", "2.jpg"):
        (tree / "limes" / name).unlink()
    fids30.import_source(tree, CLASSES, tmp_path / "data")
    with pytest.raises(SynthsetError, match="class 'limes' has no readable image"):
        fids30.load_class_images(tmp_path / "data", CLASSES, 64, "squash", "skip")


def test_missing_source_says_where_to_get_fids30(tmp_path):
    with pytest.raises(SynthsetError, match=r"nowhere.*does not exist.*vicos\.si.*fids30\.data\.source"):
        fids30.import_source(tmp_path / "nowhere", CLASSES, tmp_path / "data")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(SynthsetError, match="broken.zip' is neither a folder nor a readable zip"):
        fids30.import_source(tmp_path / "broken.zip", CLASSES, tmp_path / "data")


def test_missing_or_empty_class_is_named(tree, tmp_path):
    with pytest.raises(SynthsetError, match=f"class 'mangos' is missing from fids30.data.source '{tree}'"):
        fids30.import_source(tree, [*CLASSES, "mangos"], tmp_path / "data")
    archive = zip_tree(tree, tmp_path / "FIDS30.zip")
    with pytest.raises(SynthsetError, match=r"class 'mangos' is missing .*FIDS30\.zip.*found apples, bananas, limes"):
        fids30.import_source(archive, [*CLASSES, "mangos"], tmp_path / "data")
    (tree / "figs").mkdir()
    (tree / "figs" / "readme.txt").write_text("no photos here")
    with pytest.raises(SynthsetError, match="class 'figs' in fids30.data.source .* has no .jpg/.jpeg/.png images"):
        fids30.import_source(tree, ["figs"], tmp_path / "data")
    (tree / "olives").mkdir()
    with pytest.raises(SynthsetError, match="class 'olives' in fids30.data.source .* has no .jpg"):
        fids30.import_source(tree, ["olives"], tmp_path / "data")
    with pytest.raises(SynthsetError, match="class 'olives' in fids30.data.source .* has no .jpg"):
        fids30.import_source(zip_tree(tree, tmp_path / "with-olives.zip"), ["olives"], tmp_path / "data")
    fids30.import_source(tree, ["apples"], tmp_path / "data")
    with pytest.raises(SynthsetError, match="is the import's own destination"):
        fids30.import_source(tmp_path / "data", ["apples"], tmp_path / "data")
    with pytest.raises(SynthsetError, match="class 'figs' is missing"):
        fids30.load_class_images(tmp_path / "data", ["figs"], 64, "squash", "skip")
    shutil.copytree(tree / "figs", tmp_path / "data" / "figs")
    with pytest.raises(SynthsetError, match="class 'figs' has no .jpg"):
        fids30.load_class_images(tmp_path / "data", ["figs"], 64, "squash", "skip")


def test_squash_keeps_the_whole_photo_and_centre_crop_its_middle(tmp_path):
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 100, 100))  # red left third
    image.save(tmp_path / "wide.png")
    squashed = fids30.decode_image(tmp_path / "wide.png", 64, "squash").astype(int)
    cropped = fids30.decode_image(tmp_path / "wide.png", 64, "center_crop").astype(int)
    assert squashed[:, :19, 0].min() > 240 and squashed[:, 24:, 2].min() > 240
    assert cropped[..., 2].min() > 240 and cropped[..., 0].max() < 15
    with pytest.raises(SynthsetError, match="resize method 'stretch'"):
        fids30.decode_image(tmp_path / "wide.png", 64, "stretch")


def test_split_is_per_class_80_20_disjoint_and_seeded():
    counts = {0: 38, 1: 10, 2: 5, 3: 3, 4: 2, 5: 1}
    labels = np.repeat(list(counts), list(counts.values()))
    np.random.default_rng(0).shuffle(labels)
    train, validation = fids30.split_per_class(labels, 0.2, seed=7)
    assert train.dtype == validation.dtype == np.int64
    assert np.intersect1d(train, validation).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, validation])), np.arange(len(labels)))
    expected = {0: 8, 1: 2, 2: 1, 3: 1, 4: 1, 5: 0}  # round(0.2 n), at least one when n >= 2
    assert {label: int((labels[validation] == label).sum()) for label in counts} == expected
    again = fids30.split_per_class(labels, 0.2, seed=7)
    np.testing.assert_array_equal(train, again[0])
    np.testing.assert_array_equal(validation, again[1])
    assert not np.array_equal(validation, fids30.split_per_class(labels, 0.2, seed=8)[1])
    with pytest.raises(SynthsetError, match="got 1.0"):
        fids30.split_per_class(labels, 1.0, seed=7)


def test_split_of_one_class_ignores_the_others():
    labels = np.array([0] * 20 + [1] * 10)
    _, validation = fids30.split_per_class(labels, 0.2, seed=3)
    _, fewer = fids30.split_per_class(labels[:25], 0.2, seed=3)
    np.testing.assert_array_equal(validation[validation < 20], fewer[fewer < 20])


@pytest.mark.skipif(not REAL_DATA.is_dir(), reason="the shared FIDS30 photos are not here")
def test_real_fids30_imports_and_decodes(tmp_path):
    """All 353 shared photos: hashes as published, every one decodes (about 7 s on two cores)."""
    manifest = fids30.import_source(REAL_DATA, REAL_CLASSES, tmp_path / "fids30")
    assert manifest == fids30.read_manifest(REAL_DATA.parent / "fids30-SHA256SUMS")
    images, labels, files, skipped = fids30.load_class_images(tmp_path / "fids30", REAL_CLASSES, 64, "squash",
                                                              "refuse")
    assert images.shape == (353, 64, 64, 3) and images.dtype == np.uint8 and skipped == []
    assert files == list(manifest)
    assert np.bincount(labels).tolist() == [38, 30, 42, 31, 26, 38, 36, 29, 38, 45]
    assert 40 < images.mean() < 220  # decoded photos, not blank frames
