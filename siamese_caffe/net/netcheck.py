"""The check a user's siamese network must pass before it is trained.

The network (a `caffe_pb2.NetParameter`, no data layers) reads the blobs
`data` (N x 3 x H x W pairs) and `label` (N x 1 x 1 x 1), splits `data` into a
left and a right input with a Slice layer, and ends in one ContrastiveLoss
layer whose bottoms are (left feature, right feature, label).

`check_structure` checks what the text alone tells: unique layer names, no data
layers of its own, every bottom produced by an earlier layer, one
ContrastiveLoss fed `label`, features that come from one branch each.
`check_sharing` then checks, with the learnable blob counts real Caffe reports
(netprobe), that the k-th parameterised layer of the left branch and the k-th
of the right branch name every param alike — the mistake of DIGITS' first
published network, whose right ip2 bias was named "ip2_right" and so was
silently not shared. `check_network` does both for a network on its own.
Violations are BadInputErrors naming the layer and param.
"""

import os
import tempfile
from dataclasses import dataclass

from ..errors import BadInputError
from ..runtime import netprobe, prototxt, ranges

INPUT_BLOB = "data"
LABEL_BLOB = "label"
LOSS_TYPE = "ContrastiveLoss"
DATA_LAYER_TYPES = {"Data", "ImageData", "HDF5Data", "MemoryData", "WindowData", "Input",
                    "DummyData", "AnnotatedData", "VideoData"}
LEFT, RIGHT = "left", "right"


@dataclass(frozen=True)
class NetInfo:
    """What the rest of the tool needs to know about a checked network.

    loss_layer / loss_top: the ContrastiveLoss layer and its output blob.
    feature_blobs: (left, right) blob names of the embeddings. margin: the loss's
    margin (Caffe's default 1.0 when unset). legacy_loss: the loss uses the legacy
    form max(margin - d², 0). branch_inputs: the (left, right) tops of the Slice layer.
    """

    loss_layer: str
    loss_top: str
    feature_blobs: tuple
    margin: float
    legacy_loss: bool
    branch_inputs: tuple


def check_network(net, where, image_shape=(3, 28, 28), allow_unshared=False):
    """Check a user network completely (text, then real Caffe); its NetInfo.

    net: NetParameter. where: its file, for messages. image_shape: (3, H, W) of
    the pairs it will read. Builds the network in a child Caffe fed by Input
    layers, so Caffe's own objections are reported too.
    """
    info = check_structure(net, where)
    with tempfile.TemporaryDirectory(prefix="siamese-check-") as tmp:
        path = os.path.join(tmp, os.path.basename(where) or "net.prototxt")
        prototxt.write_text(path, with_inputs(net, image_shape))
        try:
            (described,) = netprobe.probe([("net", path, "train", ["train"])])
        except netprobe.CaffeRejectedError as err:
            raise netprobe.CaffeRejectedError(err.reason, where=where) from None
    check_sharing(net, info, param_counts(described), where, allow_unshared)
    return info


def with_inputs(net, image_shape, batch=1):
    """A copy of `net` preceded by Input layers for `data` (batch x 3 x H x W) and `label`."""
    full = prototxt.caffe_pb2().NetParameter(name=net.name)
    add_input(full, INPUT_BLOB, (batch,) + tuple(image_shape))
    add_input(full, LABEL_BLOB, (batch, 1, 1, 1))
    full.layer.extend(net.layer)
    return full


def add_input(net, name, dims):
    """Append an Input layer producing blob `name` of shape `dims` to NetParameter `net`."""
    layer = net.layer.add(name=name, type="Input", top=[name])
    layer.input_param.shape.add(dim=list(dims))
    return layer


def param_counts(described):
    """{layer name: number of learnable blobs} from a netprobe description."""
    return {layer["name"]: len(layer["blobs"]) for layer in described["layers"]}


# The phases training builds (wrap.py, solver.py): Caffe keeps the layers whose
# include / exclude rules match the phase and stage, so each is checked as Caffe sees it.
PHASES = (("training", "TRAIN", ("train",)), ("validation", "TEST", ("val",)))


def check_structure(net, where):
    """Check what the prototxt text alone tells, for each phase training builds (the
    layers Caffe keeps in it); the network's NetInfo (BadInputError)."""
    if len(net.layers):
        raise BadInputError("uses Caffe's old V1 `layers { }` format; convert it with Caffe's "
                            "upgrade_net_proto_text tool", where=where)
    if not len(net.layer):
        raise BadInputError("the network has no layers", where=where)
    _check_unique_names(net, where)
    _reject_data_layers(net, where)
    _check_rules(net, where)
    ruled = any(len(layer.include) or len(layer.exclude) for layer in net.layer)
    infos = []
    for name, phase, stages in PHASES:
        part = phase_net(net, phase, stages)
        try:
            if not len(part.layer):
                raise BadInputError("the network has no layers")
            infos.append(_check_phase(part))
        except BadInputError as err:
            if not ruled:
                raise BadInputError(str(err), where=where) from None
            raise BadInputError(f"in the {name} phase ({phase}, stage \"{stages[0]}\", the "
                                f"layers whose include/exclude rules match): {err}",
                                where=where) from None
    if infos[0] != infos[1]:
        raise BadInputError("the training and validation phases have different loss layers or "
                            "features; both must end in the same ContrastiveLoss", where=where)
    _check_margin(infos[0], where)
    return infos[0]


