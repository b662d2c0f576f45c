"""FIDS30 fruit photos from the user's own download, as 64x64 RGB arrays with a per-class split.

FIDS30 cannot be fetched by the project: its photos are third-party images for research use, so
the user downloads the archive from the ViCoS lab and points ``fids30.data.source`` at the unpacked
folder or the zip. ``import_source`` copies the selected classes into the project and records
each file's sha256; ``load_class_images`` decodes them robustly (CMYK, multi-picture JPEGs,
EXIF rotation, corrupt files) into uint8 arrays; ``split_per_class`` gives the paper's 80/20 split.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

import numpy as np
from PIL import Image, ImageOps

from synthset.config import Fids30Params
from synthset.errors import SynthsetError
from synthset.io import write_atomically

Method = Literal["squash", "center_crop"]
OnCorrupt = Literal["skip", "refuse"]
METHODS = ("squash", "center_crop")
ON_CORRUPT = ("skip", "refuse")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
MANIFEST_NAME = "SHA256SUMS"
DOWNLOAD_HINT = (
    "download FIDS30 from the ViCoS lab's FIDS30 page (https://www.vicos.si/resources/fids30/) and set "
    "fids30.data.source in params.yaml to the unpacked folder or the zip"
)
# JPEGs are decoded at the 1/2, 1/4 or 1/8 DCT scale that keeps at least this many times the
# target size on each side, then resized with Lanczos. On the 20 largest FIDS30 photos this is ~4x
# faster than a full decode and differs from it by 0.14 grey levels on average (0.6 at worst).
DRAFT_FACTOR = 8

log = logging.getLogger(__name__)


class LoadedImages(NamedTuple):
    images: np.ndarray  # uint8 (N, size, size, 3)
    labels: np.ndarray  # int64 (N,): the index of each image's class in ``classes``
    files: list[str]  # "class/name.jpg", the manifest's keys, in the order of ``images``
    skipped: list[str]  # corrupt or unreadable files left out (only with on_corrupt="skip")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def natural_key(name: str) -> list:
    """Sort ``2.jpg`` before ``10.jpg``: digit runs compare as numbers, the rest case-insensitively."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)] + [name]


def is_image_name(name: str) -> bool:
    """An image by its suffix; dot files (macOS ``._x.jpg`` resource forks in zips) are not."""
    return not name.startswith(".") and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


@contextmanager
def _open_source(source: Path) -> Iterator[tuple[dict[str, Callable[[], bytes]], set[str]]]:
    """Yield a folder's (two levels down) or zip's files as posix path -> reader, and its folders."""
    if not source.exists():
        raise SynthsetError(f"fids30.data.source '{source}' does not exist: {DOWNLOAD_HINT}")
    if source.is_dir():
        paths = [path for pattern in ("*", "*/*", "*/*/*") for path in source.glob(pattern)]
        yield ({path.relative_to(source).as_posix(): path.read_bytes for path in paths if path.is_file()},
               {path.relative_to(source).as_posix() for path in paths if path.is_dir()})
        return
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise SynthsetError(f"fids30.data.source '{source}' is neither a folder nor a readable zip ({error}): "
                            f"{DOWNLOAD_HINT}") from None
    with archive:
        entries = {info.filename.replace("\\", "/").rstrip("/"): info for info in archive.infolist()}

        def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
            return lambda: archive.read(info)

        yield ({name: reader(info) for name, info in entries.items() if not info.is_dir()},
               {name for name, info in entries.items() if info.is_dir()})


def find_class_files(names: list[str], folders: set[str], classes: list[str],
                     source: Path) -> dict[str, list[str]]:
    """Class -> its image paths among ``names``, with class folders at the root or one level down.

    The original archive unpacks to ``FIDS30/<class>/*.jpg``, a re-zipped copy may not have the
    top folder; whichever level holds more of the selected classes wins, the root on a tie.
    """
    folders = set(folders) | {str(parent) for name in names for parent in PurePosixPath(name).parents}
    tops = sorted({folder.split("/")[0] for folder in folders} - {".", "__MACOSX"})
    candidates = [""] + [f"{top}/" for top in tops]
    found = {prefix: sum(f"{prefix}{name}" in folders for name in classes) for prefix in candidates}
    best = max(found.values())
    winners = [prefix for prefix in candidates if found[prefix] == best]
    if best > 0 and len(winners) > 1 and "" not in winners:
        raise SynthsetError(f"fids30.data.source '{source}' holds class folders under several top folders "
                            f"({', '.join(w.rstrip('/') for w in winners)}): point it at one of them")
    prefix = winners[0]
    present = sorted(f[len(prefix):] for f in folders if f.startswith(prefix) and "/" not in f[len(prefix):])
    by_class = {}
    for name in classes:
        folder = f"{prefix}{name}"
        if folder not in folders:
            raise SynthsetError(f"class '{name}' is missing from fids30.data.source '{source}': no folder '{folder}' "
                                "(class folders are looked for at its top and one level down; found "
                                f"{', '.join(p for p in present if p != '.') or 'none'}); {DOWNLOAD_HINT}")
        images = [n for n in names
                  if str(PurePosixPath(n).parent) == folder and is_image_name(PurePosixPath(n).name)]
        if not images:
            raise SynthsetError(f"class '{name}' in fids30.data.source '{source}' has no .jpg/.jpeg/.png images "
                                f"(folder '{folder}')")
        by_class[name] = sorted(images, key=lambda n: natural_key(PurePosixPath(n).name))
    return by_class


