"""create_db(): the pair dataset Caffe trains on, read back through real Caffe."""

import json
import os

import lmdb
import numpy as np
import pytest

from siamese_caffe.data import image_sources
from siamese_caffe.data.create_db import create_db
from siamese_caffe.errors import BadInputError

# caffe.io itself calls numpy APIs deprecated since numpy 1.x
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:caffe.io")


@pytest.fixture(scope="module")
def digits():
    return image_sources.builtin_mnist()


@pytest.fixture(scope="module")
def dataset(digits, tmp_path_factory):
    """A small dataset from the built-in digits: 30 train pairs, 12 validation pairs."""
    folder = tmp_path_factory.mktemp("made") / "siamesedb"
    manifest = create_db(str(folder), digits, count=30, val_count=12, seed=7)
    return folder, manifest


def read_db(path):
    """[(key, value)] of an LMDB in key order."""
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        items = list(txn.cursor())
    env.close()
    return items


def decode_pairs(caffe, folder, phase):
    """(pairs (K, 3, H, W) uint8, labels (K,) float, keys) of a phase, parsed with caffe_pb2."""
    from caffe.proto import caffe_pb2

    images, labels = read_db(folder / f"{phase}_images"), read_db(folder / f"{phase}_labels")
    assert [k for k, _ in images] == [k for k, _ in labels]
    pairs = np.stack([caffe.io.datum_to_array(caffe_pb2.Datum.FromString(v)) for _, v in images])
    sims = np.array([caffe_pb2.Datum.FromString(v).float_data[0] for _, v in labels])
    return pairs, sims, [k for k, _ in images]


def two_data_layer_net(folder, phase, batch):
    return f"""
    layer {{ name: "pair" type: "Data" top: "pair"
            transform_param {{ mean_file: "{folder}/{phase}_mean.binaryproto" }}
            data_param {{ source: "{folder}/{phase}_images" backend: LMDB batch_size: {batch} }} }}
    layer {{ name: "label" type: "Data" top: "sim"
            data_param {{ source: "{folder}/{phase}_labels" backend: LMDB batch_size: {batch} }} }}
    """


def test_caffe_data_layers_read_the_pairs_and_labels_in_lock_step(caffe, net_from_text, dataset,
                                                                  digits):
    folder, manifest = dataset
    stored, sims, keys = decode_pairs(caffe, folder, "train")
    assert len(stored) == 30 and keys[0] == b"00000000" and keys[-1] == b"00000029"
    mean = caffe.io.blobproto_to_array(
        caffe.proto.caffe_pb2.BlobProto.FromString((folder / "train_mean.binaryproto").read_bytes()))[0]
    net = net_from_text(two_data_layer_net(folder, "train", 8))
    for batch in range(5):  # 40 records: wraps around the 30 pairs, as training does
        net.forward()
        rows = [(batch * 8 + i) % 30 for i in range(8)]
        np.testing.assert_allclose(net.blobs["pair"].data, stored[rows] - mean, atol=1e-4)
        np.testing.assert_array_equal(net.blobs["sim"].data.reshape(8), sims[rows])
    # every stored pair is two source digits in blue and green, red empty, label = same class?
    label_of = {img.tobytes(): lab for img, lab in zip(digits.images, digits.labels)}
    for pair, sim in zip(stored, sims):
        assert not pair[2].any()
        assert sim == float(label_of[pair[0].tobytes()] == label_of[pair[1].tobytes()])
    assert manifest["train"]["same_class_pairs"] == int(sims.sum())


def test_mean_file_is_the_float_mean_of_the_stored_pairs(caffe, dataset):
    folder, _ = dataset
    for phase in ("train", "val"):
        stored, _, _ = decode_pairs(caffe, folder, phase)
        blob = caffe.proto.caffe_pb2.BlobProto.FromString(
            (folder / f"{phase}_mean.binaryproto").read_bytes())
        mean = caffe.io.blobproto_to_array(blob)
        assert mean.shape == (1, 3, 28, 28)
        np.testing.assert_allclose(mean[0], stored.mean(axis=0), rtol=1e-6)
        assert not np.array_equal(mean[0], np.floor(mean[0]))


