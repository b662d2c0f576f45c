"""A dataset from the user's own labelled images: a folder or zip with one sub-folder per class
(at the top or one level down), or a CSV of ``path,label`` rows.

The pipeline never reads the source itself: ``import_source`` copies the selected classes into
``data/<dataset>`` (which ``data.dvc`` versions) and records each file's sha256, so the copy,
not a source that changes later, decides what runs; ``changes`` says what a changed source would
bring. ``load_class_images`` decodes robustly (greyscale, palette, RGBA, CMYK, 16-bit, EXIF
rotation, multi-picture JPEGs) into uint8 arrays of the configured size and channels, and
``split_per_class`` gives a seeded per-class split. FIDS30, the paper's fruit photos, is one
such dataset.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Literal, NamedTuple

import numpy as np
from PIL import Image, ImageOps

from synthset.config import ImageFolderParams
from synthset.errors import SynthsetError
from synthset.io import write_atomically

Method = Literal["squash", "center_crop"]
OnCorrupt = Literal["skip", "refuse"]
METHODS = ("squash", "center_crop")
ON_CORRUPT = ("skip", "refuse")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
MANIFEST_NAME = "SHA256SUMS"
VALIDATION_FOLDER = "_validation"  # where the import keeps validation_source's classes, beside the training ones
IGNORED_FOLDERS = frozenset({"__MACOSX"})  # macOS resource forks in zips
# JPEGs are decoded at the 1/2, 1/4 or 1/8 DCT scale that keeps at least this many times the
# target size on each side, then resized with Lanczos. On the 20 largest FIDS30 photos this is ~4x
# faster than a full decode and differs from it by 0.14 grey levels on average (0.6 at worst).
DRAFT_FACTOR = 8
SMALL_FACTOR = 2  # an image whose shorter side is below image side / SMALL_FACTOR is warned about: it is blown up

log = logging.getLogger(__name__)


class LoadedImages(NamedTuple):
    images: np.ndarray  # uint8 (N, size, size, channels)
    labels: np.ndarray  # int64 (N,): the index of each image's class in ``classes``
    files: list[str]  # "class/name.jpg", the manifest's keys, in the order of ``images``
    skipped: list[str]  # corrupt or unreadable files left out (only with on_corrupt="skip")
    small: int = 0  # images blown up from less than half the image side


@dataclass
class Listing:
    """What a source holds: each class's image files (posix path -> reader) and what was passed over."""

    by_class: dict[str, dict[str, Callable[[], bytes]]]
    ignored: Counter = field(default_factory=Counter)  # reason -> files passed over
    nested: int = 0  # images in sub-folders of a class folder (kept)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def natural_key(name: str) -> tuple[list, str]:
    """Sort ``2.jpg`` before ``10.jpg``: digit runs compare as numbers, the rest case-insensitively.

    ``re.split`` puts the digit runs at the odd positions, so a number is only ever compared with a
    number (``isdigit`` would also take ``²``, which ``int`` refuses); the name itself, kept apart
    from the parts, breaks ties without meeting a number (``b.png`` against ``b.png2.png``).
    """
    parts = re.split(r"(\d+)", name)
    return [int(part) if index % 2 else part.lower() for index, part in enumerate(parts)], name


def hidden(path: str) -> bool:
    """A dot file or folder (macOS ``._x.jpg`` forks, ``.DS_Store``) or one inside ``__MACOSX``."""
    parts = PurePosixPath(path).parts
    return any(part.startswith(".") or part in IGNORED_FOLDERS for part in parts)


def is_image_name(name: str) -> bool:
    """An image by its suffix; dot files are not."""
    return not hidden(name) and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES


def nfc(name: str) -> str:
    """One spelling of each accented name: composed (``é`` as one character, not ``e`` + accent)."""
    return unicodedata.normalize("NFC", name)


def _where(dataset: str, key: str = "source") -> str:
    return f"{dataset}.data.{key}"


def _hint(hint: str | None, dataset: str, key: str = "source") -> str:
    return f": {hint} and set {_where(dataset, key)} in params.yaml to it" if hint else ""


class _ZipMembers:
    """Reads a zip's members on demand. A ``Listing``'s readers are called after ``list_source``
    has returned, so the archive is opened again on the first read and kept open for the others
    (closed with this object): opening it per file would parse its whole directory each time."""

    def __init__(self, source: Path):
        self.source = source
        self.archive: zipfile.ZipFile | None = None

    def read(self, info: zipfile.ZipInfo) -> bytes:
        if self.archive is None:
            self.archive = zipfile.ZipFile(self.source)
        return self.archive.read(info)


