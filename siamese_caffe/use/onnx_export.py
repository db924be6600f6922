"""The shared branch of a trained job as an ONNX model, written on onnx.helper.

    model = branch_model(net, net_param, "data", "feat_left", mean, where="deploy.prototxt")

The exported model takes raw grayscale pixels, (N, 1, H, W) float32 in 0..255, and gives
the feature vector (N, D) — what the job's net computes for a digit replicated into both
branches (infer.embedding.Embedder.embed_digits):

    pixels ─ Concat×C ─ Sub(grayscale mean) ─ the layers from the net's input blob to the
    left feature blob (Power scale, Slice, Convolution, Pooling, InnerProduct, ReLU, ...)

so the mean subtraction and the Power scale travel inside the model. Only the layers the
feature blob depends on are exported (the right branch and Silence fall away). Every
layer's settings come from deploy.prototxt and its weights from the real caffe.Net, with
the shapes Caffe computed. A layer type without a translation (onnx_layers.TRANSLATIONS),
or a setting one cannot express, is refused in one line naming the layer and its line in
deploy.prototxt.

`pair=True` gives the two-input model: pixels_a and pixels_b through the same branch
(one set of weights), feature_a, feature_b and their L2 distance (N,).
"""

import re

import numpy as np

from ..errors import BadInputError
from .onnx_layers import TRANSLATIONS, Graph, Untranslatable

OPSET = 26          # the ai.onnx opset written: the newest onnxruntime 1.30 loads (onnx
                    # 1.22 knows 27); OpenCV 4.10's importer reads it too
PRODUCER = "siamese-caffe"
INPUT_LAYER = "Input"
LAYER_START = re.compile(r"\blayer\s*\{")
LAYER_NAME = re.compile(r'\bname\s*:\s*"([^"]*)"')


def needed_layers(net, feature_blob):
    """Names of the layers of `net` (caffe.Net) that `feature_blob` depends on, in order."""
    needed, chosen = {feature_blob}, []
    for name in reversed(list(net._layer_names)):
        tops = set(net.top_names[name])
        if tops & needed:
            chosen.append(name)
            needed = (needed - tops) | set(net.bottom_names[name])
    return chosen[::-1]


def layer_lines(text):
    """{layer name: the line number (from 1) of its `layer {` in prototxt `text`} (the first
    `name:` after each `layer {`, as Caffe and protobuf write them)."""
    starts = [m.start() for m in LAYER_START.finditer(text)] + [len(text)]
    lines = {}
    for start, end in zip(starts[:-1], starts[1:]):
        match = LAYER_NAME.search(text, start, end)
        if match:
            lines.setdefault(match.group(1), text.count("\n", 0, start) + 1)
    return lines


def branch_model(net, net_param, input_blob, feature_blob, mean, where, pair=False,
                 metadata=None, text=None):
    """The onnx.ModelProto of `net`'s branch from `input_blob` to `feature_blob`.

    net: caffe.Net (its weights and blob shapes). net_param: its caffe_pb2.NetParameter
    (layer settings). mean: (C, H, W) float32 subtracted from the replicated pixels.
    where: the prototxt's path (errors say where:line); text: its text (default: read).
    metadata: {key: str} stored in the model's metadata_props.
    """
    from onnx import TensorProto, helper

    from .. import __version__

    lines = layer_lines(text if text is not None else _read(where))
    params = {layer.name: layer for layer in net_param.layer}
    chosen = needed_layers(net, feature_blob)
    _refuse_unknown(net, chosen, where, lines)
    channels, height, width = (int(v) for v in mean.shape)
    dim = int(np.prod(net.blobs[feature_blob].data.shape[1:]))
    graph = Graph()
    mean_name = graph.constant("mean", np.asarray(mean, np.float32)[None])
    inputs, outputs = [], []
    suffixes = ("_a", "_b") if pair else ("",)
    for suffix in suffixes:
        pixels = graph.name(f"pixels{suffix}")
        inputs.append(helper.make_tensor_value_info(pixels, TensorProto.FLOAT,
                                                    ["N", 1, height, width]))
        last = _emit_branch(graph, net, params, chosen, pixels, mean_name, channels, where,
                            lines)
        outputs.append(graph.node("Flatten", [last], f"feature{suffix}", axis=1)
                       if net.blobs[feature_blob].data.ndim != 2
                       else graph.node("Identity", [last], f"feature{suffix}"))
    values = [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", dim])
              for name in outputs]
    if pair:
        distance = _distance(graph, *outputs)
        values.append(helper.make_tensor_value_info(distance, TensorProto.FLOAT, ["N"]))
    body = helper.make_graph(graph.nodes, f"{net_param.name or 'net'}_{feature_blob}",
                             inputs, values, initializer=graph.initializers)
    model = helper.make_model(body, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, producer_version=__version__)
    helper.set_model_props(model, {key: str(value) for key, value in (metadata or {}).items()})
    return model