def test_layout_and_manifest(dataset):
    folder, manifest = dataset
    expected = {"train_images", "train_labels", "val_images", "val_labels", "dataset.json",
                "train_mean.binaryproto", "val_mean.binaryproto", "train_mean.png", "val_mean.png"}
    assert expected <= set(os.listdir(folder))
    assert json.loads((folder / "dataset.json").read_text()) == manifest
    assert manifest["seed"] == 7 and manifest["pairing"] == "uniform"
    assert manifest["train"]["pairs"] == 30 and manifest["val"]["pairs"] == 12
    assert manifest["source"]["validation"] == "held-out split"
    assert not [n for n in os.listdir(folder.parent) if n.startswith(".")]  # no temp left


def test_validation_pairs_use_only_held_out_images(caffe, dataset, digits):
    folder, manifest = dataset
    held = set(manifest["source"]["held_out"]["indices"])
    assert len(held) == 500  # 10 % of each class of the 5000 digits
    index_of = {img.tobytes(): i for i, img in enumerate(digits.images)}
    for phase, inside in (("val", True), ("train", False)):
        stored, _, _ = decode_pairs(caffe, folder, phase)
        used = {index_of[p[c].tobytes()] for p in stored for c in (0, 1)}
        assert (used <= held) if inside else not (used & held)


def test_same_seed_same_databases_other_seed_differs(digits, tmp_path):
    made = [create_db(str(tmp_path / name), digits, count=25, val_count=5, seed=seed)
            for name, seed in (("a", 3), ("b", 3), ("c", 4))]
    undated = [{k: v for k, v in m.items() if k != "created"} for m in made]
    assert undated[0] == undated[1]      # the same but for the second it was made in
    for db in ("train_images", "train_labels", "val_images", "val_labels"):
        assert read_db(tmp_path / "a" / db) == read_db(tmp_path / "b" / db)
    assert read_db(tmp_path / "a" / "train_images") != read_db(tmp_path / "c" / "train_images")


def test_existing_folder_is_refused_and_force_replaces_only_a_dataset(digits, tmp_path):
    target = tmp_path / "db"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match="already exists"):
        create_db(str(target), digits, count=5, val_count=5, seed=1)
    with pytest.raises(BadInputError, match="did not make"):
        create_db(str(target), digits, count=5, val_count=5, seed=1, force=True)
    assert os.listdir(target) == ["keep.txt"]
    made = tmp_path / "made"
    create_db(str(made), digits, count=5, val_count=5, seed=1)
    create_db(str(made), digits, count=5, val_count=6, seed=1, force=True)
    assert "train_images" in os.listdir(made)
    (made / "notes.txt").write_text("mine")
    with pytest.raises(BadInputError, match="holds notes.txt"):
        create_db(str(made), digits, count=5, val_count=5, seed=1, force=True)
    assert (made / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["db", "made"]


def test_test_pngs_are_the_first_pairs_of_each_kind_in_rgb(caffe, dataset):
    import PIL.Image

    folder, manifest = dataset
    for phase in ("train", "val"):
        stored, sims, _ = decode_pairs(caffe, folder, phase)
        for kind, wanted in (("same_class", 1.0), ("different_class", 0.0)):
            rows = np.flatnonzero(sims == wanted)[:10]
            assert manifest[phase]["test_images"][kind] == [
                f"{phase}_test_{kind}_{i}.png" for i in range(len(rows))]
            for i, row in enumerate(rows):
                picture = PIL.Image.open(folder / f"{phase}_test_{kind}_{i}.png")
                assert picture.mode == "RGB"
                rgb = np.asarray(picture)
                np.testing.assert_array_equal(rgb[..., 2], stored[row, 0])  # blue: first image
                np.testing.assert_array_equal(rgb[..., 1], stored[row, 1])  # green: second
                assert not rgb[..., 0].any()


def test_mean_png_is_the_mean_in_rgb_once(caffe, dataset):
    import PIL.Image

    folder, _ = dataset
    blob = caffe.proto.caffe_pb2.BlobProto.FromString((folder / "val_mean.binaryproto").read_bytes())
    mean = caffe.io.blobproto_to_array(blob)[0]
    rgb = np.asarray(PIL.Image.open(folder / "val_mean.png"))
    assert rgb.shape == (28, 28, 3)
    np.testing.assert_array_equal(rgb, np.rint(mean[::-1].transpose(1, 2, 0)).astype(np.uint8))


def test_an_interrupted_build_leaves_nothing(digits, tmp_path, monkeypatch):
    from siamese_caffe.data import pair_pictures

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(pair_pictures, "save_picture", interrupt)
    with pytest.raises(KeyboardInterrupt):
        create_db(str(tmp_path / "db"), digits, count=5, val_count=5, seed=1)
    assert os.listdir(tmp_path) == []
