#!/usr/bin/env python3
"""Training throughput, side by side in one run: pairs per second of

  1. lmdb    the job's own net (train_val.prototxt), fed by its two LMDB Data layers,
             stepped by pycaffe's solver with the forward check of `siamese-caffe train`;
  2. memory  the same layers and solver, fed from NumPy arrays already in memory
             (Input layers; each batch copied into the blobs before the step);
  3. pytorch the same architecture (scale, slice, shared LeNet, ContrastiveLoss margin 1,
             SGD with the same momentum and weight decay) in PyTorch eager mode —
             optional: skipped when torch is not installed (pip install torch==2.13.0);
  4. compiled the same PyTorch model and loss through torch.compile (Inductor; the
             forward and its backward compiled, the optimiser step eager), a second
             PyTorch baseline (--no-compile skips it; it needs a C++ compiler on the CPU).

--device gpu (or auto with a CUDA Caffe and a visible GPU) runs all of them on GPU 0:
Caffe in GPU mode and PyTorch on cuda:0, side by side in one run; each round then
ends with a device synchronisation, and the FLOP/s fraction of the CPU peak is left out.

All of them use the same batch size and the same number of timed iterations, after the
same warm-up; the configurations take turns over --rounds rounds so that a busy machine
slows each alike. Reported: the median round, the spread of the rounds (min-max and
coefficient of variation), each ratio as the median of the per-round ratios, and the
achieved GFLOP/s (multiply-adds of the convolution and inner-product layers, forward
and backward, counted from the net) as a fraction of the CPU's FMA peak, timed at the
start by bench/cpupeak.py's FMA loop on every core (the clock a VM's cpuinfo gives is
the nominal one, well under what its cores run at; that estimate is printed beside it).
--runs N repeats the whole measurement in N fresh processes (thread placement, memory
layout and the BLAS's start-up differ between processes, not between rounds).

    python bench/train.py                       # 2,000 pairs from the built-in digits
    python bench/train.py --runs 5 --json       # five processes; JSON for machines
    python bench/train.py --caffe ~/.cache/siamese-caffe/caffe-cpu-mkl-py311-<key>
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import cpupeak  # noqa: E402  (bench/cpupeak.py)
import netflops  # noqa: E402  (bench/netflops.py)
import torchnet  # noqa: E402  (bench/torchnet.py)
from siamese_caffe.data import create_db, image_sources, lmdb_reader  # noqa: E402
from siamese_caffe.net import netcheck, solver  # noqa: E402
from siamese_caffe.runtime import blasinfo, caffe_env, devices, prototxt  # noqa: E402
from siamese_caffe.train import jobsetup, training  # noqa: E402
from siamese_caffe.train.settings import TrainSettings  # noqa: E402

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
    p.add_argument("--solver", choices=("SGD", "Adam"), default="SGD",
                   help="the solver type of the job (and of the PyTorch baselines: "
                        "torch.optim.SGD or Adam with the same settings)")
    p.add_argument("--runs", type=int, default=1,
                   help="repeat the measurement in this many fresh processes")
    p.add_argument("--caffe", metavar="PREFIX",
                   help="measure this build of scripts/install_caffe.sh (a cache entry, e.g. "
                        "~/.cache/siamese-caffe/caffe-cpu-mkl-...) instead of the .venv's")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch baselines")
    p.add_argument("--no-compile", action="store_true",
                   help="skip the torch.compile baseline (keep PyTorch eager)")
    p.add_argument("--save-torch-inputs", metavar="FILE.npz",
                   help="also write the PyTorch baselines' pairs and solver settings here "
                        "(for bench/torch_only.py on a machine without pycaffe)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu",
                   help="where Caffe and PyTorch compute: the CPU, GPU 0, or GPU 0 when "
                        "this Caffe has CUDA and a GPU is visible")
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

    pb2 = caffe.proto.caffe_pb2
    with open(job.mean_file, "rb") as f:
        mean = caffe.io.blobproto_to_array(pb2.BlobProto.FromString(f.read()))[0]
    folder = job.info["dataset"]["folder"]
    shape = tuple(job.image_shape)
    images, labels = [], []
    with lmdb_reader.open_readonly(os.path.join(folder, "train_images")) as env, \
            env.begin() as txn:
        for _, raw in txn.cursor():
            images.append(np.frombuffer(pb2.Datum.FromString(raw).data, np.uint8).reshape(shape))
    with lmdb_reader.open_readonly(os.path.join(folder, "train_labels")) as env, \
            env.begin() as txn:
        labels = [pb2.Datum.FromString(raw).float_data[0] for _, raw in txn.cursor()]
    return ((np.stack(images) - mean).astype(np.float32),
            np.array(labels, np.float32).reshape(-1, 1, 1, 1))


def torch_inputs(job, caffe):
    """What the PyTorch baselines train on: the job's training pairs (load_arrays) and
    its solver settings, as a dict of NumPy arrays and numbers (bench/torch_only.py
    reads the same from an .npz)."""
    images, labels = load_arrays(job, caffe)
    param = prototxt.read_solver(job.solver_path)
    return {"images": images, "labels": labels.reshape(-1), "base_lr": param.base_lr,
            "momentum": param.momentum, "weight_decay": param.weight_decay,
            "margin": job.margin, "type": param.type, "momentum2": param.momentum2,
            "delta": param.delta}


def torch_fed(inputs, batch_size, device="cpu", compiled=False):
    """The same siamese LeNet and solver settings in PyTorch on `device` ("cpu" or
    "cuda:0"), eager or through torch.compile (bench/torchnet.py); (state, step), or
    None without torch."""
    if importlib.util.find_spec("torch") is None:
        return None
    return torchnet.training_step(inputs["images"], inputs["labels"], inputs, batch_size,
                                  device, compiled)


def caffe_sync(caffe_solver):
    """Reading the loss copies it from the GPU, which waits for the queued kernels."""
    loss = next(iter(caffe_solver.net.outputs))
    return lambda: float(caffe_solver.net.blobs[loss].data.flat[0])


def run_rounds(configs, args, syncs=None):
    """{name: [pairs/s per round]}, the configurations taking turns; syncs: {name: a
    function waiting for that configuration's device}, none on the CPU."""
    syncs = syncs or {}
    no_sync = lambda: None  # noqa: E731
    for name, (state, step) in configs.items():
        torchnet.time_round(state, step, 0, args.warmup, syncs.get(name, no_sync))
    rates = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, (state, step) in configs.items():
            start = args.warmup + r * args.iterations
            seconds = torchnet.time_round(state, step, start, args.iterations,
                                          syncs.get(name, no_sync))
            rates[name].append(args.batch_size * args.iterations / seconds)
    return rates


def measure(args):
    """One process's measurement: rounds of pairs/s per configuration plus the facts
    needed to read them (FLOP per pair, BLAS, threads, CPU peak), as a dict."""
    caffe = caffe_env.import_caffe()
    gpu = choose_gpu(args.device)
    devices.set_mode(caffe, gpu)
    torch_device = "cpu" if gpu is None else f"cuda:{gpu}"
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        dataset = args.dataset or os.path.join(tmp, "siamesedb")
        if not args.dataset:
            create_db.create_db(dataset, image_sources.builtin_mnist(), count=args.pairs,
                                val_count=100, seed=0)
        settings = TrainSettings(epochs=1, batch_size=args.batch_size, seed=1,
                                 gpu="cpu" if gpu is None else str(gpu),
                                 solver_type=args.solver)
        job = jobsetup.create_job(dataset, settings=settings, jobs_dir=os.path.join(tmp, "jobs"))
        user_net = prototxt.read_net(job.file("original"))
        configs = {"lmdb": lmdb_fed(job, caffe),
                   "memory": memory_fed(job, caffe, user_net, args.batch_size)}
        flops = netflops.step_flops(configs["memory"][0].net)
        syncs = {}
        if gpu is not None:
            syncs = {name: caffe_sync(state) for name, (state, _) in configs.items()}
        inputs = None if args.no_torch and not args.save_torch_inputs else \
            torch_inputs(job, caffe)
        if args.save_torch_inputs:
            np.savez(args.save_torch_inputs, **inputs)
        torch_config = None if args.no_torch else torch_fed(inputs, args.batch_size,
                                                            torch_device)
        if torch_config:
            configs["pytorch"] = torch_config
            syncs["pytorch"] = torchnet.sync_function(torch_device)
            if not args.no_compile:
                configs["compiled"] = torch_fed(inputs, args.batch_size, torch_device,
                                                compiled=True)
                syncs["compiled"] = syncs["pytorch"]
        rates = run_rounds(configs, args, syncs)
    return {"rates": rates, "flop_per_pair": flops.per_example,
            "solver_type": type(configs["lmdb"][0]).__name__.replace("Solver", ""),
            "caffe": caffe_env.caffe_prefix(caffe),
            "device": devices.describe(gpu), "gpu_name": _gpu_name(torch_config, gpu),
            "torch_missing": not args.no_torch and torch_config is None,
            "torch_threads": _torch_threads(torch_config), "blas": blasinfo.describe(caffe)}


def choose_gpu(option):
    """GPU 0 or None (the CPU) for --device; exits with one line when a GPU is asked for
    and this Caffe has no CUDA."""
    if option == "cpu":
        return None
    if option == "auto":
        return devices.choose_device("auto")
    if not devices.caffe_has_cuda():
        sys.exit("bench/train.py: --device gpu: this Caffe is a CPU_ONLY build")
    return 0


def _gpu_name(torch_config, gpu):
    if gpu is None or not torch_config:
        return None
    import torch
    return torch.cuda.get_device_name(gpu)


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
             "--rounds", str(args.rounds), "--device", args.device, "--solver", args.solver] \
        + (["--dataset", args.dataset] if args.dataset else []) \
        + (["--no-torch"] if args.no_torch else []) + (["--no-compile"] if args.no_compile else [])
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
    on_cpu = measurement.get("device", "cpu") == "cpu"
    configs = {}
    for name, values in rates.items():
        median = statistics.median(values)
        configs[name] = {
            "pairs_per_s": round(median, 1), "min": round(min(values), 1),
            "max": round(max(values), 1),
            "cv_percent": round(100 * statistics.pstdev(values) / statistics.mean(values), 2),
            "gflops": round(median * gflop, 2),
            "fraction_of_peak": round(median * gflop / peak.reference_gflops, 3)
            if on_cpu else None,
            "rounds": [round(v, 1) for v in values]}
        if "run_medians" in measurement:
            configs[name]["run_medians"] = [round(v, 1) for v in measurement["run_medians"][name]]
    ratios = {}
    for a, b in (("lmdb", "pytorch"), ("memory", "pytorch"), ("lmdb", "compiled"),
                 ("memory", "compiled"), ("compiled", "pytorch"), ("lmdb", "memory")):
        if a in rates and b in rates:    # per round: both sides of a round saw the same load
            per_round = [x / y for x, y in zip(rates[a], rates[b])]
            ratios[f"{a}/{b}"] = {"median": round(statistics.median(per_round), 3),
                                  "min": round(min(per_round), 3),
                                  "max": round(max(per_round), 3)}
    return {"batch_size": args.batch_size, "solver": measurement["solver_type"],
            "iterations": args.iterations,
            "rounds": args.rounds, "runs": args.runs,
            "mflop_per_pair": round(measurement["flop_per_pair"] / 1e6, 2),
            "cpu": peak.explain(), "peak_gflops": round(peak.reference_gflops, 1),
            "nominal_peak_gflops": round(peak.gflops, 1),
            "peak_measured": peak.measured_gflops is not None,
            "device": measurement.get("device", "cpu"), "gpu_name": measurement.get("gpu_name"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
            "torch_threads": measurement["torch_threads"], "blas": measurement["blas"],
            "caffe": measurement["caffe"],
            "configs": configs, "ratios": ratios, "torch_missing": measurement["torch_missing"]}


def print_report(summary):
    s = summary
    blas = s["blas"]
    print(f"siamese LeNet training, batch {s['batch_size']}, {s['solver']}: "
          f"{s['iterations']} iterations x {s['rounds']} rounds x {s['runs']} run(s)")
    print(f"  Caffe: {s['caffe']}")
    print(f"  Caffe's BLAS: {blas['name']} ({blas['threading']}); OMP_NUM_THREADS="
          f"{s['omp_num_threads'] or 'unset'}; PyTorch threads: {s['torch_threads']}")
    if s["device"] != "cpu":
        print(f"  device: {s['device']} ({s['gpu_name'] or 'GPU'}) for Caffe and PyTorch; "
              "'of peak' is the CPU's, not shown")
    print(f"  work: {s['mflop_per_pair']:.1f} MFLOP per pair (forward + backward, both "
          f"branches); peak: {s['cpu']}")
    print(f"  {'':8} {'pairs/s':>8}  {'min-max':>13}  {'CV':>6}  {'GFLOP/s':>8}  {'of peak':>7}")
    for name, c in s["configs"].items():
        share = "-" if c["fraction_of_peak"] is None else f"{100 * c['fraction_of_peak']:.1f}%"
        print(f"  {name:<8} {c['pairs_per_s']:8.0f}  {c['min']:6.0f}-{c['max']:<6.0f}  "
              f"{c['cv_percent']:5.1f}%  {c['gflops']:8.1f}  {share:>7}")
    for name, r in s["ratios"].items():
        print(f"  {name:<15} = {r['median']:.3f}  (median of the per-round ratios; "
              f"{r['min']:.3f}-{r['max']:.3f})")
    if s["torch_missing"]:
        print("  pytorch: not installed (optional: pip install torch==2.13.0)")


def main():
    args = parse_args()
    if args.caffe:
        pycaffe_folder(args.caffe)
    # the FMA peak is timed first, while this process has the machine to itself
    peak = cpupeak.detect(measure=args.device != "gpu")
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
