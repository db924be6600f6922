"""The image LMDB and the label LMDB of one phase, written in lock-step.

`read_pair_records` reads such databases back (any pair LMDB, the label one optional).

Record k of both databases has the key `%0Nd % k` (N ≥ 8 digits), so Caffe's two
Data layers, which read in key order without shuffling, always see a pair and
its label together. Records are built a batch at a time as one (B, L) uint8
array (datum_codec) and appended in one transaction per database per batch.
"""

from ..runtime.progress import bar as progress_bar
from . import datum_codec, lmdb_reader
from .lmdb_writer import LmdbWriter, estimate_map_size

BATCH_RECORDS = 10000     # records per LMDB transaction (≈ 24 MB of MNIST pairs)
MIN_KEY_DIGITS = 8        # keys are zero-padded like Caffe's convert_imageset ("%08d")


def key_digits(count):
    """Digits of the zero-padded keys for `count` records (int)."""
    return max(MIN_KEY_DIGITS, len(str(count - 1)))


def write_pair_dbs(image_db, label_db, images, left, right, same, batch_records=BATCH_RECORDS,
                   progress=False, desc="pairs"):
    """Write pair k = (images[left[k]], images[right[k]]) and its label same[k] under key k.

    image_db, label_db: new LMDB folder paths. images: (N, H, W) uint8; left, right:
    (K,) int; same: (K,) bool. progress: tqdm bar on stderr labelled `desc`.
    Returns (the number of key digits, the SHA-256 of every record written — keys,
    image and label values, each in order, whatever the batches: the content fingerprint dataset.json records).
    """
    import hashlib

    count, digits = len(left), key_digits(len(left))
    parts = [hashlib.sha256() for _ in range(3)]     # keys, image values, label values
    record_length = datum_codec.pair_datum_length(*images.shape[1:])
    image_map = estimate_map_size(count, record_length, digits)
    label_map = estimate_map_size(count, len(datum_codec.SAME_CLASS), digits)
    with LmdbWriter(image_db, image_map) as images_out, \
            LmdbWriter(label_db, label_map) as labels_out, \
            progress_bar(total=count, desc=desc, unit="pair", disable=not progress) as bar:
        for start in range(0, count, batch_records):
            stop = min(start + batch_records, count)
            keys = [b"%0*d" % (digits, i) for i in range(start, stop)]
            records = datum_codec.pair_datum_records(images, left[start:stop], right[start:stop])
            flat = memoryview(records.reshape(-1))   # rows handed to LMDB without copies
            labels = [datum_codec.SAME_CLASS if s else datum_codec.DIFFERENT_CLASS
                      for s in same[start:stop].tolist()]
            images_out.append([(k, flat[i * record_length:(i + 1) * record_length])
                               for i, k in enumerate(keys)])
            labels_out.append(list(zip(keys, labels)))
            for part, data in zip(parts, (b"".join(keys), flat, b"".join(labels))):
                part.update(data)
            bar.update(stop - start)
    fingerprint = hashlib.sha256(b"".join(part.digest() for part in parts))
    return digits, fingerprint.hexdigest()



def read_pair_records(image_db, label_db=None):
    """Every record of a pair image LMDB, in key order, and its labels when `label_db` is
    given: (keys [str], (N, 3, H, W) uint8 pairs, (N,) bool same-class or None).

    The records are expected to be checked first (lmdb_check.walk_pair_dbs): raw pair
    Datums, one label under each image key."""
    import numpy as np

    from ..runtime import prototxt

    pb2 = prototxt.caffe_pb2()
    keys, pairs, same = [], [], []
    with lmdb_reader.open_readonly(image_db) as images, images.begin() as image_txn:
        labels = lmdb_reader.open_readonly(label_db) if label_db else None
        try:
            label_txn = labels.begin() if labels else None
            for key, raw in image_txn.cursor():
                datum = pb2.Datum.FromString(raw)
                shape = (datum.channels, datum.height, datum.width)
                pairs.append(np.frombuffer(datum.data, np.uint8).reshape(shape))
                keys.append(key.decode("utf-8", "replace"))
                if label_txn is not None:
                    label = pb2.Datum.FromString(label_txn.get(key))
                    same.append((label.float_data[0] if label.float_data else label.label) > 0.5)
        finally:
            if labels:
                labels.close()
    stacked = np.stack(pairs) if pairs else np.zeros((0, 3, 1, 1), np.uint8)
    return keys, stacked, (np.array(same, bool) if label_db else None)
