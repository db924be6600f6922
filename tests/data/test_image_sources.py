"""The three image sources load the same digits into an ImageSet."""

import numpy as np
import PIL.Image
import pytest

from siamese_caffe.data import image_sources, mnist_idx
from siamese_caffe.errors import BadInputError


@pytest.fixture(scope="module")
def digits():
    return image_sources.builtin_mnist()


def test_builtin_digits_are_5000_real_mnist_digits(digits):
    assert digits.images.shape == (5000, 28, 28) and digits.images.dtype == np.uint8
    assert digits.labels.dtype == np.int64
    assert np.bincount(digits.labels).tolist() == [500] * 10
    assert digits.images.max() == 255 and (digits.images[:, 0, :] == 0).all()  # dark border
    ink = (digits.images > 127).sum(axis=(1, 2))
    assert 40 < ink.mean() < 200   # pen strokes, not noise or blank frames


def test_idx_folder_loads_train_and_t10k(tmp_path, digits):
    for part, (lo, hi) in (("train", (0, 300)), ("t10k", (300, 400))):
        stems = mnist_idx.FILE_STEMS[part]
        mnist_idx.write_idx(str(tmp_path / (stems[0] + ".gz")), digits.images[lo:hi])
        mnist_idx.write_idx(str(tmp_path / stems[1]), digits.labels[lo:hi].astype(np.uint8))
    train = image_sources.from_idx_folder(str(tmp_path), "train")
    test = image_sources.from_idx_folder(str(tmp_path), "t10k")
    np.testing.assert_array_equal(train.images, digits.images[:300])
    np.testing.assert_array_equal(test.labels, digits.labels[300:400])
    assert train.paths is None and "idx:" in train.description
    with pytest.raises(BadInputError, match="no such folder"):
        image_sources.from_idx_folder(str(tmp_path / "nowhere"), "train")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BadInputError, match="no train-images-idx3-ubyte"):
        image_sources.from_idx_folder(str(tmp_path / "empty"), "train")


def test_list_file_with_image_folder_and_absolute_paths(tmp_path, digits):
    (tmp_path / "pngs").mkdir()
    lines = []
    for i in range(6):
        PIL.Image.fromarray(digits.images[i * 500]).save(tmp_path / "pngs" / f"{i}.png")
        name = f"{i}.png" if i % 2 else str(tmp_path / "pngs" / f"{i}.png")
        lines.append(f"{name}   {digits.labels[i * 500]}")
    (tmp_path / "list.txt").write_text("\n".join(lines))
    loaded = image_sources.from_list_file(str(tmp_path / "list.txt"),
                                          image_folder=str(tmp_path / "pngs"))
    np.testing.assert_array_equal(loaded.images, digits.images[::500][:6])
    assert loaded.labels.tolist() == list(range(6))
    assert loaded.paths[1] == str(tmp_path / "pngs" / "1.png") and loaded.notes == []


def test_subset_keeps_images_labels_and_paths_together(digits):
    part = digits.subset(np.array([4999, 0]), "two")
    assert part.labels.tolist() == [9, 0] and len(part) == 2 and part.shape == (28, 28)
