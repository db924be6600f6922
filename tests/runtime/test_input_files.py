"""input_files.read_bytes: a regular file's bytes whole, whatever its size says, within the limit."""

import os

import pytest

from siamese_caffe.errors import BadInputError
from siamese_caffe.runtime import input_files


@pytest.mark.parametrize("size", [0, 1, 384, 4096, 5000, (1 << 20) + 3])
def test_a_file_is_read_whole(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert input_files.read_bytes(str(path), 1 << 21) == data


def test_a_file_whose_size_says_less_is_read_whole_and_still_bounded():
    """/proc files say they are empty yet hold text: every byte is read, up to the limit."""
    text = open("/proc/self/mounts", "rb").read()
    assert len(input_files.read_bytes("/proc/self/mounts", len(text) + 4096)) >= len(text) - 200
    with pytest.raises(BadInputError, match="over the 0 MB limit"):
        input_files.read_bytes("/proc/self/mounts", 10)


def test_a_file_over_the_limit_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 11)
    assert input_files.read_bytes(str(path), 11) == b"x" * 11
    with pytest.raises(BadInputError, match=r"big.bin: cannot read file: 0.0 MB, over the"):
        input_files.read_bytes(str(path), 10)