def import_source(source: Path, classes: list[str], destination: Path) -> dict[str, str]:
    """Copy the selected classes into ``destination/<class>/`` and return ``"class/file" -> sha256``.

    The manifest is also written as ``destination/SHA256SUMS`` (``sha256sum -c`` format). Files
    already identical are not rewritten, so a re-run is cheap; other files in the selected class
    folders are removed, so the copy mirrors the source. Folders of other classes are left alone.
    """
    source, destination = Path(source), Path(destination)
    manifest = {}
    with _open_source(source) as (files, folders):
        by_class = find_class_files(sorted(files), folders, classes, source)
        for name, members in by_class.items():
            folder = destination / name
            if source.is_dir() and folder.resolve() == (source / members[0]).parent.resolve():
                raise SynthsetError(f"fids30.data.source '{source}' is the import's own destination '{destination}': "
                                    "point fids30.data.source at the original download")
            folder.mkdir(parents=True, exist_ok=True)
            for member in members:
                data = files[member]()
                digest = hashlib.sha256(data).hexdigest()
                target = folder / PurePosixPath(member).name
                if not (target.is_file() and sha256_file(target) == digest):
                    with write_atomically(target) as partial:
                        partial.write_bytes(data)
                manifest[f"{name}/{target.name}"] = digest
            kept = {PurePosixPath(member).name for member in members}
            for stale in folder.iterdir():
                if stale.is_file() and stale.name not in kept:
                    stale.unlink()
    write_manifest(destination / MANIFEST_NAME, manifest)
    return manifest


def write_manifest(path: Path, manifest: dict[str, str]) -> None:
    with write_atomically(path) as partial:
        partial.write_text("".join(f"{digest}  {name}\n" for name, digest in manifest.items()))


def read_manifest(path: Path) -> dict[str, str]:
    """``sha256sum`` lines -> relative path (without a leading ``./``) -> sha256."""
    manifest = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            manifest[name.lstrip("*").removeprefix("./")] = digest
    return manifest


def _resample_box(width: int, height: int, method: Method) -> tuple[int, int, int, int]:
    """The region that becomes the output: the whole image (squash) or its central square."""
    if method == "squash":
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _to_rgb(image: Image.Image) -> Image.Image:
    """CMYK, greyscale and palette images to RGB; transparent pixels become white, not their hidden colour."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return image.convert("RGB")


def decode_image(path: Path, size: int = 64, method: Method = "squash") -> np.ndarray:
    """One photo as uint8 (size, size, 3); an unreadable file raises SynthsetError naming it.

    The EXIF orientation is applied, so the fruit is upright as any viewer shows it (none of the
    353 shared FIDS30 photos is rotated, so this changes nothing there). A multi-picture JPEG (MPO)
    gives its first picture, which is the photo itself. Lanczos, which Pillow widens with the scale
    factor, averages the whole footprint of each output pixel; nearest-neighbour would alias.
    """
    if method not in METHODS:
        raise SynthsetError(f"fids30 resize method '{method}' is not one of {', '.join(METHODS)}")
    try:
        with Image.open(path) as image:
            image.draft("RGB", (size * DRAFT_FACTOR, size * DRAFT_FACTOR))
            image = _to_rgb(ImageOps.exif_transpose(image))
            box = _resample_box(*image.size, method)
            resized = image.resize((size, size), Image.Resampling.LANCZOS, box=box)
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many types on malformed bytes
        raise SynthsetError(f"'{path}' is not a readable image: {error}") from None
    return np.asarray(resized, dtype=np.uint8)


def class_image_paths(folder: Path, name: str) -> list[Path]:
    """A class's images in ``folder/<name>/``, in natural order; a missing or empty class is an error."""
    directory = Path(folder) / name
    if not directory.is_dir():
        raise SynthsetError(f"class '{name}' is missing: no folder '{directory}' (run the FIDS30 data stage)")
    paths = sorted((p for p in directory.iterdir() if p.is_file() and is_image_name(p.name)),
                   key=lambda p: natural_key(p.name))
    if not paths:
        raise SynthsetError(f"class '{name}' has no .jpg/.jpeg/.png images in '{directory}'")
    return paths


