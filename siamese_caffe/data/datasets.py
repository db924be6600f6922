"""A create-db dataset folder as training sees it: its pieces, checked before use.

`load_dataset(folder)` reads dataset.json and checks that every piece Caffe
will open exists and agrees: the image and label LMDBs of both phases hold the
same number of records, the records are raw 3 x H x W Datums, and the training
mean is a 1 x 3 x H x W BlobProto. Any violation is one BadInputError naming the
piece, raised before a job folder is made (Caffe itself would abort the process).
"""

import json
import math
import os
from dataclasses import dataclass

import lmdb

from ..errors import BadInputError
from ..runtime import prototxt
from . import mean_files

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


def load_dataset(folder):
    """Check a create-db folder and return its Dataset (BadInputError naming what is wrong)."""
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
        images = _path(folder, entry.get("image_db", f"{phase}_images"))
        labels = _path(folder, entry.get("label_db", f"{phase}_labels"))
        counts[phase], shapes[phase] = _check_db_pair(images, labels)
        dbs[phase] = (images, labels)
    if shapes["train"] != shapes["val"]:
        raise BadInputError(f"validation pairs are {_shape_text(shapes['val'])} but training "
                            f"pairs {_shape_text(shapes['train'])}", where=dbs["val"][0])
    mean_file = _path(folder, manifest["train"].get("mean_file", "train_mean.binaryproto"))
    mean_shape = read_mean_shape(mean_file)
    if mean_shape != (1,) + shapes["train"]:
        raise BadInputError(f"the mean is {_shape_text(mean_shape)} but the pairs are "
                            f"{_shape_text(shapes['train'])}", where=mean_file)
    return Dataset(folder, shapes["train"], counts, dbs, mean_file, manifest)


def read_mean_shape(path):
    """(num, channels, height, width) of a BlobProto mean file (num is 1)."""
    return (1,) + mean_files.read_binaryproto(path).shape


def _read_manifest(folder):
    """dataset.json as a dict."""
    path = _path(folder, "dataset.json")
    try:
        with open(path) as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise BadInputError("dataset.json is missing: not a create-db folder",
                            where=folder) from None
    except (OSError, ValueError) as err:
        raise BadInputError(f"unreadable ({err})", where=path) from None
    if not isinstance(manifest, dict):
        raise BadInputError("is not a JSON object", where=path)
    return manifest


def _check_db_pair(image_db, label_db):
    """(record count, (3, H, W)) of an image LMDB and its label LMDB, checked to agree."""
    image_count = _lmdb_entries(image_db)
    label_count = _lmdb_entries(label_db)
    if image_count != label_count:
        raise BadInputError(f"{image_count} image records but {label_count} label records in "
                            f"{os.path.basename(label_db)}", where=image_db)
    if image_count == 0:
        raise BadInputError("the database is empty", where=image_db)
    datum = prototxt.caffe_pb2().Datum()
    datum.ParseFromString(_first_value(image_db))
    shape = (datum.channels, datum.height, datum.width)
    if datum.encoded or shape[0] != 3 or len(datum.data) != math.prod(shape):
        raise BadInputError("records are not raw 3-channel pair Datums", where=image_db)
    return image_count, shape


def _lmdb_entries(path):
    """Number of records in the LMDB at `path` (BadInputError when it is not one)."""
    if not os.path.isfile(os.path.join(path, "data.mdb")):
        raise BadInputError("missing LMDB (no data.mdb)", where=path)
    with lmdb.open(path, readonly=True, lock=False, subdir=True) as env:
        return env.stat()["entries"]


def _first_value(path):
    """The bytes of the first record (in key order) of an LMDB."""
    with lmdb.open(path, readonly=True, lock=False, subdir=True) as env, env.begin() as txn:
        cursor = txn.cursor()
        cursor.first()
        return bytes(cursor.value())


def _path(folder, name):
    return os.path.join(folder, name)


def _shape_text(dims):
    return "x".join(str(int(d)) for d in dims)
