"""Decoding a DIGITS list: the process pool gives the same images and the same first error."""

import numpy as np
import PIL.Image
import pytest

from siamese_caffe.data import image_list
from siamese_caffe.errors import BadInputError


@pytest.fixture
def pngs(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 256, size=(11, 6, 5), dtype=np.uint8)
    paths = []
    for i, image in enumerate(images):
        paths.append(str(tmp_path / f"{i}.png"))
        PIL.Image.fromarray(image).save(paths[-1])
    return images, paths


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(image_list, "CHUNK_IMAGES", 3)
    monkeypatch.setattr(image_list, "PARALLEL_MIN_IMAGES", 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_and_single_process_decode_the_same_images(pngs, small_chunks, workers):
    images, paths = pngs
    wheres = [f"list.txt:{i + 1}" for i in range(len(paths))]
    decoded, notes = image_list.load_images(paths, wheres, workers=workers)
    np.testing.assert_array_equal(decoded, images)
    assert notes == []


def test_pool_reports_the_first_bad_line(pngs, small_chunks):
    _, paths = pngs
    PIL.Image.new("L", (7, 7)).save(paths[4])          # chunk 2
    open(paths[9], "wb").write(b"not a png")           # chunk 4
    wheres = [f"list.txt:{i + 1}" for i in range(len(paths))]
    with pytest.raises(BadInputError, match=r"list.txt:5: image .*4.png is 7x7 .* 5x6"):
        image_list.load_images(paths, wheres, workers=2)


def test_lines_need_an_integer_label_after_the_path(tmp_path):
    listing = tmp_path / "train.txt"
    listing.write_text("a b.png 3\n\n/abs/c.png   12\n")
    paths, labels, numbers = image_list.parse_list(str(listing))
    assert paths == [str(tmp_path / "a b.png"), "/abs/c.png"]
    assert labels.tolist() == [3, 12] and numbers == [1, 3]
    listing.write_text("x.png -1\n")
    with pytest.raises(BadInputError, match="train.txt:1: label -1 is negative"):
        image_list.parse_list(str(listing))
