"""Wrapping a user's network as DIGITS did for its "other" image models.

The user's prototxt holds no data layers; it reads `data` and `label`.

- `train_val_net`: two Data layers per phase in front of the user's layers —
  `data` from the image LMDB through the job's transform (transform.py: the
  training mean image, per-channel mean values or nothing subtracted, and an
  optional crop) and `label` from the label LMDB, in TRAIN from the
  training DBs and in TEST from the validation DBs. The two Data layers of a
  phase read the same keys in the same order, so pair i meets label i.
- `deploy_net`: an Input layer `data` of 1 x 3 x H x W (the crop's size when the
  job crops) in front of the user's
  layers minus those that need `label` or a loss (and any layer fed by them), in
  the net state {phase: TEST, stage: "deploy"} so DIGITS-style
  `exclude { stage: "deploy" }` rules work. Inference feeds mean-subtracted pairs.
"""

from ..errors import BadInputError
from ..runtime import prototxt
from . import netcheck
from .transform import Transform

TRAIN_STAGE, VAL_STAGE, DEPLOY_STAGE = "train", "val", "deploy"
# (phase of the dataset, Caffe phase name) -> names of the added Data layers
DATA_LAYERS = {"train": ("train-data", "train-label"), "val": ("val-data", "val-label")}


def train_val_net(user_net, dataset, batch_size, val_batch_size, transform=None):
    """The user's net behind LMDB Data layers for both phases (a new NetParameter).

    dataset: datasets.Dataset. batch_size / val_batch_size: pairs per iteration in
    TRAIN / TEST. transform: transform.Transform (default: subtract the mean image,
    no crop).
    """
    if transform is None:
        transform = Transform("image", None, None, tuple(dataset.image_shape))
    pb2 = prototxt.caffe_pb2()
    _check_reserved_names(user_net)
    full = pb2.NetParameter(name=user_net.name)
    for phase, batch, rule in (("train", batch_size, pb2.TRAIN), ("val", val_batch_size, pb2.TEST)):
        image_db, label_db = dataset.dbs[phase]
        image_name, label_name = DATA_LAYERS[phase]
        images = _data_layer(full, image_name, netcheck.INPUT_BLOB, image_db, batch, rule)
        transform.apply_to(images.transform_param, dataset.mean_file)
        _data_layer(full, label_name, netcheck.LABEL_BLOB, label_db, batch, rule)
    full.layer.extend(user_net.layer)
    return full


def deploy_net(user_net, image_shape):
    """The user's net for inference: Input `data` (1 x `image_shape`, the transform's
    input_shape when it crops), no label, no loss."""
    pb2 = prototxt.caffe_pb2()
    full = pb2.NetParameter(name=user_net.name)
    full.state.phase = pb2.TEST
    full.state.stage.append(DEPLOY_STAGE)
    netcheck.add_input(full, netcheck.INPUT_BLOB, (1,) + tuple(image_shape))
    full.layer.extend(deploy_layers(user_net))
    return full


def deploy_layers(user_net):
    """The user's layers that need neither `label` nor a loss, in order (a list)."""
    missing = {netcheck.LABEL_BLOB}
    kept = []
    for layer in user_net.layer:
        is_loss = layer.type.endswith("Loss") or any(w != 0 for w in layer.loss_weight)
        if is_loss or missing.intersection(layer.bottom):
            missing.update(layer.top)
            continue
        missing.difference_update(layer.top)
        kept.append(layer)
    return kept


def _data_layer(net, name, top, source, batch_size, phase):
    """Append a Data layer reading LMDB `source` into blob `top` in `phase`; returns it."""
    layer = net.layer.add(name=name, type="Data", top=[top])
    layer.include.add(phase=phase)
    layer.data_param.source = source
    layer.data_param.batch_size = batch_size
    layer.data_param.backend = layer.data_param.LMDB
    return layer


def _check_reserved_names(user_net):
    reserved = {name for pair in DATA_LAYERS.values() for name in pair}
    for layer in user_net.layer:
        if layer.name in reserved:
            raise BadInputError(f"layer name '{layer.name}' is reserved for the data layers "
                                "training adds; rename the layer")
