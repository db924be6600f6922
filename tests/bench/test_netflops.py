"""FLOP counting of real Caffe nets: the figures bench/train.py divides by."""

import netflops

from siamese_caffe.net import netcheck
from siamese_caffe.runtime import prototxt


def test_siamese_lenet_costs_26_4_mflop_per_pair(caffe, tmp_path, network_text):
    net_param = netcheck.with_inputs(
        prototxt.parse_text(network_text, prototxt.caffe_pb2().NetParameter(), "net"),
        (3, 28, 28), batch=8)
    path = tmp_path / "net.prototxt"
    path.write_text(str(net_param))
    flops = netflops.step_flops(caffe.Net(str(path), caffe.TRAIN))
    # per branch, forward multiply-adds: conv1 20*24*24*25, conv2 50*8*8*500,
    # ip1 500*800, ip2 10*500, feat 2*10
    forward_macs = 288000 + 1600000 + 400000 + 5000 + 20
    assert flops.batch == 8
    assert flops.forward == 8 * 2 * 2 * forward_macs              # 2 branches, 2 FLOP per MAC
    # backward: weight gradients everywhere, input gradients everywhere but conv1,
    # whose input is a slice of the data
    backward_macs = 2 * forward_macs - 288000
    assert flops.backward == 8 * 2 * 2 * backward_macs
    assert round(flops.per_example / 1e6, 1) == 26.4


def test_a_layer_fed_by_a_learned_layer_counts_its_input_gradient(net_from_text, caffe):
    net = net_from_text("""
        layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 4 dim: 3 } } }
        layer { name: "a" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 5 } }
        layer { name: "b" type: "InnerProduct" bottom: "y" top: "z" inner_product_param { num_output: 2 } }
    """, phase=caffe.TRAIN)
    flops = netflops.step_flops(net)
    assert flops.forward == 2 * 4 * (5 * 3 + 2 * 5)
    assert flops.backward == 2 * 4 * (5 * 3 + 2 * (2 * 5))       # "a": no gradient of x
    assert netflops.blobs_needing_gradients(net) == {"y", "z"}
