#!/usr/bin/env python3
"""Does a Caffe build train the siamese net to the same result as another?

Trains one job per build on the same dataset and seed with `siamese-caffe train`
(each in its own process, that build's pycaffe first on PYTHONPATH), plus one more
job on the first build with another seed — the noise floor: how much two runs that
*should* differ do differ. Prints both loss curves (train and validation rows of
train_log.csv) side by side and the largest differences; "the same result within
noise" means the difference between builds is far below the difference between seeds.

    python bench/same_results.py OLD_PREFIX NEW_PREFIX     # two install_caffe.sh entries
    python bench/same_results.py --epochs 3 --pairs 6000 A B --json
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))

from siamese_caffe import create_db, image_sources  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("builds", nargs=2, metavar="PREFIX",
                   help="cache entries of scripts/install_caffe.sh (the folders it prints)")
    p.add_argument("--pairs", type=int, default=6000, help="training pairs")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    return p.parse_args()


def train(prefix, dataset, jobs_dir, epochs, seed):
    """Train one job with the pycaffe of `prefix`; its train_log.csv rows."""
    pythonpath = os.path.join(prefix, "lib", "python3", "dist-packages")
    env = dict(os.environ, PYTHONPATH=pythonpath, SIAMESE_CAFFE_PREFIX=prefix)
    out = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "train", dataset,
                          "--epochs", str(epochs), "--seed", str(seed), "--gpu", "cpu",
                          "--jobs-dir", jobs_dir, "--no-progress", "--json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    job = json.loads(out)["path"]
    with open(os.path.join(job, "train_log.csv")) as f:
        return list(csv.DictReader(f))


def curve(rows):
    """{(phase, iteration): loss}."""
    return {(r["phase"], int(r["iteration"])): float(r["loss"]) for r in rows}


def largest_difference(a, b):
    """Largest |a - b| over the rows both curves have, and its relative size."""
    keys = sorted(set(a) & set(b))
    worst = max(keys, key=lambda k: abs(a[k] - b[k]))
    return {"row": f"{worst[0]} @ {worst[1]}", "abs": abs(a[worst] - b[worst]),
            "rel": abs(a[worst] - b[worst]) / max(abs(a[worst]), 1e-12)}


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        dataset = os.path.join(tmp, "siamesedb")
        create_db.create_db(dataset, image_sources.builtin_mnist(), count=args.pairs,
                            val_count=500, seed=0)
        first, second = args.builds
        curves = {"first": curve(train(first, dataset, os.path.join(tmp, "a"), args.epochs,
                                       args.seed)),
                  "second": curve(train(second, dataset, os.path.join(tmp, "b"), args.epochs,
                                        args.seed)),
                  "first_other_seed": curve(train(first, dataset, os.path.join(tmp, "c"),
                                                  args.epochs, args.seed + 1))}
    builds = largest_difference(curves["first"], curves["second"])
    seeds = largest_difference(curves["first"], curves["first_other_seed"])
    if args.json:
        print(json.dumps({"builds": args.builds, "between_builds": builds,
                          "between_seeds": seeds,
                          "curves": {k: {f"{p}@{i}": v for (p, i), v in c.items()}
                                     for k, c in curves.items()}}))
        return
    print(f"first:  {first}\nsecond: {second}")
    print(f"{'row':>14}  {'first':>9}  {'second':>9}  {'seed+1':>9}")
    for key in sorted(curves["first"], key=lambda k: (k[1], k[0])):
        print(f"{key[0] + ' @ ' + str(key[1]):>14}  {curves['first'][key]:9.5f}  "
              f"{curves['second'].get(key, float('nan')):9.5f}  "
              f"{curves['first_other_seed'].get(key, float('nan')):9.5f}")
    print(f"largest difference between the builds: {builds['abs']:.2e} "
          f"({100 * builds['rel']:.3f} %, {builds['row']})")
    print(f"largest difference between two seeds:  {seeds['abs']:.2e} "
          f"({100 * seeds['rel']:.3f} %, {seeds['row']})")


if __name__ == "__main__":
    main()
