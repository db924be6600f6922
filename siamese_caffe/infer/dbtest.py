"""Test a DB: a trained job's verdict on every pair of a pair LMDB.

    result = infer_db(Embedder(job), "siamesedb/val_images", "siamesedb/val_labels")
    result.distances, result.same, result.accuracy      # accuracy needs the label DB

The image LMDB holds pair Datums as create-db writes them (raw 3 x H x W, blue =
first digit, green = second; data.pair_lmdb); the label LMDB, optional, one
label Datum (1 = same class) under each image key. Both are checked in a child
process before they are read (data.lmdb_check: a damaged database is one
BadInputError naming it, never a crash). Each pair's two features give an L2
distance; below the threshold (default half the margin) the verdict is "same".
"""

from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from ..data import lmdb_check, pair_lmdb
from . import embedding


@dataclass
class DbTest:
    """The verdicts on one pair LMDB.

    keys: [str] record keys in key order. left, right: (N, D) float32 features.
    distances: (N,) float64. threshold: float. truth: (N,) bool same-class labels,
    or None without a label DB. feature_blobs: (left, right) blob names.
    """

    image_db: str
    label_db: object
    keys: list
    left: np.ndarray
    right: np.ndarray
    distances: np.ndarray
    threshold: float
    truth: object
    feature_blobs: tuple

    @property
    def same(self):
        """(N,) bool: the verdict "same class" per pair (distance below the threshold)."""
        return self.distances < self.threshold

    @property
    def accuracy(self):
        """Fraction of pairs whose verdict matches the label (None without labels)."""
        if self.truth is None or not len(self.keys):
            return None
        return float((self.same == self.truth).mean())

    def as_dict(self):
        """JSON-ready summary and one entry per pair (key, distance, verdict, label)."""
        pairs = []
        for k, key in enumerate(self.keys):
            entry = {"key": key, "distance": float(self.distances[k]),
                     "verdict": "same" if self.same[k] else "different"}
            if self.truth is not None:
                entry["label"] = "same" if self.truth[k] else "different"
                entry["correct"] = bool(self.same[k] == self.truth[k])
            pairs.append(entry)
        return {"db_path": self.image_db, "label_db_path": self.label_db,
                "count": len(self.keys), "threshold": self.threshold,
                "same": int(self.same.sum()), "accuracy": self.accuracy, "pairs": pairs}

    def outputs(self):
        """DIGITS' infer_db answer: {"outputs": {key: {blob: [D floats]}}}."""
        left_name, right_name = self.feature_blobs
        return {"outputs": {key: {left_name: self.left[k].tolist(),
                                  right_name: self.right[k].tolist()}
                            for k, key in enumerate(self.keys)}}


def check_pair_dbs(image_db, label_db, image_shape):
    """The number of pairs of an image LMDB (and its label LMDB), after checking every
    record is a raw pair Datum of `image_shape` (3, H, W) with a label under the same key;
    BadInputError naming the database otherwise."""
    count = lmdb_check.quick_check(image_db)
    if count == 0:
        raise BadInputError("the database is empty", where=image_db)
    if label_db:
        labels = lmdb_check.quick_check(label_db)
        if labels != count:
            raise BadInputError(f"{labels} label records for {count} pairs in {image_db}",
                                where=label_db)
    lmdb_check.walk_pair_dbs([(image_db, label_db, tuple(image_shape))])
    return count


def infer_db(embedder, image_db, label_db=None, threshold=None):
    """Run every pair of `image_db` through `embedder` (embedding.Embedder); a DbTest."""
    check_pair_dbs(image_db, label_db, embedder.image_shape)
    keys, pairs, truth = pair_lmdb.read_pair_records(image_db, label_db)
    left, right = embedder.embed_pairs(pairs)
    threshold = embedder.default_threshold if threshold is None else float(threshold)
    return DbTest(image_db, label_db, keys, left, right, embedding.distance(left, right),
                  threshold, truth, tuple(embedder.feature_blobs))
