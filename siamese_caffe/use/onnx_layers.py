"""Caffe layers as ONNX nodes, one translation per layer type, on onnx.helper.

Each translation is `translate(graph, layer, weights, inputs, shapes, top_shapes)`:

    graph       the Graph being built (nodes, initializers, unique tensor names)
    layer       the layer's caffe_pb2.LayerParameter (its settings)
    weights     its parameter blobs from the real caffe.Net, [np.ndarray float32]
    inputs      the ONNX tensor names of its bottoms
    shapes      the bottoms' shapes in the Caffe net, [(N, C, H, W) ...]
    top_shapes  the tops' shapes Caffe computed (pooling's rounding is matched to them)

and returns the ONNX tensor names of its tops. A setting a translation cannot express is
a `Untranslatable` naming it; onnx_export turns it into one line with the prototxt line.
Weights shared between layers (a Siamese twin's) become one initializer, keyed by the
layer that first used them.
"""

import numpy as np

# caffe_pb2 enum values (PoolingParameter.PoolMethod, EltwiseParameter.EltwiseOp)
POOL_MAX, POOL_AVE = 0, 1
ELTWISE_PROD, ELTWISE_SUM, ELTWISE_MAX = 0, 1, 2


class Untranslatable(Exception):
    """A layer setting ONNX cannot take as it is (the message says which)."""


class Graph:
    """Nodes and initializers of one ONNX graph being built, with unique tensor names."""

    def __init__(self):
        self.nodes, self.initializers, self._used, self._constants = [], [], set(), {}

    def name(self, base):
        """A tensor name not used yet, `base` when free."""
        name, n = base, 1
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name

    def constant(self, key, array, dtype=np.float32):
        """The initializer holding `array`, made once per `key`; its tensor name."""
        from onnx import numpy_helper

        if key not in self._constants:
            name = self.name(key)
            self.initializers.append(numpy_helper.from_array(np.asarray(array, dtype), name))
            self._constants[key] = name
        return self._constants[key]

    def node(self, op, inputs, output_base, **attributes):
        """Add one node with one output named after `output_base`; that output's name."""
        from onnx import helper

        output = self.name(output_base)
        self.nodes.append(helper.make_node(op, list(inputs), [output],
                                           name=self.name(f"{output_base}/{op}"), **attributes))
        return output


def _pair(repeated, single_h, single_w, has_h, default):
    """(h, w) of a Caffe spatial setting given as `x_h`/`x_w` or a repeated/single value."""
    if has_h:
        return int(single_h), int(single_w)
    values = list(repeated) if hasattr(repeated, "__len__") else [repeated]
    if not values:
        return default, default
    if len(values) == 1:
        return int(values[0]), int(values[0])
    if len(values) == 2:
        return int(values[0]), int(values[1])
    raise Untranslatable("only 2-D (two spatial axes) settings are translated")


