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

The images are held-out built-in digits written as PNGs, like val.txt. Each
thread setting (--threads, default "1,default": OMP_NUM_THREADS=1 and the
environment as given, where unset means one OpenMP thread per core) runs in a
fresh process, since OpenMP reads its thread count at start; the settings and
the methods take turns over --rounds rounds (a busy machine slows each alike).
Reported: the median round of each method under each setting, side by side,
with each setting's ratio to the first one, the load average before and after,
and with --json the same as JSON. --busy N runs N single-threaded busy loops
beside the measurement (a second busy process on the machine).

    python bench/infer.py                          # a tiny job trained for the occasion
    python bench/infer.py --job demo-output/jobs/<id> --images 2000 --busy 1 --json
"""

import argparse
import json
import multiprocessing
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
    p.add_argument("--threads", default="1,default",
                   help="comma-separated OMP_NUM_THREADS settings, each in its own process "
                        "('default': the environment as given)")
    p.add_argument("--caffe", action="append", default=[],
                   help="a Caffe build's cache entry (~/.cache/siamese-caffe/caffe-...) to run "
                        "instead of the linked one; repeat to compare builds side by side")
    p.add_argument("--busy", type=int, default=0,
                   help="busy single-threaded processes run beside the measurement")
    p.add_argument("--json", action="store_true", help="also print the figures as JSON")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # one round, JSON out
    p.add_argument("--list", help=argparse.SUPPRESS)
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


METHODS = ("infer-many (batched)", "one-by-one (load + 1 image)",
           "loaded net, 1 image per pass", "infer CLI, 1 process per image")


def child_round(args):
    """One round of every method in this process: {method: images/s} as JSON on stdout."""
    job = jobs.Job.load(args.job)
    entries = predictions.read_image_list(args.list)
    few = entries[:args.one_by_one_images]
    runs = {METHODS[0]: (run_many, entries, args.batch_size),
            METHODS[1]: (run_one_by_one, few),
            METHODS[2]: (run_loaded_single, entries)}
    if args.cli_images:
        runs[METHODS[3]] = (run_cli_per_image, entries[:args.cli_images])
    run_many(job, entries[:10], args.batch_size)          # warm-up: imports, caches
    rates = {name: len(chosen) / timed(function, job, chosen, *rest)
             for name, (function, chosen, *rest) in runs.items()}
    print(json.dumps(rates))


def setting_env(setting):
    """The environment of a child for one (Caffe prefix or None, --threads value) setting."""
    prefix, threads = setting
    env = dict(os.environ)
    if threads != "default":
        env["OMP_NUM_THREADS"] = threads
    if prefix:      # ahead of the .venv's linked pycaffe
        path = os.path.join(prefix, "lib", "python3", "dist-packages")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [path, env.get("PYTHONPATH")]))
    return env


def setting_label(setting):
    prefix, threads = setting
    if threads == "default":
        given = os.environ.get("OMP_NUM_THREADS")
        label = f"default ({given} thr)" if given else f"default ({os.cpu_count()} cores)"
    else:
        label = f"{threads} thread" + ("s" if threads != "1" else "")
    if prefix:
        label = f"{os.path.basename(prefix.rstrip('/'))[-12:]} {label}"
    return label


def spin(stop):
    """A busy loop until `stop` is set (the second busy process)."""
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def measure(args, job, list_path, settings):
    """{setting: {method: [images/s per round]}}; each round runs every setting's child."""
    rates = {s: {} for s in settings}
    me = os.path.abspath(__file__)
    for _ in range(args.rounds):
        for setting in settings:
            command = [sys.executable, me, "--child", "--job", job.path, "--list", list_path,
                       "--one-by-one-images", str(args.one_by_one_images),
                       "--cli-images", str(args.cli_images),
                       "--batch-size", str(args.batch_size)]
            out = subprocess.run(command, env=setting_env(setting), check=True,
                                 capture_output=True, text=True).stdout
            for name, rate in json.loads(out.splitlines()[-1]).items():
                rates[setting].setdefault(name, []).append(rate)
    return rates


def main():
    args = parse_args()
    if args.child:
        child_round(args)
        return 0
    settings = [(prefix, t.strip()) for prefix in (args.caffe or [None])
                for t in args.threads.split(",") if t.strip()]
    stop = multiprocessing.Event()
    busy = [multiprocessing.Process(target=spin, args=(stop,), daemon=True)
            for _ in range(args.busy)]
    with tempfile.TemporaryDirectory(prefix="bench-infer-") as tmp:
        job = jobs.Job.load(args.job) if args.job else tiny_job(tmp)
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        list_path = write_images(images, args.images)
        load_before = os.getloadavg()
        for process in busy:
            process.start()
        try:
            rates = measure(args, job, list_path, settings)
        finally:
            stop.set()
            for process in busy:
                process.join()
        load_after = os.getloadavg()
        snapshot = job.last_snapshot().iteration
    medians = {s: {name: statistics.median(r) for name, r in by.items()}
               for s, by in rates.items()}
    print(f"job {job.job_id}, snapshot {snapshot}; {args.images} images "
          f"({args.one_by_one_images} one-by-one, {args.cli_images} by CLI), batch "
          f"{args.batch_size}, median of {args.rounds} rounds; {args.busy} busy process(es) "
          f"beside; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    labels = [setting_label(s) for s in settings]
    first = settings[0]
    width = max(20, *map(len, labels))
    print(f"{'images/s':32s}" + "".join(f" {label:>{width}s}" for label in labels) +
          f"   ratios to {setting_label(first)}")
    for name in METHODS:
        if name not in medians[first]:
            continue
        row = [medians[s][name] for s in settings]
        ratios = [medians[s][name] / medians[first][name] for s in settings[1:]]
        print(f"{name:32s}" + "".join(f" {rate:{width}.1f}" for rate in row) + "  " +
              "".join(f" {ratio:6.2f}x" for ratio in ratios))
    if args.json:
        print(json.dumps({"job": job.job_id, "images": args.images, "rounds": args.rounds,
                          "busy_processes": args.busy, "cpu_count": os.cpu_count(),
                          "load_average": {"before": load_before[0], "after": load_after[0]},
                          "images_per_s": {setting_label(s): medians[s] for s in settings},
                          "rounds_images_per_s": {setting_label(s): rates[s]
                                                  for s in settings}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
