#!/usr/bin/env python3
"""Inference throughput, side by side in one run: images per second of

  1. infer-many   one loaded net, the list's images decoded and run in batches
                  (predictions.infer_list, what `siamese-caffe infer-many` does);
  2. one-by-one   `siamese-caffe infer` once per image: load the deploy net, the
                  weights and the mean, decode the image, one forward pass
                  (embedding.Embedder + infer_file per image, without process start-up);
  3. loaded, 1    one loaded net fed one image per forward pass (the batching alone);
  4. infer CLI    `siamese-caffe infer --job JOB IMAGE` run as a new process per image, as
                  a user without infer-many would (start-up and imports included).

The images are held-out built-in digits written as PNGs, like val.txt. The three
take turns over --rounds rounds (a busy machine slows each alike); the median
round of each is reported, and the ratios against infer-many.

    python bench/infer.py                          # a tiny job trained for the occasion
    python bench/infer.py --job demo-output/jobs/<id> --images 2000
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from siamese_caffe.data import create_db, image_io, image_sources  # noqa: E402
from siamese_caffe.infer import embedding, predictions  # noqa: E402
from siamese_caffe.train import jobs, jobsetup, training  # noqa: E402
from siamese_caffe.train.settings import TrainSettings  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--job", help="a trained job (default: a tiny one trained in a temporary "
                                 "folder; speed does not depend on how well it learned)")
    p.add_argument("--images", type=int, default=1000, help="images for the batched runs")
    p.add_argument("--one-by-one-images", type=int, default=100,
                   help="images for the one-by-one run (it is slow)")
    p.add_argument("--cli-images", type=int, default=5,
                   help="images for the one-process-per-image run (0: skip it)")
    p.add_argument("--batch-size", type=int, default=embedding.DEFAULT_BATCH)
    p.add_argument("--rounds", type=int, default=3)
    return p.parse_args()


def tiny_job(folder):
    """A job trained for 10 iterations on 320 built-in pairs (seconds)."""
    db = os.path.join(folder, "siamesedb")
    create_db.create_db(db, image_sources.builtin_mnist(), count=320, val_count=64,
                        positive_fraction=0.5, seed=0)
    settings = TrainSettings(epochs=1, batch_size=32, seed=0, gpu="cpu",
                                      lr_policy="fixed")
    job = jobsetup.create_job(db, settings=settings, jobs_dir=os.path.join(folder, "jobs"))
    with open(os.devnull, "w") as sink:
        training.train_job(job, progress=False, out=sink)
    return jobs.Job.load(job.path)


def write_images(folder, count):
    """`count` built-in digits as PNGs and a `path label` list; the list's path."""
    digits = image_sources.builtin_mnist()
    lines = []
    for k in range(count):
        name = f"{k:05d}.png"
        image_io.write_png(os.path.join(folder, name), digits.images[-1 - k % len(digits)])
        lines.append(f"{name} {digits.labels[-1 - k % len(digits)]}\n")
    path = os.path.join(folder, "list.txt")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


def run_many(job, entries, batch_size):
    embedder = embedding.Embedder(job, batch_size=batch_size)
    predictions.infer_list(embedder, entries)


def run_one_by_one(job, entries):
    for entry in entries:
        embedding.Embedder(job).infer_file(entry.resolved)


def run_loaded_single(job, entries):
    embedder = embedding.Embedder(job)
    for entry in entries:
        embedder.infer_file(entry.resolved)


def run_cli_per_image(job, entries):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir)
    for entry in entries:
        subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "infer", "--job", job.path,
                        entry.resolved], cwd=root, check=True, stdout=subprocess.DEVNULL)


def timed(function, *args):
    began = time.perf_counter()
    function(*args)
    return time.perf_counter() - began


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-infer-") as tmp:
        job = jobs.Job.load(args.job) if args.job else tiny_job(tmp)
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        entries = predictions.read_image_list(write_images(images, args.images))
        few = entries[:args.one_by_one_images]
        runs = {"infer-many (batched)": (run_many, entries, args.batch_size),
                "one-by-one (load + 1 image)": (run_one_by_one, few),
                "loaded net, 1 image per pass": (run_loaded_single, entries)}
        if args.cli_images:
            runs["infer CLI, 1 process per image"] = (run_cli_per_image,
                                                      entries[:args.cli_images])
        header = (f"job {job.job_id}, snapshot {job.last_snapshot().iteration}; {args.images} "
                  f"images ({args.one_by_one_images} one-by-one, {args.cli_images} by CLI), batch {args.batch_size}, "
                  f"median of {args.rounds} rounds")
        rates = {name: [] for name in runs}
        run_many(job, entries[:10], args.batch_size)          # warm-up: imports, caches
        for _ in range(args.rounds):
            for name, (function, chosen, *rest) in runs.items():
                rates[name].append(len(chosen) / timed(function, job, chosen, *rest))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    base = medians["infer-many (batched)"]
    print(header)
    print(f"{'method':32s} {'images/s':>10s} {'infer-many is':>16s}")
    for name, rate in medians.items():
        print(f"{name:32s} {rate:10.1f} {base / rate:14.1f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