def _check_margin(info, where):
    """BadInputError naming the loss layer's line when its margin is not a finite
    number above 0 (at 0 every pair costs nothing: nothing is learnt)."""
    line = netprobe.prototxt_line_of_layer(where, info.loss_layer) if where else None
    at = f"{where}:{line}" if line else where
    ranges.check(info.margin, ranges.MARGIN, f"{at}: layer '{info.loss_layer}' margin")


def phase_net(net, phase, stages=(), level=0):
    """A copy of NetParameter `net` with only the layers Caffe keeps for this state
    (phase "TRAIN"/"TEST", stages, level): its NetStateRule semantics."""
    state = {"phase": getattr(prototxt.caffe_pb2(), phase), "stages": set(stages),
             "level": level}
    kept = type(net)()
    kept.CopyFrom(net)
    del kept.layer[:]
    kept.layer.extend(layer for layer in net.layer if _kept(layer, state))
    return kept


def _kept(layer, state):
    if len(layer.include):
        return any(_meets(rule, state) for rule in layer.include)
    return not any(_meets(rule, state) for rule in layer.exclude)


def _meets(rule, state):
    """Whether a NetStateRule holds for the state (as Caffe's Net::StateMeetsRule)."""
    if rule.HasField("phase") and rule.phase != state["phase"]:
        return False
    if rule.HasField("min_level") and state["level"] < rule.min_level:
        return False
    if rule.HasField("max_level") and state["level"] > rule.max_level:
        return False
    return all(s in state["stages"] for s in rule.stage) and \
        not any(s in state["stages"] for s in rule.not_stage)


def _check_rules(net, where):
    for layer in net.layer:
        if len(layer.include) and len(layer.exclude):
            raise BadInputError(f"layer '{layer.name}' has both include and exclude rules; "
                                "Caffe takes one or the other", where=where)


def _check_phase(net, where=None):
    """The checks of one phase's layers; its NetInfo."""
    _check_bottoms_produced(net, where)
    loss = _the_loss(net, where)
    inputs = _branch_inputs(net, where)
    origins, _ = trace_branches(net, inputs)
    features = tuple(loss.bottom[:2])
    for blob, side in zip(features, (LEFT, RIGHT)):
        if origins.get(blob) != {side}:
            raise BadInputError(f"the loss layer '{loss.name}' takes '{blob}' as the {side} "
                                f"feature, but it does not come from the {side} branch alone "
                                f"(the Slice top '{inputs[0 if side == LEFT else 1]}')",
                                where=where)
    param = loss.contrastive_loss_param
    return NetInfo(loss.name, loss.top[0], features, float(param.margin),
                   bool(param.legacy_version), inputs)


def check_sharing(net, info, counts, where, allow_unshared=False):
    """Check that twin layers of the two branches share every learnable blob by name.

    counts: {layer name: learnable blob count} as real Caffe built the network.
    Returns [(left layer, right layer)] twins. With allow_unshared, unnamed or
    differently named params are accepted (a deliberately unshared network).
    """
    _, origins = trace_branches(net, info.branch_inputs)
    left = [layer for layer in net.layer if origins[layer.name] == {LEFT} and counts.get(layer.name)]
    right = [layer for layer in net.layer
             if origins[layer.name] == {RIGHT} and counts.get(layer.name)]
    if len(left) != len(right):
        raise BadInputError(f"the left branch has {len(left)} layers with learned parameters "
                            f"({_names(left)}) but the right branch {len(right)} "
                            f"({_names(right)}); the branches must be twins", where=where)
    owners = {}
    for a, b in zip(left, right):
        if a.type != b.type or counts[a.name] != counts[b.name]:
            raise BadInputError(f"layers '{a.name}' ({a.type}) and '{b.name}' ({b.type}) are "
                                "in the same place of the two branches but are not alike",
                                where=where)
        if not allow_unshared:
            for index in range(counts[a.name]):
                _check_param_pair(a, b, index, owners, where)
    return [(a.name, b.name) for a, b in zip(left, right)]


