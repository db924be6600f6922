#!/usr/bin/env python3
"""Training throughput, side by side in one run: pairs per second of

  1. lmdb    the job's own net (train_val.prototxt), fed by its two LMDB Data layers,
             stepped by pycaffe's solver with the forward check of `siamese-caffe train`;
  2. memory  the same layers and solver, fed from NumPy arrays already in memory
             (Input layers; each batch copied into the blobs before the step);
  3. pytorch the same architecture (scale, slice, shared LeNet, ContrastiveLoss margin 1,
             SGD with the same momentum and weight decay) in PyTorch eager mode on the
             CPU — optional: skipped when torch is not installed (pip install torch==2.13.0).

All three use the same batch size and the same number of timed iterations, after the
same warm-up; the configurations take turns over --rounds rounds so that a busy machine
slows each alike. Reported: the median round, the spread of the rounds (min-max and
coefficient of variation), each ratio as the median of the per-round ratios, and the
achieved GFLOP/s (multiply-adds of the convolution and inner-product layers, forward
and backward, counted from the net) as a fraction of the CPU's FMA peak.
--runs N repeats the whole measurement in N fresh processes (thread placement, memory
layout and the BLAS's start-up differ between processes, not between rounds).

    python bench/train.py                       # 2,000 pairs from the built-in digits
    python bench/train.py --runs 5 --json       # five processes; JSON for machines
    python bench/train.py --caffe ~/.cache/siamese-caffe/caffe-cpu-mkl-py311-<key>
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from siamese_caffe.runtime import blasinfo, caffe_env, prototxt  # noqa: E402
import cpupeak  # noqa: E402  (bench/cpupeak.py)
import netflops  # noqa: E402  (bench/netflops.py)
from siamese_caffe.data import create_db, image_sources  # noqa: E402
from siamese_caffe.train import jobsetup, training  # noqa: E402
from siamese_caffe.train.settings import TrainSettings  # noqa: E402
from siamese_caffe.net import netcheck, solver  # noqa: E402

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", help="a create-db folder (default: made from the built-in "
                                     "digits in a temporary folder)")
    p.add_argument("--pairs", type=int, default=2000, help="training pairs when making one")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=30, help="timed iterations per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--runs", type=int, default=1,
                   help="repeat the measurement in this many fresh processes")
    p.add_argument("--caffe", metavar="PREFIX",
                   help="measure this build of scripts/install_caffe.sh (a cache entry, e.g. "
                        "~/.cache/siamese-caffe/caffe-cpu-mkl-...) instead of the .venv's")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    return p.parse_args(argv)


def lmdb_fed(job, caffe):
    """The job's solver with the training loop's forward check (training.py), as
    `siamese-caffe train` steps it on the CPU; a step function (its data comes from the
    LMDB Data layers)."""
    runtime = solver.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
    caffe_solver = solver.load_caffe_solver(caffe, runtime, job.path)
    training.stop_on_nonfinite_forward(caffe_solver.net)
    return caffe_solver, lambda s, i: s.step(1)


def memory_fed(job, caffe, user_net, batch_size):
    """The same layers behind Input layers, and a step that copies a batch from RAM first."""
    images, labels = load_arrays(job, caffe)
    inputs_net = netcheck.with_inputs(user_net, images.shape[1:], batch=batch_size)
    net_path = os.path.join(job.path, "bench_memory.prototxt")
    prototxt.write_text(net_path, inputs_net)
    runtime = solver.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
    runtime.net = net_path
    del runtime.test_iter[:]
    runtime.ClearField("test_interval")
    runtime.ClearField("test_state")
    caffe_solver = solver.load_caffe_solver(caffe, runtime, job.path)
    data, label = caffe_solver.net.blobs["data"].data, caffe_solver.net.blobs["label"].data
    count = len(images)

    def step(s, i):
        rows = np.arange(i * batch_size, (i + 1) * batch_size) % count
        data[...] = images[rows]
        label[...] = labels[rows]
        s.step(1)
    return caffe_solver, step


def load_arrays(job, caffe):
    """The training pairs, mean-subtracted, as (N, 3, H, W) float32 and labels (N, 1, 1, 1)."""
    import lmdb

    pb2 = caffe.proto.caffe_pb2
    with open(job.mean_file, "rb") as f:
        mean = caffe.io.blobproto_to_array(pb2.BlobProto.FromString(f.read()))[0]
    folder = job.info["dataset"]["folder"]
    shape = tuple(job.image_shape)
    images, labels = [], []
    with lmdb.open(os.path.join(folder, "train_images"), readonly=True, lock=False) as env, \
            env.begin() as txn:
        for _, raw in txn.cursor():
            images.append(np.frombuffer(pb2.Datum.FromString(raw).data, np.uint8).reshape(shape))
    with lmdb.open(os.path.join(folder, "train_labels"), readonly=True, lock=False) as env, \
            env.begin() as txn:
        labels = [pb2.Datum.FromString(raw).float_data[0] for _, raw in txn.cursor()]
    return ((np.stack(images) - mean).astype(np.float32),
            np.array(labels, np.float32).reshape(-1, 1, 1, 1))


def torch_fed(job, caffe, batch_size):
    """The same siamese LeNet and solver settings in PyTorch (CPU); (state, step) or None."""
    try:
        import torch
    except ImportError:
        return None
    from torch import nn

    images, labels = load_arrays(job, caffe)
    images, labels = torch.from_numpy(images), torch.from_numpy(labels.reshape(-1))

    def side(n):            # after conv 5x5, pool 2, conv 5x5, pool 2
        return ((n - 4) // 2 - 4) // 2
    flat = 50 * side(images.shape[2]) * side(images.shape[3])
    branch = nn.Sequential(nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5),
                           nn.MaxPool2d(2), nn.Flatten(), nn.Linear(flat, 500), nn.ReLU(),
                           nn.Linear(500, 10), nn.Linear(10, 2))
    param = prototxt.read_solver(job.solver_path)
    optimiser = torch.optim.SGD(branch.parameters(), lr=param.base_lr, momentum=param.momentum,
                                weight_decay=param.weight_decay)
    margin = job.margin

    def step(state, i):
        rows = torch.arange(i * batch_size, (i + 1) * batch_size) % len(images)
        pair = images[rows] * 0.0125
        left, right = branch(pair[:, 0:1]), branch(pair[:, 1:2])
        distance = (left - right).pow(2).sum(1).clamp_min(1e-12).sqrt()
        y = labels[rows]
        loss = (y * distance.pow(2) + (1 - y) * (margin - distance).clamp_min(0).pow(2)).sum() \
            / (2 * batch_size)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return branch, step


def time_round(state, step, start, iterations):
    """Seconds for `iterations` steps starting at batch index `start`."""
    began = time.perf_counter()
    for i in range(start, start + iterations):
        step(state, i)
    return time.perf_counter() - began


def run_rounds(configs, args):
    """{name: [pairs/s per round]}, the configurations taking turns."""
    for state, step in configs.values():
        time_round(state, step, 0, args.warmup)
    rates = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, (state, step) in configs.items():
            start = args.warmup + r * args.iterations
            seconds = time_round(state, step, start, args.iterations)
            rates[name].append(args.batch_size * args.iterations / seconds)
    return rates


def measure(args):
    """One process's measurement: rounds of pairs/s per configuration plus the facts
    needed to read them (FLOP per pair, BLAS, threads, CPU peak), as a dict."""
    caffe = caffe_env.import_caffe()
    caffe.set_mode_cpu()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        dataset = args.dataset or os.path.join(tmp, "siamesedb")
        if not args.dataset:
            create_db.create_db(dataset, image_sources.builtin_mnist(), count=args.pairs,
                                val_count=100, seed=0)
        settings = TrainSettings(epochs=1, batch_size=args.batch_size, seed=1, gpu="cpu")
        job = jobsetup.create_job(dataset, settings=settings, jobs_dir=os.path.join(tmp, "jobs"))
        user_net = prototxt.read_net(job.file("original"))
        configs = {"lmdb": lmdb_fed(job, caffe),
                   "memory": memory_fed(job, caffe, user_net, args.batch_size)}
        flops = netflops.step_flops(configs["memory"][0].net)
        torch_config = None if args.no_torch else torch_fed(job, caffe, args.batch_size)
        if torch_config:
            configs["pytorch"] = torch_config
        rates = run_rounds(configs, args)
    return {"rates": rates, "flop_per_pair": flops.per_example,
            "caffe": caffe_env.caffe_prefix(caffe),
            "torch_missing": not args.no_torch and torch_config is None,
            "torch_threads": _torch_threads(torch_config), "blas": blasinfo.describe(caffe)}


def _torch_threads(torch_config):
    if not torch_config:
        return None
    import torch
    return torch.get_num_threads()


def measure_in_processes(args):
    """measure() in args.runs fresh processes; their rounds joined, run by run."""
    child = [sys.executable, os.path.abspath(__file__), "--json", "--runs", "1",
             "--pairs", str(args.pairs), "--batch-size", str(args.batch_size),
             "--iterations", str(args.iterations), "--warmup", str(args.warmup),
             "--rounds", str(args.rounds)] + (["--dataset", args.dataset] if args.dataset else []) \
        + (["--no-torch"] if args.no_torch else [])
    env = dict(os.environ)
    if args.caffe:                      # that build's pycaffe before the .venv's link
        env["PYTHONPATH"] = pycaffe_folder(args.caffe)
    runs = []
    for _ in range(args.runs):
        out = subprocess.run(child, check=True, capture_output=True, text=True, env=env).stdout
        runs.append(json.loads(out)["measurement"])
    joined = dict(runs[0])
    joined["rates"] = {name: [v for run in runs for v in run["rates"][name]]
                       for name in runs[0]["rates"]}
    joined["run_medians"] = {name: [statistics.median(run["rates"][name]) for run in runs]
                             for name in runs[0]["rates"]}
    return joined


def pycaffe_folder(prefix):
    """The folder holding `caffe/` in an install_caffe.sh cache entry; exits with one line
    when there is none (PYTHONPATH would silently fall back to the .venv's build)."""
    folder = os.path.join(os.path.abspath(prefix), "lib", "python3", "dist-packages")
    if not os.path.isfile(os.path.join(folder, "caffe", "__init__.py")):
        sys.exit(f"bench/train.py: --caffe {prefix}: no pycaffe in it "
                 "(expected lib/python3/dist-packages/caffe, as install_caffe.sh builds)")
    return folder


def summarize(measurement, args, peak):
    """The figures the report prints, as a JSON-ready dict."""
    rates = measurement["rates"]
    gflop = measurement["flop_per_pair"] / 1e9
    configs = {}
    for name, values in rates.items():
        median = statistics.median(values)
        configs[name] = {
            "pairs_per_s": round(median, 1), "min": round(min(values), 1),
            "max": round(max(values), 1),
            "cv_percent": round(100 * statistics.pstdev(values) / statistics.mean(values), 2),
            "gflops": round(median * gflop, 2),
            "fraction_of_peak": round(median * gflop / peak.gflops, 3),
            "rounds": [round(v, 1) for v in values]}
        if "run_medians" in measurement:
            configs[name]["run_medians"] = [round(v, 1) for v in measurement["run_medians"][name]]
    ratios = {}
    for a, b in (("lmdb", "pytorch"), ("memory", "pytorch"), ("lmdb", "memory")):
        if a in rates and b in rates:    # per round: both sides of a round saw the same load
            per_round = [x / y for x, y in zip(rates[a], rates[b])]
            ratios[f"{a}/{b}"] = {"median": round(statistics.median(per_round), 3),
                                  "min": round(min(per_round), 3),
                                  "max": round(max(per_round), 3)}
    return {"batch_size": args.batch_size, "iterations": args.iterations,
            "rounds": args.rounds, "runs": args.runs,
            "mflop_per_pair": round(measurement["flop_per_pair"] / 1e6, 2),
            "cpu": peak.explain(), "peak_gflops": round(peak.gflops, 1),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": measurement["torch_threads"], "blas": measurement["blas"],
            "caffe": measurement["caffe"],
            "configs": configs, "ratios": ratios, "torch_missing": measurement["torch_missing"]}


def print_report(summary):
    s = summary
    blas = s["blas"]
    print(f"siamese LeNet training, batch {s['batch_size']}: {s['iterations']} iterations x "
          f"{s['rounds']} rounds x {s['runs']} run(s)")
    print(f"  Caffe: {s['caffe']}")
    print(f"  Caffe's BLAS: {blas['name']} ({blas['threading']}); OMP_NUM_THREADS="
          f"{s['omp_num_threads'] or 'unset'}; PyTorch threads: {s['torch_threads']}")
    print(f"  work: {s['mflop_per_pair']:.1f} MFLOP per pair (forward + backward, both "
          f"branches); peak: {s['cpu']}")
    print(f"  {'':8} {'pairs/s':>8}  {'min-max':>13}  {'CV':>6}  {'GFLOP/s':>8}  {'of peak':>7}")
    for name, c in s["configs"].items():
        print(f"  {name:<8} {c['pairs_per_s']:8.0f}  {c['min']:6.0f}-{c['max']:<6.0f}  "
              f"{c['cv_percent']:5.1f}%  {c['gflops']:8.1f}  {100 * c['fraction_of_peak']:6.1f}%")
    for name, r in s["ratios"].items():
        print(f"  {name:<15} = {r['median']:.3f}  (median of the per-round ratios; "
              f"{r['min']:.3f}-{r['max']:.3f})")
    if s["torch_missing"]:
        print("  pytorch: not installed (optional: pip install torch==2.13.0)")


def main():
    args = parse_args()
    if args.caffe:
        pycaffe_folder(args.caffe)
    peak = cpupeak.detect()
    if args.runs > 1 or args.caffe:
        measurement = measure_in_processes(args)
    else:
        measurement = measure(args)
    if args.json:
        print(json.dumps({"measurement": measurement, "summary": summarize(measurement, args, peak)}))
    else:
        print_report(summarize(measurement, args, peak))


if __name__ == "__main__":
    main()