@contextmanager
def _open_source(source: Path, dataset: str, hint: str | None,
                 key: str = "source") -> Iterator[tuple[dict[str, Callable[[], bytes]], set[str]]]:
    """Yield a folder's or zip's files as posix path -> reader, and its folders.

    Paths are NFC-normalised (``nfc``): macOS and its zips write ``é`` as ``e`` and a combining
    accent, which would otherwise not match the class name as typed in params.yaml.
    """
    if not source.exists():
        raise SynthsetError(f"{_where(dataset, key)} '{source}' does not exist{_hint(hint, dataset, key)}")
    if source.is_dir():
        paths = [path for path in source.rglob("*")]
        yield ({nfc(path.relative_to(source).as_posix()): path.read_bytes for path in paths if path.is_file()},
               {nfc(path.relative_to(source).as_posix()) for path in paths if path.is_dir()})
        return
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as error:
        raise SynthsetError(f"{_where(dataset, key)} '{source}' is neither a folder, a readable zip nor a .csv "
                            f"({error}){_hint(hint, dataset, key)}") from None
    with archive:
        entries = {nfc(info.filename.replace("\\", "/").rstrip("/")): info for info in archive.infolist()}
    members = _ZipMembers(source)
    yield ({name: partial(members.read, info) for name, info in entries.items() if not info.is_dir()},
           {name for name, info in entries.items() if info.is_dir()})


def _visible_folders(names: list[str], folders: set[str]) -> set[str]:
    folders = set(folders) | {str(parent) for name in names for parent in PurePosixPath(name).parents}
    return {folder for folder in folders if folder != "." and not hidden(folder)}


def class_root(names: list[str], folders: set[str], classes: list[str] | None, where: str) -> str:
    """The prefix ("" or "top/") under which the class folders are: the source's top or one level down.

    With ``classes`` given, whichever level holds more of them wins, the top on a tie. Without, the
    top unless it holds no image of its own folders' and exactly one folder (a zip of one folder).
    """
    folders = _visible_folders(names, folders)
    tops = sorted({folder.split("/")[0] for folder in folders})
    if classes is None:
        top_images = [n for n in names if is_image_name(n) and "/" in n and n.count("/") == 1]
        return f"{tops[0]}/" if len(tops) == 1 and not top_images else ""
    candidates = [""] + [f"{top}/" for top in tops]
    found = {prefix: sum(f"{prefix}{name}" in folders for name in classes) for prefix in candidates}
    best = max(found.values())
    winners = [prefix for prefix in candidates if found[prefix] == best]
    if best > 0 and len(winners) > 1 and "" not in winners:
        raise SynthsetError(f"{where} holds class folders under several top folders "
                            f"({', '.join(w.rstrip('/') for w in winners)}): point it at one of them")
    return winners[0]


def list_source(source: Path, dataset: str, classes: list[str] | None = None, hint: str | None = None,
                key: str = "source") -> Listing:
    """The images of each class of ``source`` (a folder, a zip or a CSV of ``path,label``).

    ``classes`` None: every class folder found, sorted. Files in sub-folders of a class folder
    belong to that class; hidden files, ``__MACOSX`` and non-image files are passed over and counted.
    """
    source = Path(source)
    where = f"{_where(dataset, key)} '{source}'"
    if source.suffix.lower() == ".csv" and source.is_file():
        return _list_csv(source, classes, where)
    with _open_source(source, dataset, hint, key) as (files, folders):
        names = sorted(files)
        prefix = class_root(names, folders, None if classes is None else [nfc(name) for name in classes], where)
        visible = _visible_folders(names, folders)
        present = sorted(f[len(prefix):] for f in visible if f.startswith(prefix) and "/" not in f[len(prefix):])
        if classes is None:  # a folder is a class when it holds images
            classes = [name for name in present if any(n.startswith(f"{prefix}{name}/") and is_image_name(n)
                                                       for n in names)]
            if len(classes) < 2:
                raise SynthsetError(f"{where} has {len(classes)} class folder(s) with images ({', '.join(classes) or 'none'}):"
                                    " a dataset needs at least two, each a sub-folder of images named after its class")
        listing = Listing({})
        for name in classes:
            folder = f"{prefix}{nfc(name)}"
            if folder not in visible:
                raise SynthsetError(f"class '{name}' is missing from {where}: no folder '{folder}' (class folders "
                                    f"are looked for at its top and one level down; found {', '.join(present) or 'none'})"
                                    f"{_hint(hint, dataset, key)}")
            inside = [n for n in names if n.startswith(folder + "/")]
            members = [n for n in inside if is_image_name(n)]
            listing.ignored["hidden or __MACOSX"] += sum(hidden(n[len(folder) + 1:]) for n in inside)
            listing.ignored["not an image (by its suffix)"] += sum(not hidden(n[len(folder) + 1:]) and not is_image_name(n)
                                                                  for n in inside)
            if not members:
                raise SynthsetError(f"class '{name}' in {where} has no images (folder '{folder}'; images are "
                                    f"{', '.join(sorted(IMAGE_SUFFIXES))})")
            listing.nested += sum("/" in n[len(folder) + 1:] for n in members)
            members.sort(key=lambda n: natural_key(n[len(folder) + 1:]))
            listing.by_class[name] = {n[len(folder) + 1:]: files[n] for n in members}
        listing.ignored += Counter()  # drop zero counts
        return listing


