"""Fine-tuning: a new job starting from trained weights, as `caffe train -weights A,B` does.

Caffe's rule: for each .caffemodel in turn, every layer of the new net that has the
name of a layer in the file gets that layer's params (a later file overwrites an
earlier one); the other layers keep the fresh values of their weight fillers. Caffe
aborts the process when a named layer's blobs differ in number or shape; here the
files are read first (caffe_pb2, no Caffe) and compared with the shapes Caffe gave the
job's net, so each layer gets one line instead:

    loaded from A.caffemodel: conv1, conv1_p, ...
    initialised fresh (no layer of that name in the weights): feat, feat_p
    refused (shape mismatch): ip2: weights 10x500, the network needs 2x500 — fresh

A refused layer trains from its filler's values; a file none of whose layers fits is
refused whole (a wrong file, not a fine-tuning). The layers that load are written, in
Caffe's format, to the job's `weights.caffemodel`, which training copies into the net
before its first iteration (`Net.copy_from`); `caffe train -solver solver.prototxt
-weights weights.caffemodel`, run in the job folder, does the same. job.json's
`weights` records each source: its path, SHA-256 and size, and — for a snapshot of
another job — that job's id and the snapshot's iteration and epoch.
"""

import math
import os
from dataclasses import dataclass, field

from ..errors import BadInputError
from ..runtime import atomic_files, prototxt
from . import jobfiles, jobs

WEIGHTS_FILE = "weights.caffemodel"


@dataclass
class Source:
    """One weights file: its path (absolute), digest {"bytes", "sha256"}, the job and
    snapshot it belongs to (None for a file of no job), and what it gave."""

    path: str
    digest: dict
    job_id: str = None
    iteration: int = None
    epoch: float = None
    loaded: list = field(default_factory=list)
    refused: list = field(default_factory=list)      # [(layer, reason)]

    def as_record(self):
        """job.json's entry for this source."""
        return {"path": self.path, "sha256": self.digest["sha256"],
                "bytes": self.digest["bytes"], "job_id": self.job_id,
                "snapshot_iteration": self.iteration, "snapshot_epoch": self.epoch,
                "loaded": list(self.loaded),
                "refused": [{"layer": n, "reason": r} for n, r in self.refused]}


@dataclass
class WeightsPlan:
    """What a list of weights files gives a net: its sources, the layers each one sets
    (later files win), the layers left fresh, and the merged NetParameter to write."""

    sources: list
    fresh: list
    model: object            # caffe_pb2.NetParameter of the layers that load

    def report(self):
        """One line per finding, for the user (see the module docstring)."""
        lines = [f"loaded from {os.path.basename(s.path)}: {', '.join(s.loaded)}"
                 for s in self.sources if s.loaded]
        for source in self.sources:
            for name, reason in source.refused:
                lines.append(f"refused from {os.path.basename(source.path)} "
                             f"(shape mismatch): {name}: {reason} — initialised fresh")
        if self.fresh:
            lines.append("initialised fresh (no layer of that name in the weights): "
                         + ", ".join(self.fresh))
        return lines

    def as_record(self):
        """job.json's `weights` section."""
        return {"file": WEIGHTS_FILE, "sources": [s.as_record() for s in self.sources],
                "fresh": list(self.fresh)}


def split_paths(text, separator=","):
    """A --weights value (paths joined by `separator`) as a list of paths."""
    paths = [p.strip() for p in str(text).split(separator) if p.strip()]
    if not paths:
        raise BadInputError("give one or more .caffemodel files", where="--weights")
    return paths


def plan_weights(paths, target_layers, where="--weights"):
    """Compare weights files with a net; a WeightsPlan (BadInputError naming a file that
    is missing, not a Caffe model, or matches no layer).

    target_layers: [{"name", "blobs": [[dims] per blob]}] as netprobe describes the
    job's train net (layers without blobs are ignored).
    """
    pb2 = prototxt.caffe_pb2()
    wanted = {layer["name"]: [tuple(d) for d in layer["blobs"]]
              for layer in target_layers if layer["blobs"]}
    chosen = {}                               # layer name -> LayerParameter (last file wins)
    sources = []
    for path in paths:
        source, model = _read_source(path, pb2, where)
        for layer in model.layer:
            if layer.name not in wanted:
                continue
            mismatch = _mismatch(layer, wanted[layer.name])
            if mismatch:
                source.refused.append((layer.name, mismatch))
                continue
            source.loaded.append(layer.name)
            chosen[layer.name] = layer
        if not source.loaded:
            detail = (f"; refused: {source.refused[0][0]} ({source.refused[0][1]})"
                      if source.refused else "")
            raise BadInputError("no layer of the network can take its weights (none has "
                                f"the name and shapes of a layer in it){detail}",
                                where=source.path)
        sources.append(source)
    merged = pb2.NetParameter(name="fine-tuning weights")
    for name in wanted:
        if name in chosen:
            layer = merged.layer.add(name=name, type=chosen[name].type)
            layer.blobs.extend(chosen[name].blobs)
    return WeightsPlan(sources, [n for n in wanted if n not in chosen], merged)


