"""Writes that fail for lack of room name the file and leave nothing half-written."""

from __future__ import annotations

import errno
import os

import pytest

from synthset.errors import SynthsetError
from synthset.io import names_a_full_disk, write_atomically


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
    OSError(errno.EFBIG, os.strerror(errno.EFBIG)),
    # h5py's way: no errno attribute, the C library's in the message
    OSError(f"Can't synchronously write data (file write failed: errno = 28, error message = '{os.strerror(errno.ENOSPC)}')"),
])
def test_no_room_names_the_file_and_removes_the_partial_one(tmp_path, error):
    target = tmp_path / "class_0.npz"
    target.write_bytes(b"the previous, complete version")
    with pytest.raises(SynthsetError, match=rf"{target}: (No space left on device|File too large) while writing it"):
        with write_atomically(target) as partial:
            partial.write_bytes(b"half of it")
            raise error
    assert target.read_bytes() == b"the previous, complete version"
    assert list(tmp_path.iterdir()) == [target]


def test_other_os_errors_pass_through_unchanged(tmp_path):
    with pytest.raises(PermissionError):
        with names_a_full_disk(tmp_path / "x"):
            raise PermissionError(errno.EACCES, "Permission denied")