def _emit_branch(graph, net, params, chosen, pixels, mean_name, channels, where, lines):
    """The nodes of the chosen layers fed by `pixels`; the ONNX name of the last top."""
    tensors, last = {}, None
    for name in chosen:
        layer = net.layers[list(net._layer_names).index(name)]
        tops, bottoms = list(net.top_names[name]), list(net.bottom_names[name])
        if layer.type == INPUT_LAYER:
            data = graph.node("Concat", [pixels] * channels, f"{tops[0]}_pixels", axis=1) \
                if channels > 1 else pixels
            tensors[tops[0]] = last = graph.node("Sub", [data, mean_name], tops[0])
            continue
        try:
            names = TRANSLATIONS[layer.type](
                graph, _settings(params, name, layer.type, tops, bottoms),
                [np.array(blob.data) for blob in layer.blobs],
                [tensors[b] for b in bottoms], [tuple(net.blobs[b].data.shape) for b in bottoms],
                [tuple(net.blobs[t].data.shape) for t in tops])
        except Untranslatable as err:
            raise BadInputError(f"layer {name!r} ({layer.type}): cannot export to ONNX: {err}",
                                where=_line(where, lines, name)) from None
        tensors.update(zip(tops, names))
        last = names[0]
    return last


def _settings(params, name, kind, tops, bottoms):
    """The LayerParameter of layer `name`: the prototxt's, or for a layer Caffe added itself
    (the Split of a blob read by several layers) one with its type, tops and bottoms."""
    if name in params:
        return params[name]
    from ..runtime import prototxt

    return prototxt.caffe_pb2().LayerParameter(name=name, type=kind, top=tops, bottom=bottoms)


def _refuse_unknown(net, chosen, where, lines):
    """BadInputError for the first chosen layer whose type has no translation."""
    for name in chosen:
        kind = net.layers[list(net._layer_names).index(name)].type
        if kind != INPUT_LAYER and kind not in TRANSLATIONS:
            raise BadInputError(
                f"layer {name!r} has type {kind!r}, which the ONNX exporter does not "
                f"translate (it knows {', '.join(sorted(TRANSLATIONS))})",
                where=_line(where, lines, name))


def _distance(graph, first, second):
    """The row-wise L2 distance of two (N, D) tensors: its (N,) tensor name."""
    difference = graph.node("Sub", [first, second], "difference")
    square = graph.node("Mul", [difference, difference], "squared_difference")
    total = graph.node("ReduceSum", [square, graph.constant("feature_axis", [1], np.int64)],
                       "squared_distance", keepdims=0)
    return graph.node("Sqrt", [total], "distance")


def _line(where, lines, name):
    return f"{where}:{lines[name]}" if name in lines else where


def _read(path):
    from ..runtime import prototxt

    return prototxt.read_text(path)


def check_output(path, force=False):
    """BadInputError when `path` is a folder, or exists and force is False, or exists and is
    not an ONNX model this tool wrote (force replaces only those)."""
    import os

    if os.path.isdir(path):
        raise BadInputError("is a folder, not an .onnx file", where=path)
    if not os.path.lexists(path):
        return
    if not force:
        raise BadInputError("output file already exists (use --force to replace it)",
                            where=path)
    if producer(path) != PRODUCER:
        raise BadInputError(f"exists and is not an ONNX model {PRODUCER} wrote; --force "
                            "replaces only those", where=path)


def producer(path):
    """The producer_name of the ONNX model at `path`, or None when it is not one."""
    import onnx

    try:
        return onnx.load(path, load_external_data=False).producer_name
    except Exception:  # onnx raises DecodeError, ValueError, ... for a file of another kind
        return None


def export_job(embedder, path, pair=False, force=False):
    """Write the shared branch of `embedder`'s job and snapshot (infer.embedding.Embedder)
    to `path` as ONNX, checked by onnx.checker first; the file appears whole. Returns the
    onnx.ModelProto."""
    import onnx

    from ..runtime import atomic_files, prototxt
    from ..infer import pair_input
    from ..train import jobfiles

    check_output(path, force)
    job, snapshot = embedder.job, embedder.snapshot
    metadata = {"job_id": job.job_id, "snapshot": snapshot.iteration,
                "caffemodel_sha256": jobfiles.file_digest(snapshot.caffemodel_path)["sha256"],
                "feature_blob": embedder.feature_blobs[0], "margin": embedder.margin,
                "input": "raw grayscale pixels 0-255, N x 1 x H x W"}
    model = branch_model(embedder.net, prototxt.read_net(job.deploy_path), embedder.input_blob,
                         embedder.feature_blobs[0], pair_input.grayscale_mean(embedder.mean),
                         job.deploy_path, pair=pair, metadata=metadata)
    onnx.checker.check_model(model, full_check=True)
    with atomic_files.replacing(path) as tmp:
        onnx.save_model(model, tmp)
    return model