def csv_member(path: str) -> str:
    """A CSV row's file in its class folder: the last three parts of its path joined by ``__``
    (``a/b/x.png`` -> ``a__b__x.png``), so same-named files of different folders stay apart.

    ``/``, ``.`` and ``..`` are dropped and leading dots stripped, so the copy stays inside its
    class folder (``/x.png`` would otherwise be written to ``/``) and is not hidden from the decoder.
    """
    parts = [part.lstrip(".") for part in PurePosixPath(path).parts if part.strip("./")]
    return nfc("__".join(parts[-3:]))


def _list_csv(source: Path, classes: list[str] | None, where: str) -> Listing:
    """A CSV of ``path,label`` rows (a header row ``path,label`` is allowed); paths relative to the CSV.

    Rows are numbered as the file's lines, as a spreadsheet numbers them (the header is row 1). A
    file is an image by its own name; the folders on its way (``../photos/``) may be anything. The
    file is read as ``utf-8-sig``, since Excel starts its UTF-8 CSVs with a byte-order mark.
    """
    with open(source, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if rows and [cell.strip().lower() for cell in rows[0][1]] == ["path", "label"]:
        rows = rows[1:]
    by_label: dict[str, dict[str, Callable[[], bytes]]] = {}
    row_of: dict[str, int] = {}  # "label/member" -> the row that gave it
    listing = Listing({})
    for number, row in rows:
        if len(row) != 2 or not all(cell.strip() for cell in row):
            raise SynthsetError(f"{where}: row {number} {row!r} is not `path,label`")
        path, label = row[0].strip(), nfc(row[1].strip())
        file = (source.parent / path)
        if not is_image_name(PurePosixPath(path).name):
            listing.ignored["not an image (by its suffix)"] += 1
            continue
        if not file.is_file():
            raise SynthsetError(f"{where}: row {number}: '{file}' does not exist")
        member = csv_member(path)
        if f"{label}/{member}" in row_of:
            raise SynthsetError(f"{where}: rows {row_of[f'{label}/{member}']} and {number} both give '{label}/{member}' "
                                "(the same file twice, or paths that end alike): list each image once")
        row_of[f"{label}/{member}"] = number
        by_label.setdefault(label, {})[member] = file.read_bytes
    found = sorted(by_label)
    for name in classes or []:
        if nfc(name) not in by_label:
            raise SynthsetError(f"class '{name}' is missing from {where}: no row has that label (found {', '.join(found)})")
    if classes is None and len(found) < 2:
        raise SynthsetError(f"{where} labels its images with {len(found)} class(es): a dataset needs at least two")
    listing.by_class = {name: dict(sorted(by_label[nfc(name)].items(), key=lambda item: natural_key(item[0])))
                        for name in (classes or found)}
    return listing


def note_class(first_seen: dict[str, str], digest: str, name: str, class_prefix: str, where: str) -> None:
    """Remember where an image (by sha256) was first seen; the same bytes in another class are
    refused, naming both: one of the two labels is wrong."""
    if digest in first_seen and not first_seen[digest].startswith(class_prefix):
        raise SynthsetError(f"the same image (sha256 {digest[:12]}) is in two classes of {where}: "
                            f"'{first_seen[digest]}' and '{name}'; remove it from the class it does not belong to")
    first_seen.setdefault(digest, name)


def import_source(spec: ImageFolderParams, dataset: str, destination: Path) -> dict[str, str]:
    """Copy the selected classes into ``destination/<class>/`` (and ``validation_source``'s into
    ``destination/_validation/<class>/``); return ``"class/file" -> sha256``.

    The manifest is also written as ``destination/SHA256SUMS`` (``sha256sum -c`` format). Files
    already identical are not rewritten, so a re-run is cheap; other files in the selected class
    folders are removed, so the copy mirrors the source. The same image in two classes is refused.
    """
    destination = Path(destination)
    sources = [(Path(spec.source), "", "source")]
    if spec.validation_source is not None:
        sources.append((Path(spec.validation_source), f"{VALIDATION_FOLDER}/", "validation_source"))
    if VALIDATION_FOLDER in spec.classes:
        raise SynthsetError(f"{dataset}.data.classes: '{VALIDATION_FOLDER}' is the import's own folder; rename that class")
    manifest: dict[str, str] = {}
    training: dict[str, str] = {}  # sha256 -> the training image, which no validation image may repeat
    for source, prefix, key in sources:
        listing = list_source(source, dataset, spec.classes, spec.fetch_hint, key)
        first_seen: dict[str, str] = {}
        for name, members in listing.by_class.items():
            folder = destination / prefix / name
            if source.is_dir() and folder.resolve() == (source / name).resolve():
                raise SynthsetError(f"{_where(dataset, key)} '{source}' is the import's own destination "
                                    f"'{destination}': point it at the original images")
            for member, read in members.items():
                data = read()
                digest = hashlib.sha256(data).hexdigest()
                key_name = f"{prefix}{name}/{member}"
                note_class(first_seen, digest, key_name, f"{prefix}{name}/", f"{_where(dataset, key)} '{source}'")
                if prefix and digest in training:
                    raise SynthsetError(f"the same image (sha256 {digest[:12]}) is in {dataset}.data.source and "
                                        f"{dataset}.data.validation_source: '{training[digest]}' and '{key_name}'; a "
                                        "validation image must be one no model trains on: remove one of them")
                if not prefix:
                    training.setdefault(digest, key_name)
                target = folder / member
                target.parent.mkdir(parents=True, exist_ok=True)
                if not (target.is_file() and sha256_file(target) == digest):
                    with write_atomically(target) as partial:
                        partial.write_bytes(data)
                manifest[key_name] = digest
            kept = {folder / member for member in members}
            for stale in sorted(folder.rglob("*"), reverse=True):
                if stale.is_file() and stale not in kept:
                    stale.unlink()
                elif stale.is_dir() and not any(stale.iterdir()):
                    stale.rmdir()
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


def changes(old: dict[str, str], new: dict[str, str]) -> dict[str, list[str]]:
    """What a source would change in an imported copy: files added, removed and changed."""
    return {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)),
            "changed": sorted(name for name in set(old) & set(new) if old[name] != new[name])}


