"""The wrapped nets load in real Caffe and read what create-db wrote."""

import lmdb
import numpy as np
import pytest

from siamese_caffe.runtime import prototxt
from siamese_caffe.net import wrap

import netvariants


def write(net, tmp_path, name):
    path = str(tmp_path / name)
    prototxt.write_text(path, net)
    return path


def lmdb_records(path, count):
    with lmdb.open(path, readonly=True, lock=False) as env, env.begin() as txn:
        cursor = txn.cursor()
        cursor.first()
        return [bytes(value) for _, (key, value) in zip(range(count), cursor)]


def read_mean(caffe, path):
    blob = caffe.proto.caffe_pb2.BlobProto()
    with open(path, "rb") as f:
        blob.ParseFromString(f.read())
    return caffe.io.blobproto_to_array(blob)[0]


@pytest.mark.parametrize("phase_name, db_phase, batch", [("TRAIN", "train", 16), ("TEST", "val", 8)])
def test_train_val_feeds_mean_subtracted_pairs_and_their_labels(caffe, tmp_path, user_net, dataset,
                                                                 phase_name, db_phase, batch):
    path = write(wrap.train_val_net(user_net, dataset, 16, 8), tmp_path, "train_val.prototxt")
    stage = "train" if phase_name == "TRAIN" else "val"
    net = caffe.Net(path, getattr(caffe, phase_name), stages=[stage])
    net.forward()
    assert net.blobs["data"].data.shape == (batch, 3, 28, 28)
    assert net.blobs["label"].data.shape == (batch, 1, 1, 1)
    image_db, label_db = dataset.dbs[db_phase]
    mean = read_mean(caffe, dataset.mean_file)      # the training mean, in both phases
    for i, raw in enumerate(lmdb_records(image_db, batch)):
        datum = caffe.proto.caffe_pb2.Datum.FromString(raw)
        pair = np.frombuffer(datum.data, np.uint8).reshape(datum.channels, datum.height,
                                                           datum.width)
        expected = pair.astype(np.float32) - mean
        np.testing.assert_allclose(net.blobs["data"].data[i], expected, atol=1e-4)
    labels = [caffe.proto.caffe_pb2.Datum.FromString(r).float_data[0]
              for r in lmdb_records(label_db, batch)]
    np.testing.assert_array_equal(net.blobs["label"].data.reshape(-1), labels)
    assert set(labels) <= {0.0, 1.0}


def test_deploy_net_has_no_label_or_loss(caffe, tmp_path, user_net):
    net = caffe.Net(write(wrap.deploy_net(user_net, (3, 28, 28)), tmp_path, "deploy.prototxt"),
                    caffe.TEST)
    assert "label" not in net.blobs and "loss" not in net.blobs
    assert net.blobs["data"].data.shape == (1, 3, 28, 28)
    assert sorted(net.outputs) == ["feat_left", "feat_right"]
    assert net.blobs["feat_left"].data.shape == (1, 2)


def test_deploy_gives_the_train_nets_features_for_the_same_weights(caffe, tmp_path, user_net,
                                                                   dataset):
    train_val = caffe.Net(write(wrap.train_val_net(user_net, dataset, 16, 8), tmp_path, "tv"),
                          caffe.TEST, stages=["val"])
    train_val.forward()
    weights = str(tmp_path / "w.caffemodel")
    train_val.save(weights)
    deploy = caffe.Net(write(wrap.deploy_net(user_net, (3, 28, 28)), tmp_path, "deploy"),
                       caffe.TEST, weights=weights)
    for i in range(3):
        deploy.blobs["data"].data[0] = train_val.blobs["data"].data[i]
        out = deploy.forward()
        for blob in ("feat_left", "feat_right"):
            np.testing.assert_allclose(out[blob][0], train_val.blobs[blob].data[i], rtol=1e-5,
                                       atol=1e-6)


def test_deploy_drops_everything_fed_by_the_label(user_net, network_text):
    text = network_text + """
    layer { name: "label_copy" type: "Power" bottom: "label" top: "label2" }
    layer { name: "label_use" type: "Eltwise" bottom: "label2" bottom: "label2" top: "label3" }
    layer { name: "feat_sum" type: "Eltwise" bottom: "feat_left" bottom: "feat_right" top: "both" }
    """
    net = prototxt.parse_text(text, prototxt.caffe_pb2().NetParameter(), "net")
    names = [layer.name for layer in wrap.deploy_layers(net)]
    assert "loss" not in names and "label_copy" not in names and "label_use" not in names
    assert "feat_sum" in names and "slice_pair" in names


def test_three_dimensional_variant_deploys_to_3d_points(caffe, tmp_path, network_text):
    net = prototxt.parse_text(netvariants.features(network_text, 3, 2),
                              prototxt.caffe_pb2().NetParameter(), "net")
    deploy = caffe.Net(write(wrap.deploy_net(net, (3, 28, 28)), tmp_path, "d"), caffe.TEST)
    assert deploy.forward()["feat_left"].shape == (1, 3)
