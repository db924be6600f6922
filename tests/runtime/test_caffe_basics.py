"""The project's Caffe build does what the siamese workflow relies on."""

import numpy as np
import pytest


def input_layer(name, *dims):
    shape = " ".join(f"dim: {d}" for d in dims)
    return f'layer {{ name: "{name}" type: "Input" top: "{name}" input_param {{ shape {{ {shape} }} }} }}\n'


def test_tiny_net_forward_and_backward_match_numpy(net_from_text):
    net = net_from_text(
        "force_backward: true\n" + input_layer("x", 3, 4) + input_layer("target", 3, 2) + """
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
                inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 }
                                      bias_filler { type: "constant" value: 0.25 } } }
        layer { name: "loss" type: "EuclideanLoss" bottom: "y" bottom: "target" top: "loss" }
        """)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)).astype(np.float32)
    t = rng.normal(size=(3, 2)).astype(np.float32)
    net.blobs["x"].data[...] = x
    net.blobs["target"].data[...] = t
    loss = float(net.forward()["loss"])
    w, b = net.params["ip"][0].data, net.params["ip"][1].data
    y = x @ w.T + b
    assert loss == pytest.approx(np.sum((y - t) ** 2) / (2 * 3), rel=1e-5)
    net.backward()
    dy = (y - t) / 3
    np.testing.assert_allclose(net.params["ip"][0].diff, dy.T @ x, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(net.blobs["x"].diff, dy @ w, rtol=1e-4, atol=1e-6)


def test_datum_round_trips_through_its_bytes(caffe):
    from caffe.proto import caffe_pb2

    pair = np.random.default_rng(1).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    datum = caffe.io.array_to_datum(pair, label=7)
    parsed = caffe_pb2.Datum()
    parsed.ParseFromString(datum.SerializeToString())
    assert (parsed.channels, parsed.height, parsed.width, parsed.label) == (3, 28, 28, 7)
    assert not parsed.encoded
    back = caffe.io.datum_to_array(parsed)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, pair)


def test_slice_splits_pair_channels_into_left_right_discard(net_from_text):
    net = net_from_text(input_layer("data", 2, 3, 5, 4) + """
        layer { name: "slice_pair" type: "Slice" bottom: "data"
                top: "data_left" top: "data_right" top: "data_discard"
                slice_param { slice_dim: 1 slice_point: 1 slice_point: 2 } }
        """)
    data = np.random.default_rng(2).normal(size=(2, 3, 5, 4)).astype(np.float32)
    net.blobs["data"].data[...] = data
    out = net.forward()
    for name, channel in (("data_left", 0), ("data_right", 1), ("data_discard", 2)):
        assert out[name].shape == (2, 1, 5, 4)
        np.testing.assert_array_equal(out[name][:, 0], data[:, channel])


# Fixed 2-D feature pairs: (a, b, similar?). Distances 0.5, 1.5, 0.6, 1.3, 0.
PAIRS = [((0.0, 0.0), (0.3, 0.4), 1.0),   # similar, inside the margin
         ((1.0, 1.0), (1.9, 2.2), 1.0),   # similar, outside the margin
         ((0.2, -0.1), (0.2, 0.5), 0.0),  # dissimilar, inside the margin: penalised
         ((-1.0, 0.0), (0.2, -0.5), 0.0),  # dissimilar, beyond the margin: no loss
         ((0.5, 0.5), (0.5, 0.5), 1.0)]   # identical similar pair: zero loss


def contrastive_by_hand(a, b, y, margin):
    """Caffe's non-legacy ContrastiveLoss and its gradient w.r.t. a, from the definition."""
    n = len(y)
    d = np.linalg.norm(a - b, axis=1)
    per_pair = y * d ** 2 + (1 - y) * np.maximum(margin - d, 0) ** 2
    grad = np.empty_like(a)
    for i in range(n):
        if y[i]:
            grad[i] = (a[i] - b[i]) / n
        elif d[i] < margin:
            grad[i] = -(margin - d[i]) / d[i] * (a[i] - b[i]) / n
        else:
            grad[i] = 0
    return per_pair.sum() / (2 * n), grad


@pytest.mark.parametrize("margin", [1.0, 2.0])
def test_contrastive_loss_matches_its_definition(net_from_text, margin):
    net = net_from_text("force_backward: true\n" + input_layer("a", 5, 2) + input_layer("b", 5, 2)
                        + input_layer("sim", 5, 1, 1, 1) + f"""
        layer {{ name: "loss" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "sim"
                top: "loss" contrastive_loss_param {{ margin: {margin} }} }}
        """)
    a = np.array([p[0] for p in PAIRS], np.float32)
    b = np.array([p[1] for p in PAIRS], np.float32)
    y = np.array([p[2] for p in PAIRS], np.float32)
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    net.blobs["sim"].data[...] = y.reshape(5, 1, 1, 1)
    expected_loss, expected_grad = contrastive_by_hand(a.astype(np.float64), b.astype(np.float64),
                                                       y, margin)
    assert float(net.forward()["loss"]) == pytest.approx(expected_loss, rel=1e-5)
    net.backward()
    # Caffe adds 1e-4 to d in the dissimilar gradient's denominator: allow for it.
    np.testing.assert_allclose(net.blobs["a"].diff, expected_grad, rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(net.blobs["b"].diff, -expected_grad, rtol=2e-3, atol=1e-6)


def test_contrastive_loss_per_pair_terms(net_from_text):
    """Each pair alone: similar pairs cost d², dissimilar ones max(1 - d, 0)² (over 2N, N = 1)."""
    net = net_from_text(input_layer("a", 1, 2) + input_layer("b", 1, 2) + input_layer("sim", 1)
                        + """
        layer { name: "loss" type: "ContrastiveLoss" bottom: "a" bottom: "b" bottom: "sim"
                top: "loss" contrastive_loss_param { margin: 1 } }
        """)
    expected = [0.25 / 2, 2.25 / 2, 0.16 / 2, 0.0, 0.0]
    for (a, b, y), want in zip(PAIRS, expected):
        net.blobs["a"].data[...] = a
        net.blobs["b"].data[...] = b
        net.blobs["sim"].data[...] = y
        assert float(net.forward()["loss"]) == pytest.approx(want, rel=1e-5, abs=1e-7)
