"""MNIST idx files: written and read back, raw and gzip; malformed files refused by name."""

import numpy as np
import pytest

from siamese_caffe.data import mnist_idx
from siamese_caffe.errors import BadInputError


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"])
def test_round_trip(tmp_path, name):
    images = np.random.default_rng(0).integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
    mnist_idx.write_idx(str(tmp_path / name), images)
    back = mnist_idx.read_idx(str(tmp_path / name))
    assert back.shape == (4, 5, 3)
    np.testing.assert_array_equal(back, images)


def test_header_is_mnist_layout():
    data = mnist_idx.idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert data[:4] == b"\x00\x00\x08\x03"
    assert data[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    assert len(data) == 16 + 2 * 28 * 28


@pytest.mark.parametrize("raw,message", [
    (b"\x01\x02\x08\x01\x00\x00\x00\x01\x00", "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01\x00\x00\x00\x00", "not uint8"),
    (b"\x00\x00\x08\x01\x00\x00\x00\x05\x01\x02", "holds 2 bytes"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated"),
])
def test_malformed_files_are_refused_naming_the_file(tmp_path, raw, message):
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(raw)
    with pytest.raises(BadInputError, match=message) as caught:
        mnist_idx.read_idx(str(path))
    assert str(path) in str(caught.value)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(BadInputError, match="cannot read idx file"):
        mnist_idx.read_idx(str(path))


def test_part_needs_matching_label_count(tmp_path):
    mnist_idx.write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), np.zeros((3, 2, 2), np.uint8))
    mnist_idx.write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), np.zeros(2, np.uint8))
    with pytest.raises(BadInputError, match="2 labels for 3 images"):
        mnist_idx.read_mnist_part(str(tmp_path), "train")
    assert mnist_idx.read_mnist_part(str(tmp_path), "t10k") is None
