#!/usr/bin/env python3
"""Pair LMDBs in this project's format, and k-NN accuracy from `caffe test` logs, with
NumPy and the `lmdb` package only (no pycaffe): for a GPU host where only the bundled
`caffe` tool runs (scripts/gpu_bench.sh). Records are written by the package's own
datum_codec and LmdbWriter, which need neither pycaffe nor protobuf.

  make DIGITS.npz OUT --pairs N --val-pairs M --seed S
      DIGITS.npz: images uint8 [K, 28, 28] and labels int [K] (from `export`).
      OUT/train_images, train_labels, val_images, val_labels: N and M pairs, half of them
      positive, drawn from 80 % of the digits (a seeded random 20 % is held out), written
      as the project's create-db does: image Datum channels 3 (blue = first digit,
      green = second, red = 0), label Datum float_data [1.0] same / [0.0] different,
      keys the zero-padded index; OUT/train_mean.binaryproto, the mean of the training pairs.
      OUT/knn_ref_*, knn_query_*: single digits (both channels the same digit) of the
      training part (reference) and the held-out part (queries), labels as float_data.
  export OUT.npz          (where siamese_caffe runs) the built-in digits as DIGITS.npz
  knn REF_LOG QUERY_LOG OUT/ [--k 5] [--dim 2]
      features printed by `caffe test` over knn_ref_* and knn_query_*; prints the
      held-out k-NN accuracy (majority of the k nearest reference features) as JSON.
"""

import argparse
import json
import os
import re
import sys

import numpy as np

# the package's own record codec and LMDB writer: NumPy and lmdb only, no pycaffe or protobuf
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))
from siamese_caffe.data import datum_codec  # noqa: E402
from siamese_caffe.data.lmdb_writer import LmdbWriter, estimate_map_size  # noqa: E402

KEY = b"%08d"
BATCH = 10000   # records per LMDB transaction


def draw_pairs(labels, count, rng):
    """(first, second, same) index arrays: `count` pairs, half of them of one class."""
    by_class = {c: np.flatnonzero(labels == c) for c in np.unique(labels)}
    classes = np.array(sorted(by_class))
    same = np.arange(count) % 2 == 0
    rng.shuffle(same)
    first = rng.integers(0, len(labels), count)
    second = np.empty(count, np.int64)
    for i in range(count):
        c = labels[first[i]]
        if same[i]:
            second[i] = rng.choice(by_class[c])
        else:
            other = rng.choice(classes[classes != c])
            second[i] = rng.choice(by_class[other])
    return first, second, same


def write_db(path, values, value_length):
    """A new LMDB at `path` holding `values` (bytes-like, in order) under keys 00000000, ..."""
    with LmdbWriter(path, estimate_map_size(len(values), value_length, 8)) as out:
        for start in range(0, len(values), BATCH):
            out.append([(KEY % i, values[i])
                        for i in range(start, min(start + BATCH, len(values)))])


def write_pairs(folder, name, images, first, second, labels):
    """`name`_images: the pair Datums of (images[first], images[second]) as create-db writes
    them; `name`_labels: label Datums with float_data [labels[k]]."""
    records = datum_codec.pair_datum_records(images, first, second)
    length, flat = records.shape[1], memoryview(records.reshape(-1))   # rows without copies
    write_db(os.path.join(folder, name + "_images"),
             [flat[k * length:(k + 1) * length] for k in range(len(records))], length)
    label_records = [datum_codec.label_datum(float(v)) for v in labels]
    write_db(os.path.join(folder, name + "_labels"), label_records, len(label_records[0]))


