"""Checking a job's files before Caffe reads them.

Caffe answers a damaged file with LOG(FATAL), which aborts the whole process with a
glog stack trace (`Check failed: ReadProtoFromBinaryFile`, exit status 134). Every
file of a job that Caffe will read is therefore checked here first, cheaply, and a
damaged one becomes one BadInputError naming it:

- a snapshot's .caffemodel and .solverstate: their size and SHA-256 against what the
  training loop recorded in job.json when it wrote them (a few milliseconds for the
  demo's 3.4 MB LeNet). Snapshots recorded before digests were kept are parsed with
  caffe_pb2 instead, and the weights' blobs compared with the deploy net's shapes
  (job.json network.param_shapes) — a truncated file does not parse, or has fewer or
  shorter blobs;
- deploy.prototxt, train_val.prototxt and solver.prototxt: their SHA-256 against what
  create_job wrote. A file that has changed (edited, or cut short) is parsed (a syntax
  error names file:line) and then built in a child Caffe (runtime.netprobe) with the
  snapshot's weights, so whatever else Caffe would abort on is one line too. Jobs made
  before digests were kept always take that child build (about a second).

The mean file is checked where it is read (data.mean_files), the dataset's LMDBs by
data.datasets.
"""

import hashlib
import math
import os

from ..errors import BadInputError
from ..runtime import atomic_files, input_files, netprobe, prototxt
from ..net import solver as solvers
from . import jobs

CHUNK = 1 << 20
PROTOTXT_FILES = ("deploy", "train_val", "solver")


def file_digest(path):
    """{"bytes": size, "sha256": hex digest} of a file."""
    digest = hashlib.sha256()
    size = 0
    input_files.check_regular(path)
    with open(path, "rb") as f:
        while True:
            block = f.read(CHUNK)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return {"bytes": size, "sha256": digest.hexdigest()}


def prototxt_digests(folder):
    """job.json's "files": the digests of a job folder's prototxt files."""
    return {jobs.FILES[key]: file_digest(os.path.join(folder, jobs.FILES[key]))
            for key in PROTOTXT_FILES}


def matches(path, recorded):
    """Whether the file at `path` is the one `recorded` ({"bytes", "sha256"}) describes."""
    if not recorded:
        return False
    try:
        if os.path.getsize(path) != recorded.get("bytes"):
            return False
        return file_digest(path)["sha256"] == recorded.get("sha256")
    except OSError:
        return False


