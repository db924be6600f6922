"""The network check: what a user gets told about their siamese prototxt."""

import pytest

from siamese_caffe.net import netcheck
from siamese_caffe.runtime import netprobe, prototxt
from siamese_caffe.errors import BadInputError

import netvariants


def parse(text, where="net.prototxt"):
    return prototxt.parse_text(text, prototxt.caffe_pb2().NetParameter(), where)


def test_shipped_network_passes_and_is_described(network_text):
    info = netcheck.check_network(parse(network_text), "net.prototxt")
    assert info.feature_blobs == ("feat_left", "feat_right")
    assert info.margin == 1.0 and not info.legacy_loss
    assert info.loss_top == "loss"
    assert info.branch_inputs == ("data_left", "data_right")


def test_shipped_network_shares_every_learned_layer(network_text):
    net = parse(network_text)
    info = netcheck.check_structure(net, "net.prototxt")
    counts = {layer.name: 2 for layer in net.layer if layer.type in ("Convolution", "InnerProduct")}
    twins = netcheck.check_sharing(net, info, counts, "net.prototxt")
    assert twins == [(f"{n}_left", f"{n}_right") for n in ("conv1", "conv2", "ip1", "ip2", "feat")]


def test_digits_ip2_right_bias_is_caught_with_layer_and_param_names(network_text):
    with pytest.raises(BadInputError) as err:
        netcheck.check_network(parse(netvariants.ip2_right_bias(network_text)), "digits.prototxt")
    message = str(err.value)
    assert message.startswith("digits.prototxt: ")
    assert "'ip2_right'" in message and "'ip2_b'" in message and "param 1" in message
    assert "do not share" in message


def test_ip2_right_bias_is_accepted_when_unsharing_is_allowed(network_text):
    info = netcheck.check_network(parse(netvariants.ip2_right_bias(network_text)),
                                  "digits.prototxt", allow_unshared=True)
    assert info.feature_blobs == ("feat_left", "feat_right")


def test_unnamed_param_on_one_side_is_reported(network_text):
    with pytest.raises(BadInputError, match="'conv1_right' leaves its param 0 unnamed"):
        netcheck.check_network(parse(netvariants.unnamed_right_conv1_weights(network_text)),
                               "net.prototxt")


def test_param_name_shared_by_layers_that_are_not_twins(network_text):
    # ip2 (both sides) reuses ip1's bias name: ip1_b would be shared across four layers.
    text = network_text.replace('param { name: "ip2_b" lr_mult: 2 }',
                                'param { name: "ip1_b" lr_mult: 2 }')
    net = parse(text)
    info = netcheck.check_structure(net, "net.prototxt")
    counts = {layer.name: 2 for layer in net.layer if layer.type in ("Convolution", "InnerProduct")}
    with pytest.raises(BadInputError, match="'ip1_b' is used by 'ip2_left'.*'ip1_left'"):
        netcheck.check_sharing(net, info, counts, "net.prototxt")


def test_network_without_loss(network_text):
    with pytest.raises(BadInputError, match="no loss: add a ContrastiveLoss"):
        netcheck.check_structure(parse(netvariants.without_loss(network_text)), "n.prototxt")


def test_loss_must_get_label(network_text):
    text = network_text.replace('bottom: "label"', 'bottom: "sim"')
    with pytest.raises(BadInputError, match="takes bottom 'sim', which no earlier layer"):
        netcheck.check_structure(parse(text), "n.prototxt")


def test_loss_label_in_wrong_place(network_text):
    text = network_text.replace('  bottom: "feat_right"\n  bottom: "label"',
                                '  bottom: "label"\n  bottom: "feat_right"')
    with pytest.raises(BadInputError, match=r"must take bottoms .*label\); it takes"):
        netcheck.check_structure(parse(text), "n.prototxt")


def test_data_layer_pointing_elsewhere_is_refused(network_text):
    with pytest.raises(BadInputError) as err:
        netcheck.check_structure(parse(netvariants.with_data_layer(network_text)), "n.prototxt")
    assert "layer 'mnist' is a Data layer reading '/elsewhere/mnist_train_lmdb'" in str(err.value)


def test_duplicate_layer_names(network_text):
    text = network_text.replace('name: "pool2_right"', 'name: "pool2_left"')
    with pytest.raises(BadInputError, match="two layers are named 'pool2_left'"):
        netcheck.check_structure(parse(text), "n.prototxt")


def test_features_must_come_one_from_each_branch(network_text):
    text = network_text.replace('  bottom: "feat_left"\n  bottom: "feat_right"',
                                '  bottom: "feat_left"\n  bottom: "feat_left"')
    with pytest.raises(BadInputError, match="'feat_left' as the right feature"):
        netcheck.check_structure(parse(text), "n.prototxt")


def test_network_without_slice(network_text):
    text = network_text.replace('type: "Slice"', 'type: "Split"').replace(
        "slice_param { axis: 1 slice_point: 1 slice_point: 2 }", "")
    with pytest.raises(BadInputError, match="no Slice layer splits 'data'"):
        netcheck.check_structure(parse(text), "n.prototxt")


def test_what_only_caffe_can_tell_is_reported_in_one_line(network_text):
    text = network_text.replace("num_output: 20 kernel_size: 5", "num_output: 20 kernel_size: 40")
    with pytest.raises(netprobe.CaffeRejectedError) as err:
        netcheck.check_network(parse(text), "big_kernel.prototxt")
    message = str(err.value)
    assert message.startswith("big_kernel.prototxt: Caffe cannot build this network: ")
    assert "\n" not in message and err.value.reason


def test_syntax_error_names_file_and_line(tmp_path, network_text):
    path = tmp_path / "broken.prototxt"
    path.write_text(network_text.replace('  type: "Pooling"', '  typo: "Pooling"', 1))
    line = path.read_text().splitlines().index('  typo: "Pooling"') + 1
    with pytest.raises(BadInputError) as err:
        prototxt.read_net(str(path))
    assert str(err.value).startswith(f"{path}:{line}: syntax error: ")
    assert "typo" in str(err.value)


def test_feature_size_and_margin_come_from_the_prototxt(network_text):
    info = netcheck.check_network(parse(netvariants.features(network_text, 3, 2)), "n.prototxt")
    assert info.margin == 2.0
