"""Image files turned into the net's input pairs."""

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.data import datum_codec, pair_pictures
from siamese_caffe.infer import pair_input
from siamese_caffe.errors import BadInputError

SHAPE = (3, 28, 28)


def digit(value, seed=0):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    image[0, 0] = value
    return image


def test_rgb_picture_gives_blue_first_green_second_as_the_training_records(tmp_path):
    first, second = digit(10, 1), digit(20, 2)
    path = tmp_path / "pair.png"
    pair_pictures.save_picture(str(path), pair_pictures.pair_picture(first, second))
    pair, grayscale = pair_input.load_pair(str(path), SHAPE)
    assert not grayscale and pair.dtype == np.uint8 and pair.shape == SHAPE
    # the same bytes create-db stores for this pair (channel 0 first, 1 second, 2 zeros)
    record = datum_codec.pair_datum_records(np.stack([first, second]), [0], [1])[0]
    prefix, _ = datum_codec.pair_datum_affixes(28, 28)
    stored = record[len(prefix):len(prefix) + 3 * 28 * 28].reshape(SHAPE)
    np.testing.assert_array_equal(pair, stored)


def test_grayscale_digit_is_replicated_into_every_channel(tmp_path):
    image = digit(5)
    path = tmp_path / "digit.png"
    Image.fromarray(image, "L").save(path)
    pair, grayscale = pair_input.load_pair(str(path), SHAPE)
    assert grayscale
    for channel in pair:
        np.testing.assert_array_equal(channel, image)


def test_grayscale_input_gets_the_same_mean_in_both_branches():
    mean = np.stack([np.full((28, 28), 10.0), np.full((28, 28), 30.0), np.zeros((28, 28))])
    pair = pair_input.gray_to_pair(digit(7))
    gray = pair_input.subtract_mean(pair, mean.astype(np.float32), grayscale=True)
    np.testing.assert_array_equal(gray[0], gray[1])
    np.testing.assert_allclose(gray[0], pair[0] - 20.0)
    as_pair = pair_input.subtract_mean(pair, mean.astype(np.float32), grayscale=False)
    np.testing.assert_allclose(as_pair[1], pair[1] - 30.0)


def test_mean_file_round_trips(tmp_path):
    mean = np.random.default_rng(0).random(SHAPE) * 255
    path = tmp_path / "mean.binaryproto"
    path.write_bytes(datum_codec.blobproto_bytes(mean))
    np.testing.assert_allclose(pair_input.read_mean(str(path)), mean.astype(np.float32))


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.fromarray(np.zeros((32, 32), np.uint8)).save(p), "32x32 pixels"),
    (lambda p: p.write_bytes(b"not a png"), "cannot read image"),
    (lambda p: Image.fromarray(np.zeros((28, 28), np.uint16)).save(p), "16-bit"),
    (lambda p: None, "image not found"),
])
def test_bad_images_are_one_clear_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.png"
    make(path)
    with pytest.raises(BadInputError) as err:
        pair_input.load_pair(str(path), SHAPE)
    assert message in str(err.value) and str(path) in str(err.value)
