"""Caffe's CPU max pooling as patched (0003): same outputs, and NaN windows stay contained."""

import numpy as np

NET = """
force_backward: true
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 dim: 2 dim: 2 } } }
layer { name: "pool" type: "Pooling" bottom: "x" top: "y"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
"""


def test_a_window_of_nans_does_not_touch_the_plane_before_it(net_from_text, caffe):
    net = net_from_text(NET, phase=caffe.TRAIN)
    net.blobs["x"].data[0, 0] = [[1, 2], [3, 4]]          # max: the plane's last element
    net.blobs["x"].data[0, 1] = np.nan                    # no value beats -FLT_MAX
    net.forward()
    assert net.blobs["y"].data[0, 0, 0, 0] == 4
    assert net.blobs["y"].data[0, 1, 0, 0] == -np.finfo(np.float32).max
    net.blobs["y"].diff[...] = 1
    net.backward()
    # unpatched Caffe added the NaN window's gradient at index -1 of its plane: the 4 above
    np.testing.assert_array_equal(net.blobs["x"].diff[0, 0], [[0, 0], [0, 1]])
    np.testing.assert_array_equal(net.blobs["x"].diff[0, 1], [[0, 0], [0, 0]])


def test_max_pooling_matches_numpy_on_every_plane(net_from_text, caffe):
    net = net_from_text(NET.replace("dim: 1 dim: 2 dim: 2 dim: 2", "dim: 3 dim: 5 dim: 6 dim: 4"),
                        phase=caffe.TRAIN)
    x = np.random.RandomState(0).randn(3, 5, 6, 4).astype(np.float32)
    net.blobs["x"].data[...] = x
    net.forward()
    expected = x.reshape(3, 5, 3, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(net.blobs["y"].data, expected)
    net.blobs["y"].diff[...] = 1
    net.backward()
    winners = (x == np.repeat(np.repeat(expected, 2, axis=2), 2, axis=3))
    np.testing.assert_array_equal(net.blobs["x"].diff, winners.astype(np.float32))