def check_recorded(path, recorded):
    """BadInputError naming `path` unless it is the file `recorded` describes."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise BadInputError(f"cannot read ({err.strerror or err})", where=path) from None
    want = recorded.get("bytes")
    if size != want:
        raise BadInputError(f"damaged: {size} bytes, but training wrote {want} "
                            f"(cut short or overwritten)", where=path)
    if file_digest(path)["sha256"] != recorded.get("sha256"):
        raise BadInputError("damaged: its content has changed since training wrote it "
                            "(SHA-256 differs)", where=path)


def check_inference_files(job, snapshot):
    """Make sure Caffe can load `job`'s deploy net with `snapshot`'s weights (jobs.Snapshot);
    BadInputError naming the damaged file otherwise."""
    weights_known = _check_weights(job, snapshot)
    deploy_known = matches(job.deploy_path, job.file_digests.get(jobs.FILES["deploy"]))
    if not deploy_known:
        prototxt.read_net(job.deploy_path)           # a syntax error: file:line
    if not (weights_known and deploy_known):
        net, = _probe([("net", job.deploy_path, "test", [], snapshot.caffemodel_path)],
                      job.deploy_path, snapshot.caffemodel_path)
        _check_described(job, net)


def _check_described(job, net):
    """BadInputError naming deploy.prototxt when the net Caffe built from it lacks the
    blobs inference reads (a file cut at a layer boundary still parses)."""
    blobs = net["blobs"]
    want = tuple(job.input_shape)
    have = tuple(blobs.get(job.input_blob, [])[1:])
    if have != want:
        raise BadInputError(f"its input blob '{job.input_blob}' is "
                            f"{_dims_text(have) if have else 'missing'}, the job's inputs are "
                            f"{_dims_text(want)} (cut short or edited?)", where=job.deploy_path)
    for name in job.feature_blobs:
        if name not in blobs:
            raise BadInputError(f"has no feature blob '{name}' (cut short or edited?)",
                                where=job.deploy_path)


def check_resume_files(job, snapshot):
    """Make sure Caffe can build `job`'s solver and restore `snapshot` (with a
    .solverstate); BadInputError naming the damaged file otherwise."""
    weights_known = _check_weights(job, snapshot)
    _check_solverstate(snapshot)
    digests = job.file_digests
    changed = [key for key in ("train_val", "solver")
               if not matches(job.file(key), digests.get(jobs.FILES[key]))]
    for key in changed:
        reader = prototxt.read_solver if key == "solver" else prototxt.read_net
        reader(job.file(key))
    if changed or not weights_known:
        runtime = solvers.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
        path = atomic_files.temporary_path(os.path.join(job.path, "probe-solver.prototxt"))
        prototxt.write_text(path, runtime)
        try:
            solver_nets, = _probe([("solver", path)], job.solver_path, snapshot.caffemodel_path)
        finally:
            os.remove(path)
        for net in [solver_nets["train"], *solver_nets["test"]]:
            missing = [name for name in (job.loss_top, job.label_blob, *job.feature_blobs)
                       if name not in net["blobs"]]
            if missing:
                raise BadInputError(f"the net Caffe builds from it has no blob "
                                    f"'{missing[0]}' (cut short or edited?)",
                                    where=job.train_val_path)
        if not weights_known:
            _probe([("net", job.deploy_path, "test", [], snapshot.caffemodel_path)],
                   job.deploy_path, snapshot.caffemodel_path)


def _check_weights(job, snapshot):
    """Check a snapshot's .caffemodel; True when it is known to load (its digest matched,
    or its blobs matched the recorded shapes), False when only a child Caffe can tell."""
    path = snapshot.caffemodel_path
    recorded = snapshot.digest(path)
    if recorded:
        check_recorded(path, recorded)
        return True
    model = _parse(path, "NetParameter", "a complete Caffe model (.caffemodel)")
    shapes = job.param_shapes
    if shapes is None or len(model.layers):       # older job, or V1 layers: let Caffe tell
        return False
    layers = {layer.name: layer for layer in model.layer}
    for name, blob_shapes in shapes.items():
        layer = layers.get(name)
        if layer is None:
            if blob_shapes:
                raise BadInputError(f"damaged: has no weights for layer '{name}' "
                                    "(cut short?)", where=path)
            continue
        if len(layer.blobs) != len(blob_shapes):
            raise BadInputError(f"damaged: layer '{name}' has {len(layer.blobs)} blobs, the "
                                f"network {len(blob_shapes)}", where=path)
        for blob, dims in zip(layer.blobs, blob_shapes):
            have = prototxt.blob_shape(blob)
            count = len(blob.data) or len(blob.double_data)
            if have != tuple(dims) or count != math.prod(dims):
                raise BadInputError(f"damaged: layer '{name}' holds {count} values of shape "
                                    f"{_dims_text(have)}, the network needs "
                                    f"{_dims_text(dims)}", where=path)
    return True


def _check_solverstate(snapshot):
    path = snapshot.solverstate_path
    if path is None:
        raise BadInputError("the snapshot has no .solverstate to resume from",
                            where=snapshot.caffemodel_path)
    recorded = snapshot.digest(path)
    if recorded:
        check_recorded(path, recorded)
        return
    state = _parse(path, "SolverState", "a complete Caffe solver state (.solverstate)")
    if state.iter != snapshot.iteration:
        raise BadInputError(f"damaged: it is the state after {state.iter} iterations, not "
                            f"{snapshot.iteration}", where=path)
    for blob in state.history:
        dims = prototxt.blob_shape(blob)
        if (len(blob.data) or len(blob.double_data)) != math.prod(dims):
            raise BadInputError("damaged: a history blob holds fewer values than its shape",
                                where=path)


def _parse(path, message_type, what):
    """Parse a binary Caffe protobuf file; BadInputError naming it when it does not parse."""
    message = getattr(prototxt.caffe_pb2(), message_type)()
    data = input_files.read_bytes(path, 1 << 34, what="Caffe file")
    try:
        message.ParseFromString(data)
    except Exception:  # protobuf's DecodeError
        raise BadInputError(f"damaged: not {what} — cut short or overwritten",
                            where=path) from None
    return message


def _probe(items, prototxt_path, weights_path):
    """netprobe.probe, with a failure blamed on the weights when Caffe's message says so."""
    try:
        return netprobe.probe(items)
    except netprobe.CaffeRejectedError as err:
        about_weights = any(word in err.reason for word in
                            (os.path.basename(weights_path), "copy param", "Incompatible number",
                             "NetParameter file"))
        where = weights_path if about_weights else prototxt_path
        if err.about_solver:
            line = solvers.field_line(prototxt_path, err.reason)
            where = f"{prototxt_path}:{line}" if line else prototxt_path
        elif err.layer and not about_weights:
            line = netprobe.prototxt_line_of_layer(prototxt_path, err.layer)
            where = f"{prototxt_path}:{line}" if line else prototxt_path
        raise netprobe.CaffeRejectedError(err.reason, where=where, about_solver=err.about_solver,
                                          layer=err.layer) from None


def _dims_text(dims):
    return "x".join(str(int(d)) for d in dims) or "scalar"
