#!/usr/bin/env python3
"""Training throughput, side by side in one run: pairs per second of

  1. lmdb    the job's own net (train_val.prototxt), fed by its two LMDB Data layers,
             stepped by pycaffe's solver as `siamese-caffe train` does;
  2. memory  the same layers and solver, fed from NumPy arrays already in memory
             (Input layers; each batch copied into the blobs before the step);
  3. pytorch the same architecture (scale, slice, shared LeNet, ContrastiveLoss margin 1,
             SGD with the same momentum and weight decay) in PyTorch on the CPU —
             optional: skipped when torch is not installed (pip install torch==2.13.0).

All three use the same batch size and the same number of timed iterations, after the
same warm-up; the configurations take turns over --rounds rounds so that a busy machine
slows each alike; the median round is reported, and each ratio is the median of the
per-round ratios.

    python bench/train.py                       # 2,000 pairs from the built-in digits
    python bench/train.py --dataset siamesedb --batch-size 64 --iterations 40
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

from siamese_caffe import (caffe_env, create_db, image_sources, jobsetup, netcheck,  # noqa: E402
                           prototxt, solver)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", help="a create-db folder (default: made from the built-in "
                                     "digits in a temporary folder)")
    p.add_argument("--pairs", type=int, default=2000, help="training pairs when making one")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=30, help="timed iterations per round")
    p.add_argument("--warmup", type=int, default=5, help="untimed iterations first")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    return p.parse_args()


def lmdb_fed(job, caffe):
    """The job's solver; a step function (its data comes from the LMDB Data layers)."""
    runtime = solver.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
    return solver.load_caffe_solver(caffe, runtime, job.path), lambda s, i: s.step(1)


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


def main():
    args = parse_args()
    caffe = caffe_env.import_caffe()
    caffe.set_mode_cpu()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        dataset = args.dataset or os.path.join(tmp, "siamesedb")
        if not args.dataset:
            create_db.create_db(dataset, image_sources.builtin_mnist(), count=args.pairs,
                                val_count=100, seed=0)
        settings = jobsetup.TrainSettings(epochs=1, batch_size=args.batch_size, seed=1, gpu="cpu")
        job = jobsetup.create_job(dataset, settings=settings, jobs_dir=os.path.join(tmp, "jobs"))
        user_net = prototxt.read_net(job.file("original"))
        configs = {"lmdb": lmdb_fed(job, caffe),
                   "memory": memory_fed(job, caffe, user_net, args.batch_size)}
        torch_config = None if args.no_torch else torch_fed(job, caffe, args.batch_size)
        if torch_config:
            configs["pytorch"] = torch_config
        report(run_rounds(configs, args), args,
               torch_missing=not args.no_torch and torch_config is None)


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


def report(rates, args, torch_missing):
    print(f"batch {args.batch_size}, {args.iterations} iterations x {args.rounds} rounds, "
          f"CPU, {os.cpu_count()} cores")
    median = {name: statistics.median(values) for name, values in rates.items()}
    for name, value in median.items():
        spread = ", ".join(f"{v:.0f}" for v in rates[name])
        print(f"  {name:<8} {value:8.0f} pairs/s   (rounds: {spread})")
    for name in ("lmdb", "pytorch"):
        if name in rates:     # per-round ratios: both sides of a round saw the same load
            ratios = [a / b for a, b in zip(rates[name], rates["memory"])]
            print(f"  {name} / memory = {statistics.median(ratios):.3f} "
                  f"(median of the per-round ratios; ratio of medians "
                  f"{median[name] / median['memory']:.3f})")
    if torch_missing:
        print("  pytorch: not installed (optional: pip install torch==2.13.0)")


if __name__ == "__main__":
    main()
