"""A dataset folder is checked piece by piece before training touches it."""

import os
import shutil

import numpy as np
import pytest

from siamese_caffe.data import datasets, mean_files
from siamese_caffe.errors import BadInputError


@pytest.fixture
def copy_of_db(small_pair_db, tmp_path):
    folder = tmp_path / "db"
    shutil.copytree(small_pair_db, folder)
    return str(folder)


def test_a_create_db_folder_is_read(small_pair_db):
    ds = datasets.load_dataset(small_pair_db)
    assert ds.image_shape == (3, 28, 28)
    assert ds.counts == {"train": 320, "val": 96}
    assert ds.dbs["val"] == (os.path.join(small_pair_db, "val_images"),
                             os.path.join(small_pair_db, "val_labels"))
    assert ds.mean_file == os.path.join(small_pair_db, "train_mean.binaryproto")


@pytest.mark.parametrize("piece", ["val_labels", "train_images", "train_mean.binaryproto",
                                   "dataset.json"])
def test_missing_piece_is_named(copy_of_db, piece):
    path = os.path.join(copy_of_db, piece)
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    with pytest.raises(BadInputError) as err:
        datasets.load_dataset(copy_of_db)
    assert piece.split(".")[0] in str(err.value) or copy_of_db in str(err.value)


def test_mean_of_another_shape(copy_of_db):
    mean_files.write_binaryproto(os.path.join(copy_of_db, "train_mean.binaryproto"),
                                 np.zeros((3, 32, 32)))
    with pytest.raises(BadInputError, match="the mean is 1x3x32x32 but the pairs are 3x28x28"):
        datasets.load_dataset(copy_of_db)


def test_label_db_out_of_step(copy_of_db, small_pair_db):
    shutil.rmtree(os.path.join(copy_of_db, "train_labels"))
    shutil.copytree(os.path.join(small_pair_db, "val_labels"),
                    os.path.join(copy_of_db, "train_labels"))
    with pytest.raises(BadInputError, match="320 image records but 96 label records"):
        datasets.load_dataset(copy_of_db)


def test_not_a_dataset(tmp_path):
    with pytest.raises(BadInputError, match="no such dataset folder"):
        datasets.load_dataset(str(tmp_path / "nowhere"))
    with pytest.raises(BadInputError, match="dataset.json is missing"):
        datasets.load_dataset(str(tmp_path))
