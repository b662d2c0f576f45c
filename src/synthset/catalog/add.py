"""``synthset datasets add NAME SOURCE``: a folder of labelled images becomes a dataset of ``params.yaml``.

It looks at the images (classes, images per class, sizes, modes, duplicates), chooses every
setting from what it saw and a CPU time budget, says why, and writes the dataset's blocks into
``params.yaml`` with ruamel (comments and layout kept), then imports the images into
``data/NAME`` for DVC. Nothing else changes: the pipeline's stages run for every dataset of
``datasets``. Run again on a dataset that exists, it says what changed in the source since the
import and imports it again (the settings stay as they are).
"""

from __future__ import annotations

import hashlib
import io
import math
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthset import config, paths
from synthset.datasets import image_folder
from synthset.errors import SynthsetError
from synthset.io import write_atomically

GREY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"})
# One GAN step (batch 8, 64x64 RGB, the FIDS30 default's networks) took 78 ms on one core
# (benchmarks/gan_step.py); a step is taken to cost in proportion to pixels x sqrt(batch).
REFERENCE_STEP_SECONDS, REFERENCE_SIDE, REFERENCE_BATCH = 0.078, 64, 8
WORKERS = 2  # the GAN stage trains one class per core
SCALES_WRITTEN = ("default", "paper", "tiny")
HOLDOUT_FROM = 250  # training images per class from which some are held out for model selection


@dataclass
class Inspection:
    """What ``datasets add`` saw in a source."""

    classes: list[str]
    counts: dict[str, int]
    sides: list[int]  # each readable image's shorter side
    aspect: list[float]  # each readable image's long / short side
    modes: Counter
    unreadable: list[str]
    duplicates: int  # images identical (sha256) to an earlier one of the same class
    ignored: Counter = field(default_factory=Counter)
    nested: int = 0

    @property
    def grey(self) -> bool:
        return bool(self.modes) and set(self.modes) <= GREY_MODES


def inspect_source(source: Path, name: str, classes: list[str] | None = None) -> Inspection:
    """Read every image's header (not its pixels): counts, sizes, modes; the same image in two
    classes is refused, naming both."""
    from PIL import Image

    listing = image_folder.list_source(source, name, classes)
    sides, aspect, modes, unreadable, duplicates, seen = [], [], Counter(), [], 0, {}
    for label, members in listing.by_class.items():
        in_class = set()
        for member, read in members.items():
            data = read()
            digest = hashlib.sha256(data).hexdigest()
            where = f"{label}/{member}"
            image_folder.note_class(seen, digest, where, f"{label}/", f"{name}.data.source '{source}'")
            duplicates += digest in in_class
            in_class.add(digest)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
                    modes[image.mode] += 1
            except Exception:  # noqa: BLE001 - Pillow raises many types on malformed bytes
                unreadable.append(where)
                continue
            sides.append(min(width, height))
            aspect.append(max(width, height) / max(min(width, height), 1))
    counts = {label: len(members) for label, members in listing.by_class.items()}
    return Inspection(list(listing.by_class), counts, sides, aspect, modes, unreadable, duplicates,
                      listing.ignored, listing.nested)


@dataclass
class Choice:
    """The settings chosen for one dataset, each with why."""

    blocks: dict[str, Any]  # NAME's own block: data, gan, quality, sweep
    scales: dict[str, dict[str, Any]]  # scale -> scales.<scale>.NAME
    reasons: list[tuple[str, str, str]]  # (setting, value, why)


def _upsamplings(side: int) -> int:
    """The fewest up-samplings (at least two, as the papers' generators) to a first square of at most 16."""
    for count in range(2, 8):
        base = config.base_size(side, count)
        if base is not None and base <= 16:
            return count
    raise SynthsetError(f"image side {side}: no generator of 2 to 7 up-samplings reaches it from a square of at "
                        "most 16; choose a side such as 28, 32, 64 or 128 (--image-size)")