def _resample_box(width: int, height: int, method: Method) -> tuple[int, int, int, int]:
    """The region that becomes the output: the whole image (squash) or its central square."""
    if method == "squash":
        return 0, 0, width, height
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def _to_rgb(image: Image.Image) -> Image.Image:
    """CMYK, greyscale, palette and 16-bit images to RGB; transparent pixels become white, not their hidden colour.

    A 16-bit mode (``I;16``: 16-bit PNGs and TIFFs) is scaled from 65535 whatever its pixels, so a
    dark 16-bit image stays dark; only Pillow's 32-bit ``I`` and float ``F`` modes, which say
    nothing of the range, are taken as 8-bit when no pixel exceeds 255.
    """
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16-bit or float: scale to 8 bits
        pixels = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or pixels.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(np.rint(pixels * 255.0 / top), 0, 255).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    return image.convert("RGB")


def decode_image(path: Path, size: int = 64, method: Method = "squash", channels: int = 3) -> np.ndarray:
    """One image as uint8 (size, size, channels); an unreadable file raises SynthsetError naming it.

    The EXIF orientation is applied, so the image is upright as any viewer shows it. A
    multi-picture JPEG (MPO) gives its first picture, which is the photo itself. Lanczos, which
    Pillow widens with the scale factor, averages the whole footprint of each output pixel;
    nearest-neighbour would alias. Greyscale is the RGB image's luma (ITU-R 601).
    """
    return _decode(path, size, method, channels)[0]


