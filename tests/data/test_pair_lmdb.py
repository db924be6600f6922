"""Pair and label records land under the same keys, batch after batch."""

import lmdb
import numpy as np
import pytest

from siamese_caffe.data import pair_lmdb

# caffe.io itself calls numpy APIs deprecated since numpy 1.x
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:caffe.io")


def test_small_batches_write_every_pair_under_matching_keys(caffe, tmp_path):
    from caffe.proto import caffe_pb2

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 4, 6), dtype=np.uint8)
    left, right = rng.integers(0, 5, 10), rng.integers(0, 5, 10)
    same = left % 2 == right % 2
    digits, fingerprint = pair_lmdb.write_pair_dbs(str(tmp_path / "img"), str(tmp_path / "lab"),
                                                   images, left, right, same, batch_records=3)
    assert digits == 8
    again = pair_lmdb.write_pair_dbs(str(tmp_path / "img2"), str(tmp_path / "lab2"), images,
                                     left, right, same, batch_records=4)
    assert again == (8, fingerprint)      # the fingerprint is the content's, not the batching's
    read = {}
    for name in ("img", "lab"):
        env = lmdb.open(str(tmp_path / name), readonly=True, lock=False)
        with env.begin() as txn:
            read[name] = list(txn.cursor())
    assert [k for k, _ in read["img"]] == [k for k, _ in read["lab"]] == [
        b"%08d" % i for i in range(10)]
    for k, ((_, pair), (_, label)) in enumerate(zip(read["img"], read["lab"])):
        array = caffe.io.datum_to_array(caffe_pb2.Datum.FromString(pair))
        np.testing.assert_array_equal(array[0], images[left[k]])
        np.testing.assert_array_equal(array[1], images[right[k]])
        assert caffe_pb2.Datum.FromString(label).float_data[0] == float(same[k])


def test_keys_widen_past_eight_digits_only_when_needed():
    assert pair_lmdb.key_digits(1) == 8 and pair_lmdb.key_digits(10**8) == 8
    assert pair_lmdb.key_digits(10**8 + 1) == 9
