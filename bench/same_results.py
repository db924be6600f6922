#!/usr/bin/env python3
"""Does a Caffe build train the siamese net to the same result as another?

Trains the same jobs — one dataset, the seeds --seed .. --seed + --seeds - 1 — with each
of two builds (`siamese-caffe train`, each job in its own process, that build's pycaffe
first on PYTHONPATH) and compares:

  * the loss curves of the same seed: from which iteration they differ by more than
    1e-5 (two builds whose arithmetic differs in the last bit of a float start alike
    and drift apart as SGD amplifies the difference — as any two SGD runs do);
  * the final validation loss per seed, its mean and spread over seeds, per build:
    "the same result within noise" means the builds' means differ by less than the
    seed-to-seed spread.

    python bench/same_results.py OLD_PREFIX NEW_PREFIX     # two install_caffe.sh entries
    python bench/same_results.py --seeds 3 --epochs 2 A B --json
"""

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir))

from siamese_caffe.data import create_db, image_sources  # noqa: E402

AGREE = 1e-5


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("builds", nargs=2, metavar="PREFIX",
                   help="cache entries of scripts/install_caffe.sh (the folders it prints)")
    p.add_argument("--pairs", type=int, default=6000, help="training pairs")
    p.add_argument("--epochs", type=float, default=3)
    p.add_argument("--seed", type=int, default=1, help="first seed")
    p.add_argument("--seeds", type=int, default=5, help="how many seeds per build")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    return p.parse_args()


def train(prefix, dataset, jobs_dir, epochs, seed):
    """Train one job with the pycaffe of `prefix`; {(phase, iteration): loss}."""
    pythonpath = os.path.join(os.path.abspath(prefix), "lib", "python3", "dist-packages")
    env = dict(os.environ, PYTHONPATH=pythonpath, SIAMESE_CAFFE_PREFIX=prefix)
    out = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "train", dataset,
                          "--epochs", str(epochs), "--seed", str(seed), "--gpu", "cpu",
                          "--jobs-dir", jobs_dir, "--no-progress", "--json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    with open(os.path.join(json.loads(out)["path"], "train_log.csv")) as f:
        return {(r["phase"], int(r["iteration"])): float(r["loss"]) for r in csv.DictReader(f)}


def first_disagreement(a, b):
    """The first iteration at which two curves differ by more than AGREE (None: never)."""
    for key in sorted(set(a) & set(b), key=lambda k: (k[1], k[0])):
        if abs(a[key] - b[key]) > AGREE:
            return key[1]
    return None


def final_val(curve):
    return curve[max((k for k in curve if k[0] == "val"), key=lambda k: k[1])]


def compare(curves_a, curves_b):
    """The figures of the comparison (curves: {seed: curve} per build) as a dict."""
    finals = {name: [final_val(c) for c in curves.values()]
              for name, curves in (("first", curves_a), ("second", curves_b))}
    spread = statistics.pstdev(finals["first"] + finals["second"])
    return {"seeds": sorted(curves_a),
            "first_disagreement": {s: first_disagreement(curves_a[s], curves_b[s])
                                   for s in curves_a},
            "final_val_loss": {n: [round(v, 5) for v in f] for n, f in finals.items()},
            "mean": {n: round(statistics.mean(f), 5) for n, f in finals.items()},
            "stdev": {n: round(statistics.pstdev(f), 5) for n, f in finals.items()},
            "difference_of_means": round(statistics.mean(finals["second"])
                                         - statistics.mean(finals["first"]), 5),
            "seed_spread": round(spread, 5)}


def main():
    args = parse_args()
    seeds = range(args.seed, args.seed + args.seeds)
    with tempfile.TemporaryDirectory(prefix="same-results-") as tmp:
        dataset = os.path.join(tmp, "siamesedb")
        create_db.create_db(dataset, image_sources.builtin_mnist(), count=args.pairs,
                            val_count=500, seed=0)
        curves = [{s: train(build, dataset, os.path.join(tmp, f"jobs{i}"), args.epochs, s)
                   for s in seeds} for i, build in enumerate(args.builds)]
    result = compare(*curves)
    result["builds"] = args.builds
    if args.json:
        print(json.dumps(result))
        return
    print(f"first:  {args.builds[0]}\nsecond: {args.builds[1]}")
    print(f"{'seed':>4}  {'curves differ from iteration':>28}  {'final val loss':>22}")
    for i, s in enumerate(result["seeds"]):
        at = result["first_disagreement"][s]
        print(f"{s:>4}  {'never' if at is None else at:>28}  "
              f"{result['final_val_loss']['first'][i]:10.5f} {result['final_val_loss']['second'][i]:10.5f}")
    print(f"final val loss, mean ± stdev over seeds: first {result['mean']['first']:.5f} ± "
          f"{result['stdev']['first']:.5f}, second {result['mean']['second']:.5f} ± "
          f"{result['stdev']['second']:.5f}")
    verdict = "within" if abs(result["difference_of_means"]) < result["seed_spread"] else "OUTSIDE"
    print(f"difference of the means {result['difference_of_means']:+.5f}: {verdict} the "
          f"seed-to-seed spread ({result['seed_spread']:.5f})")


if __name__ == "__main__":
    main()
