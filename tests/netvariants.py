"""Edited copies of the shipped siamese network, as a user would make them."""

DATA_LAYER = """
layer { name: "mnist" type: "Data" top: "data" top: "label"
        data_param { source: "/elsewhere/mnist_train_lmdb" batch_size: 64 backend: LMDB } }
"""


def replace_nth(text, old, new, n):
    """`text` with the n-th (1-based) occurrence of `old` replaced by `new`."""
    start = -1
    for _ in range(n):
        start = text.index(old, start + 1)
    return text[:start] + new + text[start + len(old):]


def ip2_right_bias(text):
    """DIGITS' first published mistake: the right ip2 bias named 'ip2_right'."""
    return replace_nth(text, 'param { name: "ip2_b" lr_mult: 2 }',
                       'param { name: "ip2_right" lr_mult: 2 }', 2)


def unnamed_right_conv1_weights(text):
    return replace_nth(text, 'param { name: "conv1_w" lr_mult: 1 }', 'param { lr_mult: 1 }', 2)


def features(text, dim, margin):
    """Another embedding size and margin."""
    text = text.replace("num_output: 2\n", f"num_output: {dim}\n")
    return text.replace("margin: 1 }", f"margin: {margin} }}")


def without_loss(text):
    return text[:text.index("layer {\n  name: \"loss\"")]


def with_data_layer(text):
    return DATA_LAYER + text


def extra_layers(text):
    """A shared ip3 (10 -> 10, ReLU) inserted in both branches before the features."""
    for side in ("left", "right"):
        extra = (f'layer {{ name: "ip3_{side}" type: "InnerProduct" bottom: "ip2_{side}" '
                 f'top: "ip3_{side}" param {{ name: "ip3_w" }} param {{ name: "ip3_b" }} '
                 'inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }\n'
                 f'layer {{ name: "relu3_{side}" type: "ReLU" bottom: "ip3_{side}" '
                 f'top: "ip3_{side}" }}\n')
        feat = f'layer {{\n  name: "feat_{side}"'
        text = text.replace(feat, extra + feat)
        text = text.replace(f'bottom: "ip2_{side}"\n  top: "feat_{side}"',
                            f'bottom: "ip3_{side}"\n  top: "feat_{side}"')
    return text
