"""The training loop's check after each forward pass: a NaN or infinity in any blob stops
the step before its backward pass and update (training.stop_on_nonfinite_forward), read by
Caffe's OpenMP threads through pycaffe's Net._all_finite (patch 0011)."""

import numpy as np
import pytest

from siamese_caffe.train import training

# A blob large enough for the check to share it among threads (more than twice
# CAFFE_CPU_MIN_ELEMENTS = 65,536 values), one far below that, and a scalar loss.
NET = """
layer { name: "in" type: "Input" top: "data" top: "target"
        input_param { shape { dim: 4 dim: 1 dim: 300 dim: 300 } shape { dim: 4 dim: 2 } } }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: AVE kernel_size: 30 stride: 30 } }
layer { name: "ip" type: "InnerProduct" bottom: "pool" top: "ip"
        inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "ip" bottom: "target" top: "loss" }
"""


@pytest.fixture
def solver(caffe, tmp_path):
    (tmp_path / "net.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(
        f'net: "{tmp_path / "net.prototxt"}"\nbase_lr: 0.01\nlr_policy: "fixed"\n'
        f'max_iter: 100\nsolver_mode: CPU\nsnapshot_prefix: "{tmp_path / "snap"}"\n')
    solver = caffe.get_solver(str(tmp_path / "solver.prototxt"))
    rng = np.random.default_rng(0)
    for name in ("data", "target"):
        blob = solver.net.blobs[name].data
        blob[...] = rng.standard_normal(blob.shape)
    return solver


@pytest.mark.parametrize("blob", ["data", "ip"])
@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_one_bad_value_anywhere_makes_the_net_not_finite(solver, blob, where, value):
    net = solver.net
    net.forward()
    blobs = list(net.blobs.values())
    assert training.forward_check(net)() and training.all_finite(blobs)
    data = net.blobs[blob].data
    position = {"first": 0, "middle": data.size // 2 + 3, "last": data.size - 1}[where]
    data.flat[position] = value
    assert not training.forward_check(net)()
    assert not training.all_finite(blobs)


def test_the_check_is_caffes_own_on_this_build(solver):
    assert callable(getattr(solver.net, "_all_finite", None)), \
        "this pycaffe lacks Net._all_finite: is patch 0011 built in?"


def test_a_nan_input_stops_the_step_before_the_update(solver):
    training.stop_on_nonfinite_forward(solver.net)
    solver.step(1)                                 # finite: the step runs and updates
    weights = solver.net.params["ip"][0].data.copy()
    solver.net.blobs["data"].data[1, 0, 150, 7] = np.nan
    with pytest.raises(training.NonFiniteForward):
        solver.step(1)
    assert np.array_equal(solver.net.params["ip"][0].data, weights)
    assert np.isfinite(weights).all()