def load_class_images(folder: Path, classes: list[str], size: int = 64, method: Method = "squash",
                      on_corrupt: OnCorrupt = "refuse") -> LoadedImages:
    """Decode ``folder/<class>/*`` for each class, in class order then natural file order.

    A corrupt file is refused (SynthsetError naming it) or, with ``on_corrupt="skip"``, left out,
    logged with its reason and returned in ``skipped``. A class left with no image is an error.
    """
    if on_corrupt not in ON_CORRUPT:
        raise SynthsetError(f"fids30 on_corrupt '{on_corrupt}' is not one of {', '.join(ON_CORRUPT)}")
    folder = Path(folder)
    images, labels, files, skipped = [], [], [], []
    for label, name in enumerate(classes):
        decoded = 0
        for path in class_image_paths(folder, name):
            relative = f"{name}/{path.name}"
            try:
                images.append(decode_image(path, size, method))
            except SynthsetError as error:
                if on_corrupt == "refuse":
                    raise SynthsetError(f"{error} (set fids30.on_corrupt to 'skip' to leave it out)") from None
                log.warning("skipping %s", error)
                skipped.append(relative)
                continue
            labels.append(label)
            files.append(relative)
            decoded += 1
        if decoded == 0:
            raise SynthsetError(f"class '{name}' has no readable image in '{folder / name}'")
    if skipped:
        log.warning("skipped %d corrupt or unreadable FIDS30 file(s): %s", len(skipped), ", ".join(skipped))
    return LoadedImages(np.stack(images).astype(np.uint8), np.asarray(labels, dtype=np.int64), files, skipped)


def split_per_class(labels: np.ndarray, validation_fraction: float = 0.2,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and validation indices: per class, a seeded shuffle puts round(fraction * n) in validation.

    Each class has its own generator seeded by (seed, label), so adding or removing images of one
    class does not reshuffle the others. A class of two or more images keeps at least one on each
    side. Both index arrays are sorted, so the images keep their class and file order.
    """
    if not 0.0 < validation_fraction < 1.0:
        raise SynthsetError(f"validation fraction must be between 0 and 1 (exclusive), got {validation_fraction}")
    labels = np.asarray(labels)
    train, validation = [], []
    for label in np.unique(labels):
        indices = np.flatnonzero(labels == label)
        shuffled = np.random.default_rng([seed, int(label)]).permutation(indices)
        n = len(indices)
        n_validation = min(max(int(np.floor(validation_fraction * n + 0.5)), 1), n - 1) if n >= 2 else 0
        validation.append(shuffled[:n_validation])
        train.append(shuffled[n_validation:])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(validation)).astype(np.int64))


def raw_data_problem(spec: Fids30Params, folder: Path, params_file: str) -> str | None:
    """What ``folder`` lacks of the selected classes and how to get it; None when it is complete."""
    absent = [name for name in spec.classes if not any((folder / name).glob("*"))]
    if not absent and (folder / MANIFEST_NAME).is_file():
        return None
    what = f"{folder}/ lacks class(es) {', '.join(absent)}" if absent else f"{folder}/ has no {MANIFEST_NAME}"
    source = Path(spec.source)
    if source.exists():
        how = f"import them from fids30.data.source '{source}' with `synthset fetch-fids30` (or `dvc pull`)"
    else:
        how = (f"fids30.data.source '{source}' does not exist: {DOWNLOAD_HINT}, then run `synthset fetch-fids30`; "
               f"or remove fids30 from `datasets` in {params_file} to run MNIST only")
    return f"{what}: {how}"


def split(spec: Fids30Params, seed: int, folder: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Decode the imported photos in ``folder`` to ``image_shape`` and split each class with ``seed``.

    Returns the splits and a record of which photo went where (and which were skipped as
    unreadable), written beside the splits so that the split itself is versioned with them.
    """
    if not folder.is_dir():
        raise SynthsetError(f"{folder}: missing; import FIDS30 first with `synthset fetch-fids30`, which copies "
                            f"the classes from fids30.data.source ({spec.source}). {DOWNLOAD_HINT}")
    loaded = load_class_images(folder, spec.classes, spec.image_shape[0], spec.resize, spec.on_corrupt)
    train, validation = split_per_class(loaded.labels, spec.validation_fraction, seed)
    holdout = train
    if spec.holdout_per_class:
        keep = np.concatenate([train[loaded.labels[train] == label][-spec.holdout_per_class:]
                               for label in spec.labels])
        train, holdout = np.setdiff1d(train, keep), np.sort(keep)
    parts = {"train": train, "holdout": holdout, "validation": validation}
    files = np.asarray(loaded.files)
    record = {"skipped": loaded.skipped, "files": {name: files[indices].tolist() for name, indices in parts.items()}}
    return {name: (loaded.images[indices], loaded.labels[indices]) for name, indices in parts.items()}, record
