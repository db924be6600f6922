"""A create-db dataset folder as training sees it: its pieces, checked before use.

`load_dataset(folder)` reads dataset.json and checks that every piece Caffe
will open exists and agrees: the image and label LMDBs of both phases hold the
number of records dataset.json says, every record is a raw 3 x H x W Datum under
the same key in both (lmdb_check: a damaged or truncated LMDB is found here, in a
child process, never by a Caffe abort or a bus error), and the training mean is a
1 x 3 x H x W BlobProto. Any violation is one BadInputError naming the piece,
raised before a job folder is made or training resumes.

`identity(manifest)` is what a job records of its dataset (seed, counts, creation
time, the content fingerprints create-db wrote), and `identity_change` tells, in
words, whether a folder now holds another dataset than the one recorded.
"""

import hashlib
import json
import math
import os
from dataclasses import dataclass

from ..errors import BadInputError
from ..runtime import input_files
from ..runtime import prototxt
from . import lmdb_check, lmdb_reader, mean_files

PHASES = ("train", "val")


@dataclass(frozen=True)
class Dataset:
    """A checked dataset folder.

    folder: absolute path. image_shape: (3, H, W) of every pair record.
    counts: {"train": pairs, "val": pairs}. dbs: {"train": (image_db, label_db), "val": (...)},
    absolute paths. mean_file: absolute path of train_mean.binaryproto (both phases subtract
    the training mean, as DIGITS did). manifest: dataset.json as a dict.
    """

    folder: str
    image_shape: tuple
    counts: dict
    dbs: dict
    mean_file: str
    manifest: dict


def load_dataset(folder, walk=PHASES):
    """Check a create-db folder and return its Dataset (BadInputError naming what is wrong).

    walk: the phases whose LMDBs are read record by record (in a child process; the
    others get the cheap checks only)."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise BadInputError("no such dataset folder (make one with `siamese-caffe create-db`)",
                            where=folder)
    manifest = _read_manifest(folder)
    dbs, counts, shapes = {}, {}, {}
    for phase in PHASES:
        entry = manifest.get(phase)
        if not isinstance(entry, dict):
            raise BadInputError(f"has no '{phase}' section", where=_path(folder, "dataset.json"))
        images, labels = phase_dbs(folder, entry, phase)
        counts[phase], shapes[phase] = _check_db_pair(images, labels, manifest)
        _check_manifest_count(entry, counts[phase], images, folder)
        dbs[phase] = (images, labels)
    if shapes["train"] != shapes["val"]:
        raise BadInputError(f"validation pairs are {_shape_text(shapes['val'])} but training "
                            f"pairs {_shape_text(shapes['train'])}", where=dbs["val"][0])
    walked = [(*dbs[phase], shapes[phase]) for phase in PHASES if phase in walk]
    if walked:
        lmdb_check.walk_pair_dbs(walked)
    mean_file = _path(folder, manifest["train"].get("mean_file", "train_mean.binaryproto"))
    mean_shape = read_mean_shape(mean_file)
    if mean_shape != (1,) + shapes["train"]:
        raise BadInputError(f"the mean is {_shape_text(mean_shape)} but the pairs are "
                            f"{_shape_text(shapes['train'])}", where=mean_file)
    return Dataset(folder, shapes["train"], counts, dbs, mean_file, manifest)


def phase_dbs(folder, entry, phase):
    """(image LMDB, label LMDB) absolute paths of one phase of a dataset folder, as its
    dataset.json section `entry` names them (create-db's own names when it does not;
    a prebuilt dataset names LMDBs elsewhere)."""
    return (_path(folder, entry.get("image_db", f"{phase}_images")),
            _path(folder, entry.get("label_db", f"{phase}_labels")))


def read_manifest(folder):
    """dataset.json of a dataset folder as a dict (BadInputError naming it otherwise)."""
    return _read_manifest(folder)


def read_mean_shape(path):
    """(num, channels, height, width) of a BlobProto mean file (num is 1)."""
    return (1,) + mean_files.read_binaryproto(path).shape


def _read_manifest(folder):
    """dataset.json as a dict."""
    path = _path(folder, "dataset.json")
    if not os.path.lexists(path):
        raise BadInputError("dataset.json is missing: not a create-db folder", where=folder)
    text = input_files.read_text(path, input_files.TEXT_LIMIT, what="dataset.json")
    try:
        manifest = json.loads(text)
    except ValueError as err:
        raise BadInputError(f"unreadable ({err})", where=path) from None
    if not isinstance(manifest, dict):
        raise BadInputError("is not a JSON object", where=path)
    return manifest


def _check_db_pair(image_db, label_db, manifest):
    """(record count, (3, H, W)) of an image LMDB and its label LMDB, checked to agree
    (cheap checks only; lmdb_check.walk_pair_dbs reads every record)."""
    image_count = lmdb_check.quick_check(image_db)
    label_count = lmdb_check.quick_check(label_db)
    if image_count != label_count:
        raise BadInputError(f"{image_count} image records but {label_count} label records in "
                            f"{os.path.basename(label_db)}", where=image_db)
    if image_count == 0:
        raise BadInputError("the database is empty", where=image_db)
    pair = manifest.get("pair")
    if isinstance(pair, dict) and all(isinstance(pair.get(k), int) and pair[k] > 0
                                      for k in ("channels", "height", "width")):
        return image_count, (pair["channels"], pair["height"], pair["width"])
    datum = prototxt.caffe_pb2().Datum()       # an older manifest: the first record says
    datum.ParseFromString(_first_value(image_db))
    shape = (datum.channels, datum.height, datum.width)
    if datum.encoded or shape[0] != 3 or len(datum.data) != math.prod(shape):
        raise BadInputError("records are not raw 3-channel pair Datums", where=image_db)
    return image_count, shape


def _check_manifest_count(entry, count, image_db, folder):
    """BadInputError when a phase's LMDB holds another number of records than dataset.json."""
    said = entry.get("pairs")
    if isinstance(said, int) and said != count:
        raise BadInputError(f"holds {count} records but dataset.json says {said} (the database "
                            "was replaced or damaged; make the dataset again)", where=image_db)


