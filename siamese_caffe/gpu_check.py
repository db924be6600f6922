"""The pieces of scripts/gpu_check.sh that are not shell.

`prepare FOLDER` (needs pycaffe): a small dataset from the built-in digits and
the three nets the check drives through Caffe's command-line tool, with paths
relative to FOLDER so the folder can be copied to a GPU host without pycaffe:

    FOLDER/dataset/            create-db output (LMDBs, train_mean.binaryproto)
    FOLDER/train_val.prototxt  the job's wrapped network
    FOLDER/features.prototxt   the same in TEST phase without the loss; its only
                               outputs are the feature blobs
    FOLDER/solver.prototxt     GPU solver, snapshots under FOLDER/snapshots/

`summarize FOLDER` (standard library only, runs anywhere): reads the logs that
gpu_check.sh left in FOLDER/logs and writes the results as text.
"""

import argparse
import json
import os
import re
import sys

SNAPSHOT_PREFIX = "snapshots/check"


def prepare(folder, pairs=6400, val_pairs=640, iterations=500, batch_size=64):
    """Write the dataset and nets described above into `folder` (created)."""
    from .data import create_db, image_sources
    from .train import jobsetup
    from .train.settings import TrainSettings
    from .runtime import prototxt

    os.makedirs(folder, exist_ok=True)
    dataset = os.path.join(folder, "dataset")
    create_db.create_db(dataset, image_sources.builtin_mnist(), count=pairs,
                        val_count=val_pairs, positive_fraction=0.5, seed=1, force=True)
    epochs = iterations * batch_size / pairs       # so the job's plan has `iterations` steps
    settings = TrainSettings(epochs=epochs, batch_size=batch_size, seed=1, gpu="cpu")
    job = jobsetup.create_job(dataset, settings=settings, jobs_dir=os.path.join(folder, "jobs"))
    net = prototxt.read_net(job.train_val_path)
    _relative_sources(net, folder)
    prototxt.write_text(os.path.join(folder, "train_val.prototxt"), net)
    prototxt.write_text(os.path.join(folder, "features.prototxt"),
                        _features_net(net, job.network_info, folder))
    prototxt.write_text(os.path.join(folder, "solver.prototxt"),
                        _gpu_solver(job.solver_path, iterations))


def _relative_sources(net, folder):
    """Make Data sources and mean files relative to `folder` (in place)."""
    for layer in net.layer:
        if layer.type == "Data":
            layer.data_param.source = os.path.relpath(layer.data_param.source, folder)
            if layer.transform_param.mean_file:
                layer.transform_param.mean_file = os.path.relpath(
                    layer.transform_param.mean_file, folder)


def _features_net(train_val, network_info, folder):
    """TEST-phase copy of train_val without the loss, with every non-feature output silenced."""
    from .runtime import caffe_env, prototxt

    caffe = caffe_env.import_caffe()
    pb2 = prototxt.caffe_pb2()
    net = pb2.NetParameter()
    net.CopyFrom(train_val)
    loss = network_info["loss_layer"]
    kept = [layer for layer in net.layer if layer.name != loss]
    del net.layer[:]
    net.layer.extend(kept)
    path = os.path.join(folder, ".probe.prototxt")
    prototxt.write_text(path, net)
    cwd = os.getcwd()
    try:
        os.chdir(folder)
        outputs = caffe.Net(os.path.basename(path), caffe.TEST).outputs
    finally:
        os.chdir(cwd)
        os.remove(path)
    quiet = [blob for blob in outputs if blob not in network_info["feature_blobs"]]
    if quiet:
        silence = net.layer.add(name="silence_non_features", type="Silence")
        silence.bottom.extend(quiet)
    return net


