"""DIGITS' model download: one archive with everything needed to run a job elsewhere.

    write_bundle(job, "model.tar.gz")                  # the last snapshot
    write_bundle(job, "model.zip", iteration=20)
    data = bundle_bytes(job, "tar.gz", snapshot)       # for the server's download route

The archive (flat, as DIGITS' was) holds

    deploy.prototxt            Input `data` 1 x 3 x H x W → the two feature blobs
    snapshot_iter_N.caffemodel the weights of the chosen snapshot
    train_mean.binaryproto     the training mean (BlobProto 1 x 3 x H x W) to subtract
    train_val.prototxt, solver.prototxt, original.prototxt   the job's other prototxts
    info.json                  DIGITS' job keys (as /models/<id>.json without directory
                               and snapshots; "snapshot file" names this snapshot) plus
                               "feature blobs", "input blob", "input shape", "margin",
                               "threshold", "input transform" and the snapshot's iteration
                               and epoch
    README.txt                 how to feed the net, in a few lines

Formats by name, as DIGITS' `/models/<id>/download.<ext>`: tar.gz (DIGITS' default),
tgz, tar, tar.bz2 and zip. The snapshot's files are checked against what training
recorded before they are packed (train.jobfiles), so a damaged snapshot is one
BadInputError, not a broken download. `write_bundle` writes beside the target and
renames (runtime.atomic_files): a failed or interrupted run leaves nothing.
"""

import datetime
import io
import json
import os
import tarfile
import zipfile

from .. import __version__
from ..errors import BadInputError
from ..data import mean_files
from ..runtime import atomic_files, prototxt
from ..train import jobfiles, jobs

FORMATS = ("tar.gz", "tgz", "tar", "tar.bz2", "zip")
TAR_MODES = {"tar.gz": "w:gz", "tgz": "w:gz", "tar": "w:", "tar.bz2": "w:bz2"}
MADE_BY = "siamese-caffe"          # info.json "made by": what --force may replace
INFO_NAME, README_NAME = "info.json", "README.txt"
OTHER_PROTOTXTS = ("train_val", "solver", "original")


def format_of(path):
    """The archive format named by a file's ending ("model.tar.gz" → "tar.gz");
    BadInputError naming the path when it has none of FORMATS."""
    name = os.path.basename(path).lower()
    for fmt in sorted(FORMATS, key=len, reverse=True):
        if name.endswith("." + fmt):
            return fmt
    raise BadInputError(f"cannot tell the archive format from the name (end it in "
                        f"{', '.join('.' + f for f in FORMATS)})", where=path)


def members(job, snapshot):
    """[(name in the archive, absolute source path)] of the files packed from the job
    and its dataset (info.json and README.txt are made, not copied)."""
    files = [(jobs.FILES["deploy"], job.deploy_path),
             (os.path.basename(snapshot.caffemodel_path), snapshot.caffemodel_path),
             (os.path.basename(job.mean_file), job.mean_file)]
    files += [(jobs.FILES[key], job.file(key)) for key in OTHER_PROTOTXTS
              if os.path.isfile(job.file(key))]
    return files


def input_transform(job):
    """What a caller does to an image before the deploy net (info.json "input transform")."""
    return {
        "layout": "N x 3 x H x W float32 (Caffe's CHW), one pair per item",
        "channels": "0 = first digit (the blue plane of a pair picture), 1 = second digit "
                    "(green), 2 = 0 (red, unused by the net)",
        "pixel values": "0..255, not rescaled: the net's own first layer scales them"
                        + _scale_note(job),
        "mean subtraction": f"image: subtract {os.path.basename(job.mean_file)} (3 x H x W) "
                            "pixel by pixel",
        "grayscale digit": "replicate it into all three channels and subtract, in each, "
                           "the average of the mean's channels 0 and 1: both features "
                           "are then that digit's embedding",
    }