def _decode(path: Path, size: int, method: Method, channels: int) -> tuple[np.ndarray, int]:
    """``decode_image``'s pixels and the image's shorter side as stored, from one opening of the file."""
    if method not in METHODS:
        raise SynthsetError(f"resize method '{method}' is not one of {', '.join(METHODS)}")
    try:
        with Image.open(path) as image:
            stored_side = min(image.size)  # before draft(), which shrinks a JPEG's size
            image.draft("RGB", (size * DRAFT_FACTOR, size * DRAFT_FACTOR))
            image = _to_rgb(ImageOps.exif_transpose(image))
            box = _resample_box(*image.size, method)
            resized = image.resize((size, size), Image.Resampling.LANCZOS, box=box)
            if channels == 1:
                resized = resized.convert("L")
    except Exception as error:  # noqa: BLE001 - Pillow's decoders raise many types on malformed bytes
        raise SynthsetError(f"'{path}' is not a readable image: {error}") from None
    pixels = np.asarray(resized, dtype=np.uint8)
    return (pixels[..., None] if channels == 1 else pixels), stored_side


def class_image_paths(folder: Path, name: str) -> list[Path]:
    """A class's images under ``folder/<name>/`` (sub-folders too), in natural order; a missing or
    empty class is an error."""
    directory = Path(folder) / name
    if not directory.is_dir():
        raise SynthsetError(f"class '{name}' is missing: no folder '{directory}' (run `synthset fetch-images`)")
    paths = sorted((p for p in directory.rglob("*") if p.is_file() and is_image_name(p.relative_to(directory).as_posix())),
                   key=lambda p: natural_key(p.relative_to(directory).as_posix()))
    if not paths:
        raise SynthsetError(f"class '{name}' has no images in '{directory}'")
    return paths


def load_class_images(folder: Path, classes: list[str], size: int = 64, method: Method = "squash",
                      on_corrupt: OnCorrupt = "refuse", channels: int = 3,
                      dataset: str | None = None) -> LoadedImages:
    """Decode ``folder/<class>/*`` for each class, in class order then natural file order.

    A corrupt file is refused (SynthsetError naming it, and ``<dataset>.data.on_corrupt`` when
    ``dataset`` is given) or, with ``on_corrupt="skip"``, left out, logged with its reason and
    returned in ``skipped``. A class left with no image is an error.
    """
    if on_corrupt not in ON_CORRUPT:
        raise SynthsetError(f"on_corrupt '{on_corrupt}' is not one of {', '.join(ON_CORRUPT)}")
    folder = Path(folder)
    images, labels, files, skipped, small = [], [], [], [], 0
    for label, name in enumerate(classes):
        decoded = 0
        for path in class_image_paths(folder, name):
            relative = f"{name}/{path.relative_to(folder / name).as_posix()}"
            try:
                pixels, stored_side = _decode(path, size, method, channels)
            except SynthsetError as error:
                if on_corrupt == "refuse":
                    setting = f"{dataset}.data.on_corrupt" if dataset else "on_corrupt"
                    raise SynthsetError(f"{error} (set {setting} to 'skip' to leave it out)") from None
                log.warning("skipping %s", error)
                skipped.append(relative)
                continue
            images.append(pixels)
            small += stored_side * SMALL_FACTOR < size
            labels.append(label)
            files.append(relative)
            decoded += 1
        if decoded == 0:
            raise SynthsetError(f"class '{name}' has no readable image in '{folder / name}'")
    if skipped:
        log.warning("skipped %d corrupt or unreadable file(s): %s", len(skipped), ", ".join(skipped))
    if small:
        log.warning("%d image(s) have a side below half of %d px and are blown up to it: they will look blurred",
                    small, size)
    return LoadedImages(np.stack(images).astype(np.uint8), np.asarray(labels, dtype=np.int64), files, skipped, small)


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