def _gpu_solver(job_solver_path, iterations):
    """The job's solver, in GPU mode, for `iterations` iterations, snapshot at the end."""
    from .runtime import prototxt

    solver = prototxt.read_solver(job_solver_path)
    solver.net = "train_val.prototxt"
    solver.max_iter = iterations
    solver.snapshot = iterations
    solver.snapshot_prefix = SNAPSHOT_PREFIX
    solver.test_interval = max(iterations // 2, 1)
    solver.display = max(iterations // 10, 1)
    solver.solver_mode = solver.GPU
    return solver


# ---- summarize (standard library only) ------------------------------------------

FLOAT = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|-?inf)"


def read(path):
    """A log's text ('' when the file is missing)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def forward_backward_ms(log):
    """Caffe `time`'s 'Average Forward-Backward: X ms.' as a float, or None."""
    m = re.search(r"Average Forward-Backward: " + FLOAT + " ms", log)
    return float(m.group(1)) if m else None


def test_outputs(log):
    """Caffe `test`'s per-batch outputs: {(batch, blob): [values in order]}."""
    values = {}
    for batch, blob, value in re.findall(r"Batch (\d+), (\w+) = " + FLOAT, log):
        values.setdefault((int(batch), blob), []).append(float(value))
    return values


def training_losses(log):
    """[(iteration, train loss)] and [(iteration, test loss)] from a `caffe train` log."""
    train = [(int(i), float(v)) for i, v in re.findall(r"Iteration (\d+).*?, loss = " + FLOAT, log)]
    test = []
    for i, v in re.findall(r"Iteration (\d+), Testing net.*?\n(?:.*\n)*?.*Test net output #\d+: \w+ = "
                           + FLOAT, log):
        test.append((int(i), float(v)))
    return train, test


def compare_features(gpu_log, cpu_log):
    """Largest |GPU - CPU| over all feature values both logs printed, and their count."""
    gpu, cpu = test_outputs(gpu_log), test_outputs(cpu_log)
    common = sorted(set(gpu) & set(cpu))
    diffs = [abs(a - b) for key in common for a, b in zip(gpu[key], cpu[key])]
    return (max(diffs) if diffs else None), len(diffs)


def summarize(folder, tolerance=1e-4):
    """The results dict of a finished check in `folder` (logs under folder/logs)."""
    logs = os.path.join(folder, "logs")
    query = read(os.path.join(logs, "device_query.log"))
    name = re.search(r"Name:\s+(.+)", query)
    train_log = read(os.path.join(logs, "train_gpu.log"))
    train, test = training_losses(train_log)
    gpu_ms = forward_backward_ms(read(os.path.join(logs, "time_gpu.log")))
    cpu_ms = forward_backward_ms(read(os.path.join(logs, "time_cpu.log")))
    max_diff, compared = compare_features(read(os.path.join(logs, "features_gpu.log")),
                                          read(os.path.join(logs, "features_cpu.log")))
    return {
        "gpu": name.group(1).strip() if name else None,
        "train_first_loss": train[0] if train else None,
        "train_last_loss": train[-1] if train else None,
        "val_losses": test,
        "ms_per_iteration_gpu": gpu_ms,
        "ms_per_iteration_cpu": cpu_ms,
        "gpu_speedup": (cpu_ms / gpu_ms) if gpu_ms and cpu_ms else None,
        "feature_values_compared": compared,
        "feature_max_abs_diff": max_diff,
        "features_agree": max_diff is not None and compared > 0 and max_diff <= tolerance,
        "tolerance": tolerance,
    }


def format_results(results):
    """The results as 'name: value' lines."""
    return "\n".join(f"{key}: {json.dumps(value)}" for key, value in results.items())


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m siamese_caffe.gpu_check")
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("prepare", help="dataset + nets for the check (needs pycaffe)")
    p.add_argument("folder")
    p.add_argument("--iterations", type=int, default=500)
    s = sub.add_parser("summarize", help="read the check's logs, print the results")
    s.add_argument("folder")
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.folder, iterations=args.iterations)
        return 0
    results = summarize(args.folder)
    print(format_results(results))
    return 0 if results["features_agree"] else 1


if __name__ == "__main__":
    sys.exit(main())
