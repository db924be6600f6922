"""prepare-mnist writes DIGITS' layout that create-db reads back as the same digits."""

import os

import numpy as np
import pytest

from siamese_caffe import cli
from siamese_caffe.data import image_sources, mnist_idx


@pytest.fixture(scope="module")
def digits():
    return image_sources.builtin_mnist()


def test_builtin_digits_become_png_folders_and_lists(tmp_path, capsys, digits):
    assert cli.main(["prepare-mnist", str(tmp_path / "mnist")]) == 0
    root = tmp_path / "mnist"
    assert (root / "labels.txt").read_text().split() == [str(d) for d in range(10)]
    first = (root / "train.txt").read_text().splitlines()[0]
    assert first == "train/0/00000.png 0" and (root / "train" / "0" / "00000.png").is_file()
    train = image_sources.from_list_file(str(root / "train.txt"))
    val = image_sources.from_list_file(str(root / "val.txt"))
    assert (len(train), len(val)) == (4500, 500)
    label_of = {img.tobytes(): lab for img, lab in zip(digits.images, digits.labels)}
    seen = [img.tobytes() for img in np.concatenate([train.images, val.images])]
    assert len(set(seen)) == len(set(label_of))          # every digit, each once
    assert all(label_of[img.tobytes()] == lab for img, lab in zip(val.images, val.labels))
    assert not {i.tobytes() for i in train.images} & {i.tobytes() for i in val.images}


def test_idx_folder_train_and_t10k_become_train_and_val_lists(tmp_path, capsys, digits):
    idx = tmp_path / "idx"
    idx.mkdir()
    for part, rows in (("train", slice(0, 5000, 50)), ("t10k", slice(25, 5000, 100))):
        images_stem, labels_stem = mnist_idx.FILE_STEMS[part]
        mnist_idx.write_idx(str(idx / (images_stem + ".gz")), digits.images[rows])
        mnist_idx.write_idx(str(idx / (labels_stem + ".gz")), digits.labels[rows].astype(np.uint8))
    assert cli.main(["prepare-mnist", str(tmp_path / "out"), "--idx-folder", str(idx)]) == 0
    val = image_sources.from_list_file(str(tmp_path / "out" / "val.txt"))
    np.testing.assert_array_equal(val.images, digits.images[25::100])
    np.testing.assert_array_equal(val.labels, digits.labels[25::100])


def test_existing_folder_is_refused(tmp_path, capsys):
    (tmp_path / "mnist").mkdir()
    assert cli.main(["prepare-mnist", str(tmp_path / "mnist")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["mnist"]
