"""DIGITS-style visualizations of one inference: blob grids, filters, statistics."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.infer import embedding, visualize
from siamese_caffe.data import pair_pictures


def test_channel_grid_lays_tiles_near_square_with_separators():
    channels = np.arange(5 * 4 * 4, dtype=np.float32).reshape(5, 4, 4)
    grid = visualize.channel_grid(channels)
    scale = visualize.TARGET_TILE_PX // 4                 # 4-pixel tiles are enlarged 16x
    tile = 4 * scale
    assert grid.shape == (2 * (tile + 1) - 1, 3 * (tile + 1) - 1)   # 3 columns, 2 rows
    assert grid[0, 0] == 0 and grid[tile - 1, tile - 1] < grid[0, tile + 1]   # order kept
    assert (grid[:, tile] == 255).all()                   # separator column
    assert (grid[tile + 1:, 2 * (tile + 1):] == 255).all()  # the sixth place is empty


def test_vector_blob_is_one_tile_of_its_values():
    tile = visualize.item_channels(np.arange(10, dtype=np.float32)[None], 0)
    assert tile.shape == (1, 3, 4)
    assert tile[0, 0].tolist() == [0, 1, 2, 3] and tile[0, 2, 1] == 9 and tile[0, 2, 3] == 0


@pytest.fixture(scope="module")
def visualized(tiny_job, tmp_path_factory):
    """Visualizations of a pair whose first digit is a 3 and second an empty image."""
    from siamese_caffe.data import image_sources

    digits = image_sources.builtin_mnist()
    three = digits.images[np.flatnonzero(digits.labels == 3)[0]]
    folder = tmp_path_factory.mktemp("vis")
    path = str(folder / "pair.png")
    pair_pictures.save_picture(path, pair_pictures.pair_picture(three, np.zeros_like(three)))
    embedder = embedding.Embedder(tiny_job)
    embedder.infer_file(path)
    out = str(folder / "out")
    os.makedirs(out)
    stats = visualize.write_visualizations(embedder.net, out)
    return out, stats, three, embedder


def test_data_left_and_right_show_the_two_digits_pulled_out(visualized):
    out, _, three, embedder = visualized
    mean = embedder.mean
    for blob, digit, channel in (("data_left", three, 0),
                                 ("data_right", np.zeros_like(three), 1)):
        picture = np.asarray(Image.open(os.path.join(out, "blobs", f"{blob}.png")))
        scale = picture.shape[0] // 28
        assert picture.shape == (28 * scale, 28 * scale)
        expected = visualize.to_uint8(digit - mean[channel])    # that digit minus its mean
        shown = picture[::scale, ::scale].astype(int)
        assert np.abs(shown - expected).max() <= 1


def test_every_blob_has_a_grid_and_conv1_has_its_filters(visualized):
    out, _, _, embedder = visualized
    net = embedder.net
    for name in net.blobs:
        assert os.path.isfile(os.path.join(out, "blobs", f"{name}.png")), name
    filters = np.asarray(Image.open(os.path.join(out, "filters_conv1_left.png")))
    tile = 5 * (visualize.TARGET_TILE_PX // 5)
    assert filters.shape == (4 * (tile + 1) - 1, 5 * (tile + 1) - 1)   # 20 filters of 5x5
    conv1 = np.asarray(Image.open(os.path.join(out, "blobs", "conv1_left.png")))
    assert conv1.shape[0] == 4 * (24 * 2 + 1) - 1          # 20 maps of 24x24, enlarged 2x


def test_statistics_are_the_blobs_and_params_numbers(visualized):
    out, stats, _, embedder = visualized
    net = embedder.net
    with open(os.path.join(out, "stats.json")) as f:
        assert json.load(f) == stats
    conv = net.blobs["conv1_left"].data[0]
    entry = stats["blobs"]["conv1_left"]
    assert entry["shape"] == [20, 24, 24]
    assert entry["mean"] == pytest.approx(float(conv.mean()), rel=1e-5)
    assert entry["max"] == pytest.approx(float(conv.max()))
    assert sum(entry["histogram"]["counts"]) == conv.size
    weights = stats["params"]["conv1_left"]["weights"]
    assert weights["shape"] == [20, 1, 5, 5]
    assert weights["std"] == pytest.approx(float(net.params["conv1_left"][0].data.std()),
                                           rel=1e-5)
    assert stats["params"]["conv1_left"] == stats["params"]["conv1_right"]   # shared
    with Image.open(os.path.join(out, "stats.png")) as picture:
        assert picture.format == "PNG" and picture.height > 1000