def make(digits, out, pairs, val_pairs, seed):
    data = np.load(digits)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data["labels"]))     # the digits come sorted by class
    images, labels = data["images"][order], data["labels"].astype(np.int64)[order]
    split = int(0.8 * len(images))
    os.makedirs(out, exist_ok=True)
    summary = {}
    mean = None
    for name, count in (("train", pairs), ("val", val_pairs)):
        first, second, same = draw_pairs(labels[:split], count, rng)
        if name == "train":     # the pairs' mean, red channel 0
            mean = np.zeros((3,) + images.shape[1:])
            mean[0], mean[1] = images[first].mean(axis=0), images[second].mean(axis=0)
        write_pairs(out, name, images, first, second, same.astype(np.float64))
        summary[name] = {"pairs": count, "positive": int(same.sum())}
    with open(os.path.join(out, "train_mean.binaryproto"), "wb") as f:
        f.write(datum_codec.blobproto_bytes(mean))
    for name, rows in (("knn_ref", np.arange(split)), ("knn_query", np.arange(split, len(images)))):
        write_pairs(out, name, images, rows, rows, labels[rows])
        np.save(os.path.join(out, name + "_classes.npy"), labels[rows])
        summary[name] = int(len(rows))
    print(json.dumps(summary))


def export(out):
    from siamese_caffe.data import image_sources
    digits = image_sources.builtin_mnist()
    np.savez_compressed(out, images=digits.images, labels=digits.labels)


def features(log):
    """The first feature blob's values from a `caffe test` log, in order: batch by batch,
    each batch's examples one after another (Caffe prints 'Batch N, blob = value' for
    every value). (blob name, flat float array)."""
    rows = {}
    for batch, blob, value in re.findall(r"Batch (\d+), (\w+) = ([-+0-9.eEnaif]+)", log):
        rows.setdefault(blob, {}).setdefault(int(batch), []).append(float(value))
    if not rows:
        raise SystemExit("pairs_lmdb.py knn: no 'Batch N, blob = value' lines in the log")
    blob = sorted(rows)[0]
    return blob, np.concatenate([np.array(rows[blob][b]) for b in sorted(rows[blob])])


def knn(ref_log, query_log, folder, k, dim):
    """Held-out k-NN accuracy: each query's class by majority of its k nearest reference
    features (squared Euclidean). Caffe's Data layer wraps around the end of a DB, so
    values past the DB's examples are dropped."""
    ref_classes = np.load(os.path.join(folder, "knn_ref_classes.npy"))
    query_classes = np.load(os.path.join(folder, "knn_query_classes.npy"))
    blob, ref = features(open(ref_log).read())
    _, query = features(open(query_log).read())
    ref = ref.reshape(-1, dim)[: len(ref_classes)]
    query = query.reshape(-1, dim)[: len(query_classes)]
    if len(ref) < len(ref_classes) or len(query) < len(query_classes):
        raise SystemExit("pairs_lmdb.py knn: the logs hold fewer examples than the DBs")
    distances = ((query[:, None, :] - ref[None, :, :]) ** 2).sum(-1)
    votes = ref_classes[np.argsort(distances, axis=1)[:, :k]]
    predicted = np.array([np.bincount(v).argmax() for v in votes])
    print(json.dumps({"feature_blob": blob, "feature_dim": dim, "k": k,
                      "reference": int(len(ref)), "queries": int(len(query)),
                      "knn_accuracy": round(float((predicted == query_classes).mean()), 4)}))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("digits")
    m.add_argument("out")
    m.add_argument("--pairs", type=int, default=100000)
    m.add_argument("--val-pairs", type=int, default=10000)
    m.add_argument("--seed", type=int, default=1)
    e = sub.add_parser("export")
    e.add_argument("out")
    n = sub.add_parser("knn")
    n.add_argument("ref_log")
    n.add_argument("query_log")
    n.add_argument("folder")
    n.add_argument("--k", type=int, default=5)
    n.add_argument("--dim", type=int, default=2, help="values per feature vector")
    args = p.parse_args(argv)
    if args.command == "make":
        make(args.digits, args.out, args.pairs, args.val_pairs, args.seed)
    elif args.command == "export":
        export(args.out)
    else:
        knn(args.ref_log, args.query_log, args.folder, args.k, args.dim)


if __name__ == "__main__":
    main()