def write_weights(plan, folder):
    """Write the plan's merged weights as `folder`/weights.caffemodel; its digest."""
    path = os.path.join(folder, WEIGHTS_FILE)
    atomic_files.write_bytes(path, plan.model.SerializeToString())
    return jobfiles.file_digest(path)


def _read_source(path, pb2, where):
    """(Source, NetParameter) of one weights file."""
    absolute = os.path.abspath(path)
    if not os.path.isfile(absolute):
        raise BadInputError("no such weights file", where=path)
    source = Source(absolute, jobfiles.file_digest(absolute))
    _identify_snapshot(source)
    model = pb2.NetParameter()
    try:
        with open(absolute, "rb") as f:
            model.ParseFromString(f.read())
    except OSError as err:
        raise BadInputError(f"cannot read ({err.strerror or err})", where=path) from None
    except Exception:  # protobuf's DecodeError
        raise BadInputError("not a Caffe model (.caffemodel): it does not parse as a "
                            "NetParameter", where=path) from None
    if len(model.layers):
        raise BadInputError("holds Caffe's old V1 layers; upgrade it with Caffe's "
                            "upgrade_net_proto_binary first", where=path)
    if not any(len(layer.blobs) for layer in model.layer):
        raise BadInputError("holds no weights (not a trained .caffemodel?)", where=path)
    return source, model


def _identify_snapshot(source):
    """Fill the job id, iteration and epoch when the file is a recorded snapshot of a job
    (its folder's job.json lists it); a recorded snapshot must be the file training wrote."""
    folder, name = os.path.split(source.path)
    if not jobs.SNAPSHOT_RE.match(name) or not os.path.isfile(os.path.join(folder,
                                                                            jobs.JOB_FILE)):
        return
    try:
        job = jobs.Job.load(folder)
    except BadInputError:
        return
    for snapshot in job.snapshots():
        if snapshot.caffemodel_path == source.path:
            recorded = snapshot.digest(source.path)
            if recorded:
                jobfiles.check_recorded(source.path, recorded)
            source.job_id, source.iteration = job.job_id, snapshot.iteration
            source.epoch = round(snapshot.epoch, 6)
            return


def _mismatch(layer, shapes):
    """Why a file's layer cannot fill a net layer with blobs of `shapes` (None if it can),
    by Caffe's rule (same number of blobs, equal shapes; legacy 4-D shapes padded), and
    every blob holding as many values as its shape says (Caffe aborts otherwise)."""
    if len(layer.blobs) != len(shapes):
        return f"{len(layer.blobs)} blobs in the weights, the network has {len(shapes)}"
    for index, (blob, want) in enumerate(zip(layer.blobs, shapes)):
        have = prototxt.blob_shape(blob)
        legacy = not blob.HasField("shape")
        padded = (1,) * (4 - len(want)) + tuple(want) if legacy and len(want) <= 4 else want
        what = "weights" if index == 0 else ("bias" if index == 1 else f"blob {index}")
        if tuple(have) != tuple(padded):
            return f"{what} {_dims(have)} in the weights, the network needs {_dims(want)}"
        count = len(blob.data) or len(blob.double_data)
        if count != math.prod(want):
            return f"{what} holds {count} values, not {math.prod(want)} (damaged file?)"
    return None


def _dims(dims):
    return "x".join(str(int(d)) for d in dims) or "scalar"


def describe(record):
    """A one-line account of job.json's `weights` section, for summaries."""
    if not record:
        return "from scratch"
    parts = []
    for source in record.get("sources", []):
        where = (f"job {source['job_id']} iteration {source['snapshot_iteration']}"
                 if source.get("job_id") else source["path"])
        parts.append(f"{where} (sha256 {source['sha256'][:12]}…)")
    return "fine-tuned from " + "; ".join(parts)

