"""--mean and --crop-size as Caffe's DataTransformer applies them in the wrapped nets."""

import lmdb
import numpy as np
import pytest

from siamese_caffe.data import mean_files
from siamese_caffe.errors import BadInputError
from siamese_caffe.runtime import prototxt
from siamese_caffe.net import transform, wrap


def first_pairs(path, count):
    """The first `count` records of an image LMDB as (count, 3, H, W) uint8."""
    pb2 = prototxt.caffe_pb2()
    pairs = []
    with lmdb.open(path, readonly=True, lock=False) as env, env.begin() as txn:
        for _, (_, value) in zip(range(count), txn.cursor()):
            datum = pb2.Datum.FromString(bytes(value))
            pairs.append(np.frombuffer(datum.data, np.uint8).reshape(
                datum.channels, datum.height, datum.width))
    return np.stack(pairs).astype(np.float32)


def build(caffe, tmp_path, user_net, dataset, crop, phase, stage):
    path = str(tmp_path / "train_val.prototxt")
    prototxt.write_text(path, wrap.train_val_net(user_net, dataset, 8, 8, crop))
    net = caffe.Net(path, phase, stages=[stage])
    net.forward()
    return net


@pytest.mark.parametrize("mode", ["pixel", "none"])
def test_pixel_and_no_mean_reach_the_net_as_caffe_applies_them(caffe, tmp_path, user_net,
                                                               dataset, mode):
    mean_image = mean_files.read_binaryproto(dataset.mean_file)
    crop = transform.make_transform(mode, None, dataset.image_shape, mean_image)
    net = build(caffe, tmp_path, user_net, dataset, crop, caffe.TEST, "val")
    pairs = first_pairs(dataset.dbs["val"][0], 8)
    expected = pairs - (mean_image.reshape(3, -1).mean(axis=1)[:, None, None]
                        if mode == "pixel" else 0)
    np.testing.assert_allclose(net.blobs["data"].data, expected, atol=1e-3)
    layer = wrap.train_val_net(user_net, dataset, 8, 8, crop).layer[0]
    assert not layer.transform_param.mean_file
    assert len(layer.transform_param.mean_value) == (3 if mode == "pixel" else 0)


def test_crop_is_centred_in_validation_and_random_in_training(caffe, tmp_path, user_net,
                                                               dataset):
    mean_image = mean_files.read_binaryproto(dataset.mean_file)
    crop = transform.make_transform("image", 24, dataset.image_shape)
    val = build(caffe, tmp_path, user_net, dataset, crop, caffe.TEST, "val")
    pairs = first_pairs(dataset.dbs["val"][0], 8) - mean_image
    assert val.blobs["data"].data.shape == (8, 3, 24, 24)
    np.testing.assert_allclose(val.blobs["data"].data, pairs[:, :, 2:26, 2:26], atol=1e-3)
    np.testing.assert_allclose(crop.centre_crop(pairs), val.blobs["data"].data, atol=1e-3)

    train = build(caffe, tmp_path, user_net, dataset, crop, caffe.TRAIN, "train")
    pairs = first_pairs(dataset.dbs["train"][0], 8) - mean_image
    offsets = set()
    for got, pair in zip(train.blobs["data"].data, pairs):
        found = [(y, x) for y in range(5) for x in range(5)
                 if np.allclose(got, pair[:, y:y + 24, x:x + 24], atol=1e-3)]
        assert found, "a training input is no 24 x 24 crop of its pair"
        offsets.update(found)
    assert len(offsets) > 1                       # not always the same place


def test_a_crop_larger_than_the_image_is_refused_in_one_line():
    with pytest.raises(BadInputError) as err:
        transform.make_transform("image", 29, (3, 28, 28))
    assert str(err.value) == ("--crop-size: a 29 x 29 crop is larger than the dataset's "
                              "28 x 28 images")
    with pytest.raises(BadInputError, match="--mean: expected one of image, pixel, none"):
        transform.make_transform("mean", None, (3, 28, 28))
