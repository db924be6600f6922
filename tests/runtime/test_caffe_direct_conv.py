"""Caffe's direct convolution for small kernels (patch 0010): the convolution's numbers.

A kernel over at most CAFFE_CONV_DIRECT_MAX_K inputs (LeNet's conv1: 1 x 5 x 5), and its
weight gradient, are computed without the column matrix; CAFFE_CONV_DIRECT_MAX_K=0 sends it back through im2col + sgemm.
Caffe reads the variable at every forward pass, so one net can run both ways. The two sum
the same products in another order (OpenBLAS's kernel is not one chain of fused
multiply-adds), so they agree to float rounding, not bit for bit.
"""

import numpy as np
import pytest

NET = """
force_backward: true
layer { name: "in" type: "Input" top: "x" input_param { shape { %s } } }
layer { name: "conv" type: "Convolution" bottom: "x" top: "y"
        convolution_param { num_output: %d kernel_size: %d bias_term: %s
                            weight_filler { type: "xavier" }
                            bias_filler { type: "gaussian" std: 1 } } }
"""

SHAPES = [  # input dims, outputs, kernel: LeNet's conv1; rows ending mid-vector, 4 + 2 outputs
    ("dim: 3 dim: 1 dim: 28 dim: 28", 20, 5),
    ("dim: 2 dim: 2 dim: 9 dim: 30", 6, 3),
    ("dim: 1 dim: 3 dim: 7 dim: 5", 3, 1),
]


def _both_ways(net, top_diff, monkeypatch):
    """(output, weight gradient) with the direct convolution, then with the matrix
    product, for the gradient top_diff of the output."""
    results = []
    for limit in (None, "0"):
        if limit is None:
            monkeypatch.delenv("CAFFE_CONV_DIRECT_MAX_K", raising=False)
        else:
            monkeypatch.setenv("CAFFE_CONV_DIRECT_MAX_K", limit)
        output = net.forward()["y"].copy()
        net.params["conv"][0].diff[...] = 0
        net.blobs["y"].diff[...] = top_diff
        net.backward()
        results.append((output, net.params["conv"][0].diff.copy()))
    monkeypatch.delenv("CAFFE_CONV_DIRECT_MAX_K")
    return results


def _windows(x, k):
    """(N, C, H, W) → (N, C, H-k+1, W-k+1, k, k) float64 views of every k x k window."""
    return np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (k, k), (2, 3))


def _by_hand(x, w, b, top_diff):
    """The convolution and its weight gradient in float64: (N, C, H, W) input, (O, C, k, k)
    weights, (O,) bias, (N, O, H', W') top gradient."""
    windows = _windows(x, w.shape[-1])
    output = np.einsum("ncyxij,ocij->noyx", windows, w) + np.asarray(b)[None, :, None, None]
    return output, np.einsum("ncyxij,noyx->ocij", windows, top_diff)


@pytest.mark.parametrize("dims, outputs, kernel", SHAPES)
@pytest.mark.parametrize("bias", ["true", "false"])
def test_a_small_kernel_gives_the_convolutions_numbers_and_weight_gradient(net_from_text, caffe, monkeypatch,
                                                      dims, outputs, kernel, bias):
    net = net_from_text(NET % (dims, outputs, kernel, bias), phase=caffe.TEST)
    x = net.blobs["x"].data
    x[...] = np.random.RandomState(1).randn(*x.shape).astype(np.float32) * 60
    top_diff = np.random.RandomState(2).randn(*net.blobs["y"].data.shape).astype(np.float32)
    (direct, direct_grad), (product, product_grad) = _both_ways(net, top_diff, monkeypatch)
    w = net.params["conv"][0].data
    b = net.params["conv"][1].data if bias == "true" else np.zeros(outputs)
    want, want_grad = _by_hand(x, w, b, top_diff)
    # float sums of hundreds of terms: within 1e-5 of the largest value, either way
    for got in (direct, product):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    for got in (direct_grad, product_grad):
        np.testing.assert_allclose(got, want_grad, rtol=0,
                                   atol=1e-5 * np.abs(want_grad).max())


def test_a_jobs_features_agree_either_way(tiny_job, monkeypatch):
    from siamese_caffe.infer import embedding

    embedder = embedding.Embedder(tiny_job)
    pairs = np.random.RandomState(2).randint(0, 256, (5,) + embedder.image_shape)
    inputs = pairs.astype(np.float32) - embedder.mean
    monkeypatch.delenv("CAFFE_CONV_DIRECT_MAX_K", raising=False)
    direct = embedder.embed(inputs)
    monkeypatch.setenv("CAFFE_CONV_DIRECT_MAX_K", "0")
    product = embedder.embed(inputs)
    for got, want in zip(direct, product):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
