"""The GPU device check's helpers: bench/pairs_lmdb.py writes pair LMDBs that
Caffe's own protobuf classes read as this project's format, and reads k-NN accuracy
from `caffe test` logs."""

import json
import os
import subprocess
import sys

import numpy as np

import project_paths

ROOT = project_paths.ROOT
SCRIPT = os.path.join(ROOT, "bench", "pairs_lmdb.py")


def _digits(path, per_class=10):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), per_class)           # sorted by class, as the built-in
    images = rng.integers(0, 256, (len(labels), 28, 28), dtype=np.uint8)
    np.savez(path, images=images, labels=labels)
    return images, labels


def _run(*args):
    result = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_pair_lmdbs_are_caffe_datums_in_the_project_format(tmp_path):
    import lmdb
    from caffe.proto import caffe_pb2

    images, _ = _digits(tmp_path / "digits.npz")
    summary = _run("make", str(tmp_path / "digits.npz"), str(tmp_path / "db"),
                   "--pairs", "40", "--val-pairs", "8")
    assert summary["train"] == {"pairs": 40, "positive": 20}
    assert summary["knn_ref"] == 80 and summary["knn_query"] == 20
    with lmdb.open(str(tmp_path / "db" / "train_images"), readonly=True, lock=False) as env, \
            env.begin() as txn:
        keys = [key for key, _ in txn.cursor()]
        datum = caffe_pb2.Datum.FromString(txn.get(keys[0]))
    assert keys[0] == b"00000000" and len(keys) == 40
    assert (datum.channels, datum.height, datum.width) == (3, 28, 28)
    pair = np.frombuffer(datum.data, np.uint8).reshape(3, 28, 28)
    assert not pair[2].any()                                # red channel: zeros
    assert any((pair[0] == image).all() for image in images)
    with lmdb.open(str(tmp_path / "db" / "train_labels"), readonly=True, lock=False) as env, \
            env.begin() as txn:
        values = [caffe_pb2.Datum.FromString(raw).float_data[0] for _, raw in txn.cursor()]
    assert sorted(set(values)) == [0.0, 1.0] and sum(values) == 20
    mean = caffe_pb2.BlobProto.FromString((tmp_path / "db" / "train_mean.binaryproto").read_bytes())
    assert (mean.num, mean.channels, mean.height, mean.width) == (1, 3, 28, 28)
    assert len(mean.data) == 3 * 28 * 28 and max(mean.data[2 * 784:]) == 0


def test_knn_accuracy_from_caffe_test_logs(tmp_path):
    _digits(tmp_path / "digits.npz")
    _run("make", str(tmp_path / "digits.npz"), str(tmp_path / "db"), "--pairs", "4",
         "--val-pairs", "2")
    ref = np.load(tmp_path / "db" / "knn_ref_classes.npy")
    query = np.load(tmp_path / "db" / "knn_query_classes.npy")

    def log(classes, path):     # features = (class, 0): batches of 64, wrapping around
        values = np.stack([classes, np.zeros_like(classes)], 1).astype(float).ravel()
        batches = -(-len(classes) // 64)
        values = np.resize(values, batches * 64 * 2).reshape(batches, -1)
        path.write_text("".join(f"I0 caffe.cpp:304] Batch {b}, feat_left = {v}\n"
                                for b, row in enumerate(values) for v in row))
        return str(path)
    result = _run("knn", log(ref, tmp_path / "ref.log"), log(query, tmp_path / "query.log"),
                  str(tmp_path / "db"))
    assert result["knn_accuracy"] == 1.0
    assert result["reference"] == len(ref) and result["queries"] == len(query)