def raw_data_problem(spec: ImageFolderParams, folder: Path, params_file: str, dataset: str) -> str | None:
    """What ``folder`` lacks of the selected classes and how to get it; None when it is complete."""
    absent = [name for name in spec.classes if not any((folder / name).glob("*"))]
    if spec.validation_source is not None:
        absent += [f"{VALIDATION_FOLDER}/{name}" for name in spec.classes
                   if not any((folder / VALIDATION_FOLDER / name).glob("*"))]
    if not absent and (folder / MANIFEST_NAME).is_file():
        return None
    what = f"{folder}/ lacks class(es) {', '.join(absent)}" if absent else f"{folder}/ has no {MANIFEST_NAME}"
    source = Path(spec.source)
    if source.exists():
        how = f"import them from {dataset}.data.source '{source}' with `synthset fetch-images {dataset}` (or `dvc pull`)"
    else:
        how = (f"{dataset}.data.source '{source}' does not exist{_hint(spec.fetch_hint, dataset)}, then run "
               f"`synthset fetch-images {dataset}`; or remove {dataset} from `datasets` in {params_file}")
    return f"{what}: {how}"


def _check_class_sizes(spec: ImageFolderParams, dataset: str, labels: np.ndarray, part: str, needed: int) -> None:
    counts = np.bincount(labels, minlength=len(spec.classes))
    short = {name: int(count) for name, count in zip(spec.classes, counts) if count < needed}
    if short:
        raise SynthsetError(f"{dataset}: class(es) {short} have fewer than {needed} readable images in the {part}, "
                            f"which the split needs (validation_fraction {spec.validation_fraction}, holdout_per_class "
                            f"{spec.holdout_per_class}, at least one training image); add images or lower those settings")


def _check_training_left(spec: ImageFolderParams, dataset: str, source_labels: np.ndarray,
                         train_labels: np.ndarray) -> None:
    """Every class keeps a training image once validation and holdout took theirs. The count check
    before the split cannot tell: a large validation_fraction takes more than one image of a small
    class (half of 3 rounds to 2), and the holdout may then take the last one."""
    counts = np.bincount(source_labels, minlength=len(spec.classes))
    trained = np.bincount(train_labels, minlength=len(spec.classes))
    short = {name: int(count) for name, count, left in zip(spec.classes, counts, trained) if left == 0}
    if short:
        raise SynthsetError(f"{dataset}: class(es) {short} leave no training image after validation_fraction "
                            f"{spec.validation_fraction} and holdout_per_class {spec.holdout_per_class}; add images "
                            "or lower those settings")


def split(spec: ImageFolderParams, seed: int, folder: Path,
          dataset: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Decode the imported images in ``folder`` to ``image_shape`` and split each class with ``seed``.

    Returns the splits and a record of which image went where (and which were skipped as
    unreadable), written beside the splits so that the split itself is versioned with them.
    """
    if not folder.is_dir():
        raise SynthsetError(f"{folder}: missing; import {dataset} first with `synthset fetch-images {dataset}`, which "
                            f"copies the classes from {dataset}.data.source ({spec.source})")
    size, channels = spec.image_shape[0], spec.image_shape[2]
    loaded = load_class_images(folder, spec.classes, size, spec.resize, spec.on_corrupt, channels, dataset)
    files = np.asarray(loaded.files)
    skipped = list(loaded.skipped)
    if spec.validation_source is None:
        _check_class_sizes(spec, dataset, loaded.labels, "source", 2 + spec.holdout_per_class)
        train, validation = split_per_class(loaded.labels, spec.validation_fraction, seed)
        images, labels = loaded.images, loaded.labels
    else:
        _check_class_sizes(spec, dataset, loaded.labels, "source", 1 + spec.holdout_per_class)
        held = load_class_images(folder / VALIDATION_FOLDER, spec.classes, size, spec.resize, spec.on_corrupt, channels,
                                 dataset)
        skipped += [f"{VALIDATION_FOLDER}/{name}" for name in held.skipped]
        images = np.concatenate([loaded.images, held.images])
        labels = np.concatenate([loaded.labels, held.labels])
        files = np.concatenate([files, [f"{VALIDATION_FOLDER}/{name}" for name in held.files]])
        train = np.arange(len(loaded.labels))
        validation = np.arange(len(loaded.labels), len(labels))
    holdout = train
    if spec.holdout_per_class:
        keep = np.concatenate([train[labels[train] == label][-spec.holdout_per_class:] for label in spec.labels])
        train, holdout = np.setdiff1d(train, keep), np.sort(keep)
    _check_training_left(spec, dataset, loaded.labels, labels[train])
    parts = {"train": train, "holdout": holdout, "validation": validation}
    record = {"skipped": skipped, "files": {name: files[indices].tolist() for name, indices in parts.items()}}
    return {name: (images[indices], labels[indices]) for name, indices in parts.items()}, record
