"""The MNIST download keeps only files with the published checksum (local file:// mirrors;
no test touches the network)."""

import hashlib

import pytest

from siamese_caffe.data import mnist_download


@pytest.fixture
def mirrors(tmp_path, monkeypatch):
    """A bad mirror (wrong bytes), a good one, and FILES' checksums set to the good bytes."""
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    sums = {}
    for name in mnist_download.FILES:
        (bad / name).write_bytes(b"tampered " + name.encode())
        (good / name).write_bytes(b"genuine " + name.encode())
        sums[name] = hashlib.md5(b"genuine " + name.encode()).hexdigest()
    monkeypatch.setattr(mnist_download, "FILES", sums)
    return bad.as_uri() + "/", good.as_uri() + "/"


def test_a_file_with_the_wrong_checksum_is_discarded_and_the_next_mirror_used(tmp_path, mirrors):
    lines = []
    paths = mnist_download.download_mnist(str(tmp_path / "idx"), mirrors=mirrors, log=lines.append)
    for name, path in paths.items():
        assert open(path, "rb").read() == b"genuine " + name.encode()
    assert len(lines) == 8 and sorted(p.name for p in (tmp_path / "idx").iterdir()) == sorted(paths)


def test_no_good_mirror_is_an_error_naming_the_file_and_leaves_no_part_file(tmp_path, mirrors):
    with pytest.raises(mnist_download.DownloadError, match="train-images-idx3-ubyte.gz.*MD5"):
        mnist_download.download_mnist(str(tmp_path / "idx"), mirrors=mirrors[:1], log=print)
    assert list((tmp_path / "idx").iterdir()) == []