def trace_branches(net, inputs):
    """Which branch each blob and layer is computed from.

    inputs: the (left, right) tops of the Slice layer. Returns ({blob: sides},
    {layer name: sides}), sides being a set of "left"/"right" (both for layers
    after the branches merge, none for layers before the split or on `label` alone).
    """
    blobs = {inputs[0]: {LEFT}, inputs[1]: {RIGHT}}
    layers = {}
    for layer in net.layer:
        sides = set()
        for bottom in layer.bottom:
            sides |= blobs.get(bottom, set())
        layers[layer.name] = sides
        for top in layer.top:
            if top not in inputs:
                blobs[top] = sides
    return blobs, layers


def _check_param_pair(a, b, index, owners, where):
    """One learnable blob of twin layers a (left) and b (right) must carry one shared name."""
    name_a = a.param[index].name if index < len(a.param) else ""
    name_b = b.param[index].name if index < len(b.param) else ""
    hint = " (or pass --allow-unshared to train unshared branches)"
    for layer, name, twin in ((a, name_a, b), (b, name_b, a)):
        if not name:
            raise BadInputError(f"layer '{layer.name}' leaves its param {index} unnamed, so it "
                                f"is not shared with its twin '{twin.name}': give both "
                                f"`param {{ name: \"...\" }}` with the same name{hint}",
                                where=where)
    if name_a != name_b:
        raise BadInputError(f"layer '{b.name}' names its param {index} '{name_b}' but its twin "
                            f"'{a.name}' names it '{name_a}', so the branches do not share it"
                            f"{hint}", where=where)
    place = (a.name, index)
    if owners.setdefault(name_a, place) != place:
        other_layer, other_index = owners[name_a]
        raise BadInputError(f"param name '{name_a}' is used by '{a.name}' (param {index}) and "
                            f"by '{other_layer}' (param {other_index}), which are not twins",
                            where=where)


def _check_unique_names(net, where):
    seen = set()
    for layer in net.layer:
        if not layer.name:
            raise BadInputError(f"a {layer.type or 'untyped'} layer has no name", where=where)
        if layer.name in seen:
            raise BadInputError(f"two layers are named '{layer.name}'; layer names must be "
                                "unique", where=where)
        seen.add(layer.name)


def _reject_data_layers(net, where):
    for layer in net.layer:
        if layer.type in DATA_LAYER_TYPES:
            source = layer.data_param.source or layer.image_data_param.source or \
                layer.hdf5_data_param.source
            reads = f" reading '{source}'" if source else ""
            raise BadInputError(f"layer '{layer.name}' is a {layer.type} layer{reads}; leave "
                                f"data layers out: training adds its own for '{INPUT_BLOB}' "
                                f"and '{LABEL_BLOB}' from the dataset", where=where)


def _check_bottoms_produced(net, where):
    available = {INPUT_BLOB, LABEL_BLOB}
    for layer in net.layer:
        for bottom in layer.bottom:
            if bottom not in available:
                raise BadInputError(f"layer '{layer.name}' takes bottom '{bottom}', which no "
                                    f"earlier layer produces (the inputs are '{INPUT_BLOB}' "
                                    f"and '{LABEL_BLOB}')", where=where)
        available.update(layer.top)


def _the_loss(net, where):
    losses = [layer for layer in net.layer if layer.type == LOSS_TYPE]
    if not losses:
        raise BadInputError(f"the network has no loss: add a {LOSS_TYPE} layer with bottoms "
                            f"(left feature, right feature, {LABEL_BLOB})", where=where)
    if len(losses) > 1:
        raise BadInputError(f"the network has {len(losses)} {LOSS_TYPE} layers "
                            f"({_names(losses)}); keep one", where=where)
    loss = losses[0]
    if len(loss.bottom) != 3 or loss.bottom[2] != LABEL_BLOB:
        raise BadInputError(f"the loss layer '{loss.name}' must take bottoms (left feature, "
                            f"right feature, {LABEL_BLOB}); it takes "
                            f"({', '.join(loss.bottom)})", where=where)
    if len(loss.top) != 1:
        raise BadInputError(f"the loss layer '{loss.name}' must have one top", where=where)
    return loss


def _branch_inputs(net, where):
    """(left, right) tops of the first Slice layer computed from `data`."""
    from_data = {INPUT_BLOB}
    for layer in net.layer:
        if not from_data.intersection(layer.bottom):
            continue
        if layer.type == "Slice" and len(layer.top) >= 2:
            return layer.top[0], layer.top[1]
        from_data.update(layer.top)
    raise BadInputError(f"no Slice layer splits '{INPUT_BLOB}' into the two images of a pair "
                        "(its first two tops feed the left and right branches)", where=where)


def _names(layers):
    return ", ".join(layer.name for layer in layers) or "none"


def unknown_layer_types(net):
    """[(layer name, type)] of the layers whose type this Caffe does not have (a typo such
    as "Poolng"), asked of Caffe's own layer registry."""
    from ..runtime import caffe_env

    known = set(caffe_env.import_caffe().layer_type_list())
    return [(layer.name, layer.type) for layer in net.layer if layer.type not in known]
