#!/usr/bin/env python3
"""Time create-db against a DIGITS-style baseline, side by side, in one run.

    python bench/create_db.py                 # 100,000 train + 1,000 val pairs
    python bench/create_db.py --full-baseline # also run the baseline on every pair (slow)

Inputs are made from the built-in 5000 MNIST digits, repeated to MNIST's size:
idx files with 60,000 train and 10,000 t10k images, and a DIGITS list of
--list-images PNG files (train.txt) plus 1/6 as many (val.txt).

The baseline works as DIGITS' examples/siamese/create_db.py did: per pair, both
images decoded again (PNG) or taken from the array (idx), a float64 pair built
and summed for the mean, caffe.io.array_to_datum and a caffe_pb2 label Datum,
and one synced LMDB transaction per record per database. Its cost per pair is
constant, so by default it runs on --baseline-pairs pairs and is scaled to the
full count (the table says so); --full-baseline runs it all.
"""

import argparse
import os
import random
import shutil
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from siamese_caffe.runtime import caffe_env  # noqa: E402
from siamese_caffe.data import image_io, image_sources, mnist_idx  # noqa: E402
from siamese_caffe.data.create_db import create_db  # noqa: E402


def make_inputs(folder, list_images):
    """Write idx files (60k/10k) and PNG lists (list_images / list_images // 6) from the
    built-in digits; returns (idx folder, train list, val list)."""
    digits = image_sources.builtin_mnist()
    order = np.random.default_rng(0).permutation(len(digits))   # any prefix has every class
    idx = os.path.join(folder, "idx")
    os.makedirs(idx)
    for part, n in (("train", 60000), ("t10k", 10000)):
        rows = order[np.arange(n) % len(digits)]
        images_stem, labels_stem = mnist_idx.FILE_STEMS[part]
        mnist_idx.write_idx(os.path.join(idx, images_stem + ".gz"), digits.images[rows])
        mnist_idx.write_idx(os.path.join(idx, labels_stem + ".gz"), digits.labels[rows].astype(np.uint8))
    lists = []
    for part, n in (("train", list_images), ("val", max(list_images // 6, 10))):
        lines = []
        for i in range(n):
            k = order[i % len(digits)]
            path = os.path.join(folder, "png", part, f"{i:05d}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            image_io.write_png(path, digits.images[k])
            lines.append(f"{path} {digits.labels[k]}\n")
        lists.append(os.path.join(folder, f"{part}.txt"))
        with open(lists[-1], "w") as f:
            f.writelines(lines)
    return idx, lists[0], lists[1]


def cpu_seconds():
    """CPU time (user + system) of this process and its finished children."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def time_tool(out, load, count, val_count):
    """(wall seconds, CPU seconds) for loading the sources and create_db, as the CLI does it."""
    started, cpu = time.perf_counter(), cpu_seconds()
    train_set, val_set = load()
    create_db(out, train_set, val_set=val_set, count=count, val_count=val_count, seed=1)
    return time.perf_counter() - started, cpu_seconds() - cpu


def baseline_phase(caffe, folder, phase, entries, count, get_image):
    """DIGITS-style writing of one phase: one transaction per record, images fetched per pair."""
    import lmdb
    from caffe.proto import caffe_pb2

    image_db = lmdb.open(os.path.join(folder, f"{phase}_images"), map_async=True, max_dbs=0)
    label_db = lmdb.open(os.path.join(folder, f"{phase}_labels"), map_async=True, max_dbs=0)
    image_sum = None
    for i in range(count):
        a, b = random.randint(0, len(entries) - 1), random.randint(0, len(entries) - 1)
        label = 1 if entries[a][1] == entries[b][1] else 0
        first, second = get_image(entries[a][0]), get_image(entries[b][0])
        if image_sum is None:
            image_sum = np.zeros((3,) + first.shape, "float64")
        pair = np.zeros(image_sum.shape)
        pair[0], pair[1] = first, second
        image_sum += pair
        datum = caffe.io.array_to_datum(pair.astype("uint8"), -1)
        _put_one(image_db, str(i).encode(), datum.SerializeToString())
        label_datum = caffe_pb2.Datum()
        label_datum.channels, label_datum.height, label_datum.width = 1, 1, 1
        label_datum.float_data.extend(np.array([label]).flat)
        _put_one(label_db, str(i).encode(), label_datum.SerializeToString())
    image_db.close()
    label_db.close()
    return image_sum / count


def _put_one(db, key, value):
    """One record in its own transaction, doubling the map when full (as DIGITS did)."""
    import lmdb

    while True:
        txn = db.begin(write=True)
        try:
            txn.put(key, value)
            txn.commit()
            return
        except lmdb.MapFullError:
            txn.abort()
            db.set_mapsize(db.info()["map_size"] * 2)


def time_baseline(caffe, out, train_entries, val_entries, get_image, count, val_count):
    """Seconds for the DIGITS-style baseline on count + val_count pairs."""
    os.makedirs(out)
    started = time.perf_counter()
    baseline_phase(caffe, out, "train", train_entries, count, get_image)
    baseline_phase(caffe, out, "val", val_entries, val_count, get_image)
    return time.perf_counter() - started


def idx_baseline(idx, train_list, val_list):
    """Baseline inputs from idx files: ([(key, label)] train, val, key -> (H, W) uint8).

    The arrays are read once, as a port of DIGITS' script to idx files would keep them;
    each pair then copies its two images out of them.
    """
    train = image_sources.from_idx_folder(idx, "train")
    val = image_sources.from_idx_folder(idx, "t10k")
    pool = np.concatenate([train.images, val.images])
    labels = np.concatenate([train.labels, val.labels]).tolist()
    keys = list(range(len(pool)))
    return (list(zip(keys[:len(train)], labels[:len(train)])),
            list(zip(keys[len(train):], labels[len(train):])), pool.__getitem__)


def list_baseline(idx, train_list, val_list):
    """Baseline inputs from DIGITS lists: each image decoded from its PNG for every pair
    (with Pillow, as DIGITS' create_db.py did)."""
    import PIL.Image

    def entries(list_path):
        with open(list_path) as f:
            return [(p, int(l)) for p, l in (line.rsplit(None, 1) for line in f if line.strip())]

    return entries(train_list), entries(val_list), lambda path: np.array(PIL.Image.open(path))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100000, help="training pairs")
    parser.add_argument("--val-count", type=int, default=1000, help="validation pairs")
    parser.add_argument("--list-images", type=int, default=60000, help="PNG files in train.txt")
    parser.add_argument("--baseline-pairs", type=int, default=3000,
                        help="training pairs the baseline really writes before scaling")
    parser.add_argument("--full-baseline", action="store_true", help="run the baseline on every pair")
    parser.add_argument("--workdir", help="where to write (default: a temporary folder, removed)")
    args = parser.parse_args(argv)
    caffe = caffe_env.import_caffe()
    work = args.workdir or tempfile.mkdtemp(prefix="bench-create-db-")
    try:
        print(f"preparing inputs in {work} ...", flush=True)
        idx, train_list, val_list = make_inputs(work, args.list_images)
        base_count = args.count if args.full_baseline else min(args.baseline_pairs, args.count)
        base_val = max(1, round(args.val_count * base_count / args.count))
        scale = (args.count + args.val_count) / (base_count + base_val)
        rows = []
        for name, load, baseline_source in (
                ("idx files", lambda: (image_sources.from_idx_folder(idx, "train"),
                                       image_sources.from_idx_folder(idx, "t10k")), idx_baseline),
                ("PNG list", lambda: (image_sources.from_list_file(train_list),
                                      image_sources.from_list_file(val_list)), list_baseline)):
            tag = name.split()[0].lower()
            ours = time_tool(os.path.join(work, f"ours-{tag}"), load, args.count, args.val_count)
            train_entries, val_entries, get_image = baseline_source(idx, train_list, val_list)
            base = time_baseline(caffe, os.path.join(work, f"base-{tag}"), train_entries,
                                 val_entries, get_image, base_count, base_val)
            rows.append((name, *ours, base * scale))
            for sub in (f"ours-{tag}", f"base-{tag}"):
                shutil.rmtree(os.path.join(work, sub), ignore_errors=True)
        report(rows, args, base_count, base_val, scale)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(rows, args, base_count, base_val, scale):
    """Print the side-by-side table."""
    load = os.getloadavg()[0]
    print(f"\n{args.count:,} train + {args.val_count:,} val pairs; {os.cpu_count()} CPUs, "
          f"load average {load:.2f} at the end (a shared machine runs slower)")
    print(f"{'source':<10} {'create-db':>10} {'(its CPU)':>10} {'DIGITS-style':>13} {'ratio':>8}")
    for name, ours, cpu, base in rows:
        print(f"{name:<10} {ours:>9.2f}s {cpu:>9.2f}s {base:>12.1f}s {base / ours:>7.0f}x")
    if scale != 1:
        print(f"baseline measured on {base_count:,} + {base_val:,} pairs and scaled x{scale:.1f} "
              "(its cost per pair is constant); --full-baseline runs every pair")


if __name__ == "__main__":
    sys.exit(main())