def choose(name: str, source: str, seen: Inspection, image_size: int | None, channels: int | None,
           gan_minutes: float) -> Choice:
    """Every setting of the new dataset from what the source holds and the GAN's time budget."""
    reasons: list[tuple[str, str, str]] = []

    def why(setting: str, value: Any, reason: str) -> Any:
        reasons.append((setting, str(value), reason))
        return value

    smallest, largest, total = min(seen.counts.values()), max(seen.counts.values()), sum(seen.counts.values())
    median_side = int(statistics.median(seen.sides)) if seen.sides else 64
    side = why("data.image_shape (side)", image_size or (32 if median_side < 48 else 64),
               "given" if image_size else f"median shorter side {median_side} px: "
               + ("32" if median_side < 48 else "64, what a CPU trains in minutes (128 with --image-size 128)"))
    colours = why("data.image_shape (channels)", channels or (1 if seen.grey else 3),
                  "given" if channels else f"image modes {dict(seen.modes)}: "
                  + ("all greyscale" if seen.grey else "colour present"))
    squareness = statistics.median(seen.aspect) if seen.aspect else 1.0
    resize = why("data.resize", "center_crop" if squareness > 1.2 else "squash",
                 f"median aspect ratio {squareness:.2f}: " + ("crop the middle square, keeping proportions"
                                                            if squareness > 1.2 else "near square, resize whole"))
    train_smallest = smallest - max(1, round(0.2 * smallest))
    # A holdout is worth its images when each half of it (reference, floor) has dozens of images.
    enough = train_smallest >= HOLDOUT_FROM
    holdout = why("data.holdout_per_class", min(500, max(50, train_smallest // 10)) if enough else 0,
                  f"smallest class {smallest} images: " + ("a tenth of its training images (at least 50)" if enough else
                                                           f"under {HOLDOUT_FROM} to train on: none held out; epoch "
                                                           "selection compares with the training images, as FIDS30 does"))
    reference = holdout // 2 if holdout else train_smallest
    feature_dim = 32 if total < 2000 else 64
    metric = why("quality.selection_metric", "fid" if reference >= 2 * feature_dim else "kid",
                 f"{reference} reference images per class against a {feature_dim}-wide feature space: "
                 + ("enough for FID's covariance" if reference >= 2 * feature_dim
                    else "FID's covariance would be singular; KID on small subsets is unbiased at any size"))
    nearest_k = 5 if reference >= 50 else 3
    upsamplings = _upsamplings(side)
    base_filters = (32 if colours == 1 else 64) * 2 ** (upsamplings - 2)
    generator_filters = [base_filters // 2 ** (i + 1) for i in range(upsamplings)]
    why("gan.generator.filters", generator_filters, f"{upsamplings} up-samplings from {side // 2 ** upsamplings}x"
        f"{side // 2 ** upsamplings} to {side}x{side}")
    convs = max(2, (side // 8).bit_length() - 1)
    discriminator_filters = [16 * 2 ** i for i in range(convs)]
    batch = why("gan.batch_size", _batch(train_smallest),
                f"smallest class has ~{train_smallest} training images: about four steps an epoch")
    # The shared GAN trains in one process, then the classes' GANs one per core: half the budget each.
    step_seconds = REFERENCE_STEP_SECONDS * (side / REFERENCE_SIDE) ** 2 * (batch / REFERENCE_BATCH) ** 0.5
    shared_steps = gan_minutes * 60 / 2 / step_seconds
    per_class_steps = gan_minutes * 60 / 2 * WORKERS / step_seconds / len(seen.classes)
    steps_per_epoch = max(1, -(-train_smallest // batch))
    epochs = why("gan.epochs", int(min(500, max(2, round(per_class_steps / steps_per_epoch)))),
                 f"{gan_minutes:g} GAN minutes at ~{step_seconds * 1000:.0f} ms a step (estimated): half for the "
                 f"classes' GANs, {WORKERS} at a time: ~{per_class_steps:.0f} steps each")
    train_total = total - sum(max(1, round(0.2 * n)) for n in seen.counts.values()) - holdout * len(seen.classes)
    shared_epochs = why("gan.shared_epochs", int(min(200, max(1, round(shared_steps / max(1, train_total // batch))))),
                        f"the other half: ~{shared_steps:.0f} steps on every class's images (kind shared_then_per_class)")
    kind = why("gan.kind", "shared_then_per_class",
               "what the classes share is learnt from all of them: the few-shot kind (docs/gans.md)")
    generated = why("generate.images_per_class", int(min(6000, max(300, 3 * largest))),
                    "three times the largest class, at least 300")
    classifier_batch = 12 if train_total < 1000 else 32
    classifier_epochs = why("classifier.epochs", int(min(48, max(3, round(1200 / max(1, train_total / classifier_batch))))),
                            f"about 1,200 steps of batch {classifier_batch} ({train_total} training images)")
    selection_epoch = "selected" if holdout else -1
    why("generate.epoch", selection_epoch, "the epoch chosen on held-out images" if holdout else
        "the last checkpoint: without a holdout, selection would favour copies of the training images")
    data = {"kind": "image_folder", "title": name, "paper": None, "source": source, "fetch_hint": None,
            "classes": list(seen.classes), "image_shape": [side, side, colours], "resize": resize,
            "on_corrupt": "skip", "validation_fraction": 0.2, "validation_source": None,
            "holdout_per_class": holdout}
    blocks = {
        "data": data,
        "gan": {"kind": kind, "generator": {"dropout": 0.4}, "discriminator": {"dropout": 0.4, "augment": []},
                "optimizer": "adam", "adam": {"beta_1": 0.5}},
        "quality": {"selection_metric": metric, "kid_subset_size": int(max(2, min(100, reference // 3))),
                    "nearest_k": nearest_k},
        "sweep": {"classes": list(seen.classes[:3])},
    }
    rates = {"adam": {"generator": {"learning_rate": 0.0005}, "discriminator": {"learning_rate": 0.0005}},
             "rmsprop": {"generator": {"learning_rate": 0.0004}, "discriminator": {"learning_rate": 0.0008}}}
    default = {
        "data": {},
        "gan": {"generator": {"base_filters": base_filters, "filters": generator_filters, "kernel_size": 3},
                "discriminator": {"filters": discriminator_filters, "strides": [2] * convs, "kernel_size": 3},
                **rates, "epochs": epochs, "shared_epochs": shared_epochs, "batch_size": batch,
                "train_images_per_class": None if largest <= 2000 else 2000,
                "sample_grid_size": 4 if smallest < 64 else 8, "checkpoint_every": max(1, epochs // 4),
                "jit_compile": False},
        "sweep": {"steps": int(max(2, round(per_class_steps))),
                  "space": {"batch_size": [batch],
                            "generator_widths": [[base_filters, *generator_filters],
                                                 [2 * base_filters, *(2 * f for f in generator_filters)]],
                            "discriminator_widths": [discriminator_filters, [2 * f for f in discriminator_filters]]}},
        "generate": {"images_per_class": generated, "epoch": selection_epoch, "pool": 1},
        "classifier": {"filters": [16, 32, 32, 64, 64], "dense_units": 128, "epochs": classifier_epochs,
                       "batch_size": classifier_batch, "train_images_per_class": None if largest <= 2000 else 2000,
                       "seeds": 2, "synthetic_per_class": {"alone": None, "mixed": max(1, train_smallest)}},
        "features": {"filters": [16, 32] if feature_dim == 32 else [32, 64, 128], "feature_dim": feature_dim,
                     "epochs": 20 if total < 2000 else 3, "batch_size": 32 if total < 2000 else 64,
                     "train_images_per_class": None},
        "intervals": {"gan_seeds": 1, "split_seeds": 1},
    }
    tiny_generator = [8] * upsamplings
    tiny = {
        "data": {},
        "gan": {"generator": {"base_filters": 8, "filters": tiny_generator, "kernel_size": 3},
                "discriminator": {"filters": [8] * convs, "strides": [2] * convs, "kernel_size": 3},
                **rates, "epochs": 2, "shared_epochs": 1, "batch_size": min(batch, 4), "train_images_per_class": None,
                "sample_grid_size": 2, "checkpoint_every": 1, "jit_compile": False},
        "sweep": {"steps": 2, "space": {"batch_size": [min(batch, 4)], "generator_widths": [[8, *tiny_generator]],
                                        "discriminator_widths": [[8] * convs]}},
        "generate": {"images_per_class": 8, "epoch": selection_epoch, "pool": 1},
        "classifier": {"filters": [4, 4, 4, 4, 4], "dense_units": 8, "epochs": 2, "batch_size": 4,
                       "train_images_per_class": None, "seeds": 1, "synthetic_per_class": {"alone": None, "mixed": None}},
        "features": {"filters": [4, 4], "feature_dim": 8, "epochs": 2, "batch_size": 8, "train_images_per_class": None},
        "intervals": {"gan_seeds": 1, "split_seeds": 1},
    }
    return Choice(blocks, {"default": default, "paper": default, "tiny": tiny}, reasons)


def _batch(train_smallest: int) -> int:
    """The power of two nearest a quarter of the smallest class's training images, from 4 to 64
    (FIDS30's ~28 photos: 8; MNIST's thousands: 64)."""
    return int(min(64, max(4, 2 ** round(math.log2(max(train_smallest / 4, 1))))))


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096  # the chosen lists are short: no wrapping inside a flow list
    yaml.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    return yaml


def _flow(value: Any, depth: int = 0) -> Any:
    """Nested values as ruamel nodes: lists and the innermost mappings in flow style, as params.yaml writes them."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, list):
        node = CommentedSeq(_flow(v, depth + 1) for v in value)
        node.fa.set_flow_style()
        return node
    if isinstance(value, dict):
        node = CommentedMap((k, _flow(v, depth + 1)) for k, v in value.items())
        if depth >= 1 and not any(isinstance(v, dict) for v in value.values()) and len(str(value)) < 90:
            node.fa.set_flow_style()
        return node
    return value


def add_to_params(params_file: Path, name: str, choice: Choice, comment: str) -> str:
    """``params.yaml`` with the dataset added to ``datasets``, its block after the last dataset's and
    one block in each scale; checked to load before it is returned."""
    import yaml as pyyaml

    yaml = _yaml()
    document = yaml.load(Path(params_file).read_text())
    document["datasets"].append(name)
    last_dataset = max(i for i, key in enumerate(document) if key not in config.RESERVED)
    document.insert(last_dataset + 1, name, _flow(choice.blocks))
    document.yaml_set_comment_before_after_key(name, before=comment, indent=0)
    for scale in SCALES_WRITTEN:
        document["scales"][scale][name] = _flow(choice.scales[scale])
    text = io.StringIO()
    yaml.dump(document, text)
    config.resolve(pyyaml.safe_load(text.getvalue()), str(params_file), dataset=name)  # refuse what would not load
    return text.getvalue()


def block_text(name: str, choice: Choice) -> str:
    """The blocks ``add`` would write, as YAML (``--dry-run``)."""
    yaml = _yaml()
    text = io.StringIO()
    yaml.dump({name: _flow(choice.blocks), "scales": {scale: {name: _flow(choice.scales[scale])}
                                                      for scale in SCALES_WRITTEN}}, text)
    return text.getvalue()


def describe(seen: Inspection, source: Path) -> str:
    sizes = (f"shorter side {min(seen.sides)}-{max(seen.sides)} px (median {int(statistics.median(seen.sides))})"
             if seen.sides else "no readable image")
    lines = [f"{source}: {sum(seen.counts.values())} images in {len(seen.classes)} classes; {sizes}; "
             f"modes {dict(seen.modes)}"]
    lines += [f"  {label}: {count}" for label, count in seen.counts.items()]
    notes = [f"{count} {reason}" for reason, count in seen.ignored.items()]
    if seen.nested:
        notes.append(f"{seen.nested} in sub-folders of their class folder (kept)")
    if seen.duplicates:
        notes.append(f"{seen.duplicates} identical to another image of their class (kept)")
    if seen.unreadable:
        notes.append(f"{len(seen.unreadable)} unreadable ({', '.join(seen.unreadable[:5])}"
                     + (", ..." if len(seen.unreadable) > 5 else "") + "): skipped (data.on_corrupt)")
    lines += [f"  passed over or noted: {note}" for note in notes]
    return "\n".join(lines)


def source_changes(spec: config.ImageFolderParams, name: str) -> dict[str, list[str]]:
    """What the source holds now against the imported copy's manifest (``data/NAME/SHA256SUMS``)."""
    manifest_file = paths.raw(name) / image_folder.MANIFEST_NAME
    old = image_folder.read_manifest(manifest_file) if manifest_file.is_file() else {}
    listing = image_folder.list_source(Path(spec.source), name, spec.classes, spec.fetch_hint)
    new = {f"{label}/{member}": hashlib.sha256(read()).hexdigest()
           for label, members in listing.by_class.items() for member, read in members.items()}
    old = {key: digest for key, digest in old.items() if not key.startswith(image_folder.VALIDATION_FOLDER + "/")}
    return image_folder.changes(old, new)


def run(params_file: Path, name: str, source: Path, classes: list[str] | None, image_size: int | None,
        channels: int | None, gan_minutes: float, dry_run: bool, track: bool = True) -> str:
    """Add ``name`` (or, when it exists, report and re-import its source); returns what was done."""
    raw = config.read(params_file)
    if name in config.dataset_names(raw):
        return _update(params_file, name, raw, dry_run, track)
    if name in config.RESERVED or not config.DATASET_NAME.fullmatch(name):
        raise SynthsetError(f"dataset name '{name}': use lower-case letters, digits and _, starting with a letter, "
                            f"and none of {', '.join(config.RESERVED)}")
    config.resolve(raw, str(params_file))  # the file as it is must load first
    seen = inspect_source(source, name, classes)
    if not seen.sides:
        raise SynthsetError(f"{source}: no readable image in any class")
    written_source = str(source) if not source.is_absolute() else str(source.resolve())
    choice = choose(name, written_source, seen, image_size, channels, gan_minutes)
    chosen = "\n".join(f"  {setting:28} {value:24} {reason}" for setting, value, reason in choice.reasons)
    report = f"{describe(seen, source)}\nchosen settings (and why):\n{chosen}"
    if dry_run:
        return f"{report}\n\n--dry-run: {params_file} is unchanged; it would get:\n{block_text(name, choice)}"
    comment = (f"{name}: {sum(seen.counts.values())} images in {len(seen.classes)} classes from {written_source}, "
               "settings chosen by `synthset datasets add` (docs/own-images.md)")
    text = add_to_params(params_file, name, choice, comment)
    with write_atomically(Path(params_file)) as partial:
        partial.write_text(text)
    spec = config.load(params_file).data_of(name)
    manifest = image_folder.import_source(spec, name, paths.raw(name))
    lines = [report, f"{params_file}: {name} added to `datasets`, with its settings",
             f"{name}: {len(manifest)} images copied to {paths.raw(name)}/"]
    if track:
        from synthset.hashes import track_data

        lines.append(track_data())
    lines.append(f"next: `synthset repro` (or `dvc repro`) runs study 1 on {name}; the report is reports/index.html")
    return "\n".join(lines)


def _update(params_file: Path, name: str, raw: dict, dry_run: bool, track: bool) -> str:
    """An existing dataset: what its source changed since the import, then (unless dry) import it again."""
    spec = config.load(params_file).data_of(name)
    if spec.kind != "image_folder":
        raise SynthsetError(f"{name} is a dataset of kind {spec.kind} in {params_file}, not an image folder")
    changed = source_changes(spec, name)
    if not any(changed.values()):
        return f"{name}: {spec.source} holds what {paths.raw(name)}/ holds; nothing to import"
    lines = [f"{name}: {spec.source} differs from the imported copy {paths.raw(name)}/ (which the pipeline reads):"]
    for what, files in changed.items():
        if files:
            lines.append(f"  {what}: {len(files)} ({', '.join(files[:5])}{', ...' if len(files) > 5 else ''})")
    if dry_run:
        return "\n".join([*lines, "--dry-run: nothing imported"])
    manifest = image_folder.import_source(spec, name, paths.raw(name))
    lines.append(f"{name}: imported again, {len(manifest)} images; its settings in {params_file} are unchanged")
    if track:
        from synthset.hashes import track_data

        lines.append(track_data())
    return "\n".join(lines)