def info_document(job, snapshot, digits=None):
    """info.json: DIGITS' keys for `job` at `snapshot`, then this project's.

    digits: the server's answer for the job (/models/<id>.json keys: name, status,
    username, dataset_id...), which takes precedence over what the job folder alone
    tells; directory and snapshots are left out, as DIGITS left them out."""
    shape = job.image_shape
    document = {
        "id": job.job_id, "name": job.job_id, "status": None, "dataset_id": None,
        "job id": job.job_id, "creation time": _digits_time(job.created), "username": None,
        "image dimensions": [shape[1], shape[2], shape[0]],
        "mean file": os.path.basename(job.mean_file),
        "framework": "caffe", "image resize mode": None, "digits version": __version__,
        "solver file": jobs.FILES["solver"], "train_val file": jobs.FILES["train_val"],
        "deploy file": jobs.FILES["deploy"], "model file": jobs.FILES["original"],
        "mean subtraction": "image", "caffe flavor": "BVLC", "caffe version": "1.0.0",
    }
    document.update({k: v for k, v in (digits or {}).items()
                     if k not in ("directory", "snapshots")})
    document.update({
        "snapshot file": os.path.basename(snapshot.caffemodel_path),
        "snapshot iteration": snapshot.iteration,
        "snapshot epoch": snapshot.epoch,
        "feature blobs": list(job.feature_blobs),
        "input blob": job.input_blob,
        "input shape": [1, *shape],
        "margin": job.margin,
        "threshold": job.margin / 2,
        "input transform": input_transform(job),
        "made by": MADE_BY,
    })
    return document


def readme_text(job, snapshot):
    """README.txt: how to feed the net, for someone with pycaffe and nothing else."""
    left, right = job.feature_blobs
    channels, height, width = job.image_shape
    mean = os.path.basename(job.mean_file)
    weights = os.path.basename(snapshot.caffemodel_path)
    return f"""\
Siamese network of job {job.job_id}, {snapshot.label}.

Load it with pycaffe:

    net = caffe.Net("deploy.prototxt", caffe.TEST, weights="{weights}")
    blob = caffe.proto.caffe_pb2.BlobProto()
    blob.ParseFromString(open("{mean}", "rb").read())
    mean = caffe.io.blobproto_to_array(blob)[0]          # {channels} x {height} x {width} float32

Feed it one pair per item, {channels} x {height} x {width}, in Caffe's channel order: channel 0 the
first digit, channel 1 the second, channel 2 zero. A pair picture (RGB) holds the first
digit in its blue plane and the second in its green plane, so its BGR planes are the
input as they are. Pixels stay 0..255; subtract the mean pixel by pixel:

    net.blobs["{job.input_blob}"].reshape(N, {channels}, {height}, {width})
    net.blobs["{job.input_blob}"].data[...] = pairs.astype("float32") - mean
    net.forward()
    left, right = net.blobs["{left}"].data, net.blobs["{right}"].data

For one grayscale digit, put it in all three channels and subtract the average of the
mean's channels 0 and 1 from each: both features are then its embedding.

The distance between the two features tells the pair apart: below {job.margin / 2:g} (half the
contrastive loss's margin, {job.margin:g}) the two digits are called the same class.
info.json holds these facts for programs.
"""


def choose_snapshot(job, iteration=None, epoch=None):
    """The snapshot to pack: after `iteration` iterations, or at `epoch` (DIGITS' ?epoch=;
    -1 or None: the last), else the last one. BadInputError when there is none such."""
    if iteration is not None:
        return job.snapshot(iteration)
    if epoch is None or float(epoch) < 0:
        return job.last_snapshot()
    snapshots = job.snapshots()
    for snap in snapshots:
        if abs(snap.epoch - float(epoch)) < 1e-6:
            return snap
    have = ", ".join(f"{s.epoch:g}" for s in snapshots) or "none"
    raise BadInputError(f"no snapshot at epoch {float(epoch):g} (have: {have})",
                        where=job.path)


def check_bundle_files(job, snapshot):
    """Make sure what is packed is what training wrote (BadInputError naming a damaged
    file): the snapshot and deploy net as inference checks them, the mean as a BlobProto."""
    jobfiles.check_inference_files(job, snapshot)
    mean_files.read_binaryproto(job.mean_file)


