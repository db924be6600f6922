"""Checking the pair LMDBs of a dataset before Caffe reads them.

Caffe's Data layer aborts its process on a record it cannot use, and a data.mdb
cut short is worse: LMDB maps the file, so touching a page past its end is a
SIGBUS — a bare "Bus error" with nothing on stderr, from Caffe or from python-lmdb.
Two checks, both BadInputError naming the database:

- `quick_check(path)`, in this process: data.mdb is a file, an LMDB (its meta pages,
  read without touching the map's other pages), and long enough to hold every page
  its meta page says it has; it returns the number of records;
- `walk_pair_dbs(items)`, in a child process (`python -m siamese_caffe.data.lmdb_check`):
  each database is opened as Caffe opens it (read-only, no lock file), every
  record is read in key order and decoded as a Datum — a pair of the expected shape
  in the image DB, a one-value label in the label DB, under the same keys. A corrupted
  page that makes LMDB raise, or crash the child with a signal, is reported as the
  database being damaged; this process never reads a page that might crash it.

On the demo's 30,000 + 1,000 pairs the walk takes about a second.
"""

import json
import math
import os
import signal
import subprocess
import sys

import lmdb

from .. import PROJECT_ROOT
from ..errors import BadInputError
from . import lmdb_reader

META_PAGES = 2
MIN_PAGE = 4096      # LMDB pages are the OS page size, at least 4 KiB
STARTED = "CHECKING "
BAD = "BAD "


def quick_check(path):
    """The number of records of the LMDB folder `path`; BadInputError when it is missing,
    not an LMDB, or its data.mdb is shorter than its pages."""
    data = os.path.join(path, "data.mdb")
    if not os.path.isfile(data):
        raise BadInputError("missing LMDB (no data.mdb)", where=path)
    size = os.path.getsize(data)
    if size < META_PAGES * MIN_PAGE:
        raise BadInputError(f"damaged: data.mdb is {size} bytes, too short for an LMDB "
                            "(cut short)", where=path)
    try:
        env = lmdb_reader.open_readonly(path)
    except lmdb.Error as err:
        raise BadInputError(f"damaged: data.mdb is not a readable LMDB ({_lmdb_text(err)})",
                            where=path) from None
    with env:
        info, stat = env.info(), env.stat()
    need = (info["last_pgno"] + 1) * stat["psize"]
    if size < max(need, META_PAGES * stat["psize"]):
        raise BadInputError(f"damaged: data.mdb is {size} bytes but its pages need {need} "
                            "(cut short)", where=path)
    return stat["entries"]


def walk_pair_dbs(items, timeout=None):
    """Read every record of each (image_db, label_db, (3, H, W)) in a child process
    (label_db None: the image DB alone).

    Returns nothing; raises BadInputError naming the database at fault (a record that is
    not a pair of that shape, a missing or extra label, LMDB reporting corruption, or
    the child dying of a signal while reading it)."""
    request = [[os.path.abspath(image), os.path.abspath(label) if label else None, list(shape)]
               for image, label, shape in items]
    env = dict(os.environ, GLOG_minloglevel="2",
               PYTHONPATH=os.pathsep.join(filter(None, [PROJECT_ROOT,
                                                        os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", __name__, json.dumps(request)],
                            capture_output=True, text=True, env=env, timeout=timeout)
    lines = result.stdout.splitlines()
    if result.returncode == 0:
        return
    for line in lines:
        if line.startswith(BAD):
            where, message = line[len(BAD):].split("\t", 1)
            raise BadInputError(message, where=where)
    started = [line[len(STARTED):] for line in lines if line.startswith(STARTED)]
    where = started[-1] if started else request[0][0]
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise BadInputError(f"damaged: reading its pages crashed the reader ({name}); "
                            "the database is corrupted or cut short — make it again with "
                            "create-db", where=where)
    last = (result.stderr.strip().splitlines() or ["no message"])[-1]
    raise BadInputError(f"damaged: cannot be read ({last})", where=where)


class _Bad(Exception):
    def __init__(self, where, message):
        super().__init__(message)
        self.where = where


def _walk_images(path, shape, pb2):
    """Keys of the image DB, every value checked to be a raw pair Datum of `shape`."""
    keys = []
    datum = pb2.Datum()
    shape, size = tuple(shape), math.prod(shape)
    with _open_as_caffe(path) as env, env.begin(buffers=True) as txn:
        for key, value in txn.cursor():
            try:
                datum.ParseFromString(value)
            except Exception:
                raise _Bad(path, f"damaged: record {bytes(key)!r} is not a Caffe Datum")
            have = (datum.channels, datum.height, datum.width)
            if datum.encoded or have != shape or len(datum.data) != size:
                raise _Bad(path, f"damaged: record {bytes(key)!r} is not a raw "
                                 f"{'x'.join(map(str, shape))} pair Datum")
            keys.append(bytes(key))
    return keys


def _walk_labels(path, keys, pb2):
    """Check the label DB holds one label Datum under each of `keys`, in order."""
    good = set()
    count = 0
    with _open_as_caffe(path) as env, env.begin(buffers=True) as txn:
        for key, value in txn.cursor():
            key, value = bytes(key), bytes(value)
            if count >= len(keys) or key != keys[count]:
                expected = keys[count] if count < len(keys) else "no more records"
                raise _Bad(path, f"damaged: label key {key!r} where the image DB has "
                                 f"{expected!r} (the two DBs are out of step)")
            if value not in good:
                datum = pb2.Datum()
                try:
                    datum.ParseFromString(value)
                except Exception:
                    raise _Bad(path, f"damaged: record {key!r} is not a Caffe Datum")
                if (datum.channels * datum.height * datum.width != 1
                        or len(datum.float_data) + len(datum.data) > 1):
                    raise _Bad(path, f"damaged: record {key!r} is not a one-value label")
                good.add(value)
            count += 1
    if count != len(keys):
        raise _Bad(path, f"damaged: {count} labels for {len(keys)} pairs")


def _open_as_caffe(path):
    """The LMDB opened as Caffe's Data layer opens it (read-only, no lock file)."""
    try:
        return lmdb_reader.open_readonly(path, readahead=False)
    except lmdb.Error as err:
        raise _Bad(path, f"Caffe cannot open it ({_lmdb_text(err)})") from None


def _lmdb_text(err):
    return str(err).split(": ", 1)[-1] if ": " in str(err) else str(err)


def _main(request):
    """Child side: walk each pair of DBs; print BAD <path>\\t<message> and exit 1 at fault."""
    from ..runtime import prototxt

    pb2 = prototxt.caffe_pb2()
    for image_db, label_db, shape in request:
        current = image_db
        try:
            print(STARTED + image_db, flush=True)
            keys = _walk_images(image_db, shape, pb2)
            if not label_db:
                continue
            current = label_db
            print(STARTED + label_db, flush=True)
            _walk_labels(label_db, keys, pb2)
        except _Bad as bad:
            print(f"{BAD}{bad.where}\t{bad}", flush=True)
            return 1
        except (lmdb.Error, SystemError, MemoryError) as err:
            print(f"{BAD}{current}\tdamaged: LMDB reports {_lmdb_text(err)}", flush=True)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main(json.loads(sys.argv[1])))
