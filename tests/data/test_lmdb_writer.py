"""Batched LMDB writing grows its map by itself and keeps every record."""

import lmdb

from siamese_caffe.data.lmdb_writer import LmdbWriter, estimate_map_size


def test_map_size_doubles_until_the_batches_fit(tmp_path):
    value = bytes(range(256)) * 10                   # 2560-byte records, like MNIST pairs
    with LmdbWriter(str(tmp_path / "db"), map_size=64 * 1024) as writer:
        for start in range(0, 300, 100):
            writer.append([(b"%08d" % i, value) for i in range(start, start + 100)])
        assert writer.env.info()["map_size"] > 64 * 1024
    env = lmdb.open(str(tmp_path / "db"), readonly=True, lock=False)
    with env.begin() as txn:
        keys = [k for k, _ in txn.cursor()]
        assert keys == [b"%08d" % i for i in range(300)] and txn.get(b"00000299") == value


def test_estimate_fits_mnist_pairs_without_growing(tmp_path):
    size = estimate_map_size(2000, 2372, 8)
    with LmdbWriter(str(tmp_path / "db"), map_size=size) as writer:
        writer.append([(b"%08d" % i, b"x" * 2372) for i in range(2000)])
        assert writer.env.info()["map_size"] == size