def identity(manifest):
    """What identifies a dataset (dict): seed, creation time, pair counts, the content
    fingerprints create-db wrote per phase, and a digest of dataset.json itself."""
    canonical = json.dumps(manifest, sort_keys=True).encode()
    return {"seed": manifest.get("seed"), "created": manifest.get("created"),
            **{f"{phase}_pairs": (manifest.get(phase) or {}).get("pairs") for phase in PHASES},
            **{f"{phase}_sha256": (manifest.get(phase) or {}).get("sha256") for phase in PHASES},
            "manifest_sha256": hashlib.sha256(canonical).hexdigest()}


def identity_change(recorded, manifest):
    """None when `manifest` (dataset.json now) describes the dataset `recorded`
    (an identity() dict; None for jobs older than identities: nothing to compare),
    else a few words on how they differ."""
    if not recorded:
        return None
    now = identity(manifest)
    keys = [f"{phase}_sha256" for phase in PHASES]
    if all(recorded.get(k) and now.get(k) for k in keys):
        same = all(recorded[k] == now[k] for k in keys)
    else:
        same = recorded.get("manifest_sha256") == now["manifest_sha256"]
    if same:
        return None
    return f"now {_describe(now)}; the job's was {_describe(recorded)}"


def _describe(ident):
    made = f"made {ident['created']}, " if ident.get("created") else ""
    return (f"{made}seed {ident.get('seed')}, {ident.get('train_pairs')} + "
            f"{ident.get('val_pairs')} pairs")


def _first_value(path):
    """The bytes of the first record (in key order) of an LMDB."""
    with lmdb_reader.open_readonly(path) as env, env.begin() as txn:
        cursor = txn.cursor()
        cursor.first()
        return bytes(cursor.value())


def _path(folder, name):
    return os.path.join(folder, name)


def _shape_text(dims):
    return "x".join(str(int(d)) for d in dims)