def convolution(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.convolution_param
    if p.axis != 1 or len(shapes[0]) != 4:
        raise Untranslatable("only 2-D convolutions over axis 1 are translated")
    kh, kw = _pair(p.kernel_size, p.kernel_h, p.kernel_w, p.HasField("kernel_h"), None)
    ph, pw = _pair(p.pad, p.pad_h, p.pad_w, p.HasField("pad_h"), 0)
    sh, sw = _pair(p.stride, p.stride_h, p.stride_w, p.HasField("stride_h"), 1)
    dh, dw = _pair(p.dilation, 1, 1, False, 1)
    names = [inputs[0], graph.constant(f"{layer.name}_weights", weights[0])]
    if p.bias_term:
        names.append(graph.constant(f"{layer.name}_bias", weights[1]))
    return [graph.node("Conv", names, layer.top[0], kernel_shape=[kh, kw],
                       pads=[ph, pw, ph, pw], strides=[sh, sw], dilations=[dh, dw],
                       group=int(p.group))]


def pooling(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.pooling_param
    if p.pool not in (POOL_MAX, POOL_AVE):
        raise Untranslatable("only MAX and AVE pooling are translated (not STOCHASTIC)")
    op = "Max" if p.pool == POOL_MAX else "Average"
    if p.global_pooling:
        return [graph.node(f"Global{op}Pool", inputs, layer.top[0])]
    kh, kw = _pair(p.kernel_size, p.kernel_h, p.kernel_w, p.HasField("kernel_h"), None)
    ph, pw = _pair(p.pad, p.pad_h, p.pad_w, p.HasField("pad_h"), 0)
    sh, sw = _pair(p.stride, p.stride_h, p.stride_w, p.HasField("stride_h"), 1)
    (height, width), (out_h, out_w) = shapes[0][2:], top_shapes[0][2:]
    # Caffe rounds the output size up; extra padding at the bottom/right gives floor
    # rounding the same size (max pooling ignores padding; average pooling would count it)
    extra_h = max(0, (out_h - 1) * sh + kh - (height + 2 * ph))
    extra_w = max(0, (out_w - 1) * sw + kw - (width + 2 * pw))
    if p.pool == POOL_AVE and (extra_h or extra_w):
        raise Untranslatable("AVE pooling whose last window overhangs the padded input "
                             "(Caffe divides it by a smaller count than ONNX would)")
    attributes = {"kernel_shape": [kh, kw], "strides": [sh, sw],
                  "pads": [ph, pw, ph + extra_h, pw + extra_w]}
    if p.pool == POOL_AVE:
        attributes["count_include_pad"] = 1
    return [graph.node(f"{op}Pool", inputs, layer.top[0], **attributes)]


def inner_product(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.inner_product_param
    if p.axis != 1:
        raise Untranslatable("only inner products from axis 1 are translated")
    flat = graph.node("Flatten", inputs, f"{layer.top[0]}_flat", axis=1)
    names = [flat, graph.constant(f"{layer.name}_weights", weights[0])]
    if p.bias_term:
        names.append(graph.constant(f"{layer.name}_bias", weights[1]))
    return [graph.node("Gemm", names, layer.top[0], transB=0 if p.transpose else 1)]


def relu(graph, layer, weights, inputs, shapes, top_shapes):
    slope = layer.relu_param.negative_slope
    if slope:
        return [graph.node("LeakyRelu", inputs, layer.top[0], alpha=float(slope))]
    return [graph.node("Relu", inputs, layer.top[0])]


def power(graph, layer, weights, inputs, shapes, top_shapes):
    """(shift + scale · x) ^ power, leaving out the parts that do nothing."""
    p = layer.power_param
    name = inputs[0]
    if p.scale != 1:
        name = graph.node("Mul", [name, graph.constant(f"{layer.name}_scale", p.scale)],
                          layer.top[0])
    if p.shift != 0:
        name = graph.node("Add", [name, graph.constant(f"{layer.name}_shift", p.shift)],
                          layer.top[0])
    if p.power != 1:
        name = graph.node("Pow", [name, graph.constant(f"{layer.name}_power", p.power)],
                          layer.top[0])
    if name == inputs[0]:
        name = graph.node("Identity", [name], layer.top[0])
    return [name]


def slice_layer(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.slice_param
    axis = int(p.slice_dim) if p.HasField("slice_dim") else int(p.axis)
    axis = axis % len(shapes[0])
    size = shapes[0][axis]
    points = list(p.slice_point) or [size * i // len(layer.top) for i in range(1, len(layer.top))]
    bounds = [0] + [int(v) for v in points] + [size]
    tops = []
    for top, start, end in zip(layer.top, bounds[:-1], bounds[1:]):
        tops.append(graph.node("Slice", [
            inputs[0], graph.constant(f"{layer.name}_{top}_starts", [start], np.int64),
            graph.constant(f"{layer.name}_{top}_ends", [end], np.int64),
            graph.constant(f"{layer.name}_axes", [axis], np.int64)], top))
    return tops


def identity(graph, layer, weights, inputs, shapes, top_shapes):
    """Split (every top a copy of the bottom) and Dropout (nothing at test time)."""
    return [graph.node("Identity", [inputs[0]], top) for top in layer.top]


def concat(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.concat_param
    axis = int(p.concat_dim) if p.HasField("concat_dim") else int(p.axis)
    return [graph.node("Concat", inputs, layer.top[0], axis=axis)]


def eltwise(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.eltwise_param
    if p.operation == ELTWISE_SUM:
        coefficients = list(p.coeff) or [1.0] * len(inputs)
        terms = [name if c == 1 else graph.node(
                     "Mul", [name, graph.constant(f"{layer.name}_coeff{i}", c)],
                     f"{layer.top[0]}_term")
                 for i, (name, c) in enumerate(zip(inputs, coefficients))]
        return [graph.node("Sum", terms, layer.top[0])]
    if p.operation == ELTWISE_MAX:
        return [graph.node("Max", inputs, layer.top[0])]
    product = inputs[0]
    for name in inputs[1:]:                       # ONNX Mul takes two inputs
        product = graph.node("Mul", [product, name], layer.top[0])
    return [product]


def elementwise(op):
    """A translation of a layer that is one ONNX operator on its single bottom."""
    def translate(graph, layer, weights, inputs, shapes, top_shapes):
        return [graph.node(op, inputs, layer.top[0])]
    return translate


def flatten(graph, layer, weights, inputs, shapes, top_shapes):
    p = layer.flatten_param
    if p.end_axis not in (-1, len(shapes[0]) - 1):
        raise Untranslatable("only Flatten to the last axis is translated")
    return [graph.node("Flatten", inputs, layer.top[0], axis=int(p.axis))]


TRANSLATIONS = {
    "Convolution": convolution, "Pooling": pooling, "InnerProduct": inner_product,
    "ReLU": relu, "Power": power, "Slice": slice_layer, "Split": identity,
    "Dropout": identity, "Concat": concat, "Eltwise": eltwise, "Flatten": flatten,
    "Sigmoid": elementwise("Sigmoid"), "TanH": elementwise("Tanh"),
    "AbsVal": elementwise("Abs"),
}
