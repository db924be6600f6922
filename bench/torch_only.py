#!/usr/bin/env python3
"""PyTorch's side of bench/train.py alone, for a machine without pycaffe (a lent GPU host):
the same siamese LeNet, batch and solver settings (bench/torchnet.py), eager and through
torch.compile, taking turns over --rounds rounds; pairs per second (median round) as JSON.

    python bench/train.py --save-torch-inputs pairs.npz ...   # where pycaffe runs
    python bench/torch_only.py pairs.npz --device cuda         # anywhere with PyTorch
    python bench/torch_only.py --digits KIT/digits.npz --solver KIT/torch_solver.json
        # pairs drawn here from the digits (bench/pairs_lmdb.py), as scripts/gpu_bench.sh does
"""

import argparse
import json
import os
import statistics
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pairs_lmdb  # noqa: E402  (bench/pairs_lmdb.py)
import torchnet  # noqa: E402  (bench/torchnet.py)


def pairs_from_digits(path, count, seed=1):
    """Mean-subtracted float32 pairs [count, 3, 28, 28] and labels [count] from digits."""
    data = np.load(path)
    images, classes = data["images"], data["labels"].astype(np.int64)
    first, second, same = pairs_lmdb.draw_pairs(classes, count, np.random.default_rng(seed))
    pairs = np.stack([images[first], images[second], np.zeros_like(images[first])],
                     axis=1).astype(np.float32)
    return pairs - pairs.mean(axis=0), same.astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="?", help="the .npz bench/train.py --save-torch-inputs wrote")
    p.add_argument("--digits", help="instead: digits .npz (images, labels) to draw pairs from")
    p.add_argument("--solver", help="with --digits: JSON with base_lr, momentum, weight_decay, "
                                    "margin (bench/gpu_kit.py writes it)")
    p.add_argument("--pairs", type=int, default=2000, help="with --digits: pairs drawn")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda if any)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=100, help="timed iterations per round")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-compile", action="store_true")
    args = p.parse_args(argv)

    import torch
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.digits:
        images, labels = pairs_from_digits(args.digits, args.pairs)
        with open(args.solver) as f:
            solver = json.load(f)
    elif args.inputs:
        data = np.load(args.inputs)
        images, labels = data["images"], data["labels"]
        solver = {k: float(data[k]) for k in ("base_lr", "momentum", "weight_decay", "margin")}
    else:
        p.error("give the .npz of bench/train.py --save-torch-inputs, or --digits and --solver")
    configs = {"pytorch": torchnet.training_step(images, labels, solver, args.batch_size,
                                                 device)}
    if not args.no_compile:
        configs["compiled"] = torchnet.training_step(images, labels, solver, args.batch_size,
                                                     device, compiled=True)
    sync = torchnet.sync_function("cpu" if device == "cpu" else device)
    for state, step in configs.values():
        torchnet.time_round(state, step, 0, args.warmup, sync)
    rates = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, (state, step) in configs.items():
            seconds = torchnet.time_round(state, step, args.warmup + r * args.iterations,
                                          args.iterations, sync)
            rates[name].append(args.batch_size * args.iterations / seconds)
    print(json.dumps({
        "device": device,
        "gpu_name": torch.cuda.get_device_name() if device != "cpu" else None,
        "torch": torch.__version__, "batch_size": args.batch_size,
        "iterations": args.iterations, "rounds": args.rounds,
        "pairs_per_s": {k: round(statistics.median(v), 1) for k, v in rates.items()},
        "ms_per_iteration": {k: round(1000 * args.batch_size / statistics.median(v), 3)
                             for k, v in rates.items()},
        "rounds_pairs_per_s": {k: [round(x, 1) for x in v] for k, v in rates.items()}}))


if __name__ == "__main__":
    main()