def write_archive(target, fmt, job, snapshot, digits=None):
    """Write the bundle to the file or binary file object `target` in format `fmt`."""
    made = [(INFO_NAME, (json.dumps(info_document(job, snapshot, digits), indent=2,
                                    sort_keys=True) + "\n").encode()),
            (README_NAME, readme_text(job, snapshot).encode())]
    if fmt == "zip":
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, path in members(job, snapshot):
                archive.write(path, name)
            for name, data in made:
                archive.writestr(name, data)
        return
    with _open_tar(target, fmt) as archive:
        for name, path in members(job, snapshot):
            archive.add(path, arcname=name, recursive=False, filter=_plain)
        for name, data in made:
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(data))


def bundle_bytes(job, fmt, snapshot, digits=None):
    """The bundle as bytes (for a download answer), after check_bundle_files."""
    if fmt not in FORMATS:
        raise BadInputError(f"unknown archive format '{fmt}' (have {', '.join(FORMATS)})",
                            where="extension")
    check_bundle_files(job, snapshot)
    buffer = io.BytesIO()
    write_archive(buffer, fmt, job, snapshot, digits)
    return buffer.getvalue()


def write_bundle(job, path, iteration=None, force=False, digits=None):
    """Write the bundle of `job` (its snapshot after `iteration`, default the last) to
    `path`, whose ending names the format; returns (absolute path, the Snapshot).

    An existing `path` is refused, or with force replaced only when it is a bundle this
    tool wrote; `path` may not be one of the files it packs."""
    fmt = format_of(path)
    snapshot = choose_snapshot(job, iteration)
    target = os.path.abspath(path)
    for name, source in members(job, snapshot):
        if os.path.exists(target) and os.path.samefile(source, target):
            raise BadInputError(f"is the job's own {name}, which the bundle packs", where=path)
    if os.path.isdir(target):
        raise BadInputError("is a folder; give a file name ending in ." + fmt, where=path)
    if os.path.lexists(target):
        if not force:
            raise BadInputError("already exists (use --force to replace it)", where=path)
        if not is_own_bundle(target):
            raise BadInputError("already exists and is not a bundle this tool wrote: not "
                                "replaced, even with --force", where=path)
    check_bundle_files(job, snapshot)
    with atomic_files.replacing(target) as tmp:
        write_archive(tmp, fmt, job, snapshot, digits)
    return target, snapshot


def is_own_bundle(path):
    """Whether `path` is an archive whose info.json says this tool made it."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                data = archive.read(INFO_NAME)
        else:
            with tarfile.open(path) as archive:
                data = archive.extractfile(INFO_NAME).read()
        return json.loads(data).get("made by") == MADE_BY
    except (OSError, KeyError, ValueError, AttributeError, tarfile.TarError,
            zipfile.BadZipFile):
        return False


def _open_tar(target, fmt):
    """A tarfile writing `fmt` to a path or a binary file object."""
    if hasattr(target, "write"):
        return tarfile.open(fileobj=target, mode=TAR_MODES[fmt])
    return tarfile.open(target, TAR_MODES[fmt])


def _digits_time(iso_text):
    """DIGITS' "creation time" text (YYYY-MM-DD HH:MM:SS.ffffff) from job.json's ISO time."""
    try:
        return datetime.datetime.fromisoformat(iso_text).strftime("%Y-%m-%d %H:%M:%S.%f")
    except (TypeError, ValueError):
        return None


def _plain(entry):
    """A tar entry of a packed file without the owner's names and ids."""
    entry.uid = entry.gid = 0
    entry.uname = entry.gname = ""
    return entry


def _scale_note(job):
    """" (Power scale 0.0125)" when the deploy net begins by scaling its input, else ""."""
    try:
        net = prototxt.read_net(job.deploy_path)
    except BadInputError:
        return ""
    for layer in net.layer:
        if job.input_blob in layer.bottom:
            if layer.type == "Power":
                return f" (Power layer '{layer.name}', scale {layer.power_param.scale:g})"
            return ""
    return ""
