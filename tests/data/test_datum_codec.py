"""The hand-built record bytes are exactly what Caffe's own protobuf classes write."""

import numpy as np
import pytest

from siamese_caffe.data import datum_codec

# caffe.io itself calls numpy APIs deprecated since numpy 1.x
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:caffe.io")


@pytest.mark.parametrize("height,width", [(28, 28), (130, 7), (1, 1)])
def test_pair_records_equal_array_to_datum_bytes(caffe, height, width):
    rng = np.random.default_rng(height)
    images = rng.integers(0, 256, size=(6, height, width), dtype=np.uint8)
    left, right = np.array([0, 5, 2, 2]), np.array([1, 5, 3, 0])
    records = datum_codec.pair_datum_records(images, left, right)
    for row, a, b in zip(records, left, right):
        pair = np.stack([images[a], images[b], np.zeros_like(images[a])])
        # what DIGITS stored: caffe.io.array_to_datum(pair, -1)
        assert row.tobytes() == caffe.io.array_to_datum(pair, -1).SerializeToString()


@pytest.mark.parametrize("value,encoded", [(1.0, datum_codec.SAME_CLASS),
                                           (0.0, datum_codec.DIFFERENT_CLASS)])
def test_label_datum_bytes_equal_caffe_pb2(caffe, value, encoded):
    from caffe.proto import caffe_pb2

    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = 1, 1, 1
    datum.float_data.append(value)
    assert encoded == datum.SerializeToString()
    parsed = caffe_pb2.Datum.FromString(encoded)
    assert list(parsed.float_data) == [value] and not parsed.data


def test_blobproto_bytes_equal_caffe_pb2_and_load_back(caffe):
    from caffe.proto import caffe_pb2

    mean = np.random.default_rng(3).uniform(0, 255, size=(3, 5, 130))
    blob = caffe_pb2.BlobProto()
    blob.num, blob.channels, blob.height, blob.width = 1, 3, 5, 130
    blob.data.extend(mean.astype(np.float32).flat)
    encoded = datum_codec.blobproto_bytes(mean)
    assert encoded == blob.SerializeToString()
    back = caffe.io.blobproto_to_array(caffe_pb2.BlobProto.FromString(encoded))
    assert back.shape == (1, 3, 5, 130)
    np.testing.assert_array_equal(back[0], mean.astype(np.float32))


def test_varint_matches_protobuf_for_negative_and_multibyte_values():
    assert datum_codec.varint(0) == b"\x00"
    assert datum_codec.varint(300) == b"\xac\x02"
    assert datum_codec.varint(-1) == b"\xff" * 9 + b"\x01"
