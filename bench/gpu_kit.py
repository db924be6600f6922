#!/usr/bin/env python3
"""The nets, solver settings and digits that scripts/gpu_bench.sh needs on a GPU host,
written where pycaffe runs (scripts/gpu_bench_prepare.sh calls this):

    python bench/gpu_kit.py KIT [--pairs 100000] [--val-pairs 10000] [--epochs 30]

KIT/digits.npz          the built-in digits (bench/pairs_lmdb.py make turns them into the
                        pair LMDBs on the host, in the layout create-db writes)
KIT/train_val.prototxt  the job's net for that dataset, Data sources relative to the data
                        folder (train_images, ..., train_mean.binaryproto)
KIT/solver.prototxt     the job's solver: the walkthrough's recipe, --pairs x --epochs at
                        batch 64 (100,000 x 30 = 46,875 iterations), snapshot at the end
KIT/features_ref.prototxt, features_query.prototxt
                        TEST-phase nets printing the features of knn_ref_* / knn_query_*
KIT/kit.json            pairs, val_pairs, epochs, max_iter
KIT/torch_solver.json   base_lr, momentum, weight_decay, margin for bench/torch_only.py
"""

import argparse
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, os.pardir))

import pairs_lmdb  # noqa: E402  (bench/pairs_lmdb.py)
from siamese_caffe import gpu_check  # noqa: E402
from siamese_caffe.data import create_db, image_sources  # noqa: E402
from siamese_caffe.runtime import prototxt  # noqa: E402
from siamese_caffe.train import jobsetup  # noqa: E402
from siamese_caffe.train.settings import TrainSettings  # noqa: E402


def _relative(net):
    """Data sources and mean files as bare names (caffe runs in the data folder)."""
    for layer in net.layer:
        if layer.type == "Data":
            layer.data_param.source = os.path.basename(layer.data_param.source)
            if layer.transform_param.mean_file:
                layer.transform_param.mean_file = os.path.basename(
                    layer.transform_param.mean_file)


def _with_sources(net, old, new):
    copy = type(net)()
    copy.CopyFrom(net)
    for layer in copy.layer:
        if layer.type == "Data":
            layer.data_param.source = layer.data_param.source.replace(old, new)
    return copy


def prepare(kit, pairs, val_pairs, epochs, batch_size=64):
    os.makedirs(kit, exist_ok=True)
    digits = os.path.join(kit, "digits.npz")
    pairs_lmdb.export(digits)
    with tempfile.TemporaryDirectory(prefix="gpu-kit-") as tmp:
        data = os.path.join(tmp, "data")
        # A dataset of the host's size and layout, for the job's plan (iterations, test
        # batches) and to load the nets once; the host writes its own (pairs_lmdb.py).
        create_db.create_db(data, image_sources.builtin_mnist(), count=pairs,
                            val_count=val_pairs, positive_fraction=0.5, seed=1, force=True)
        settings = TrainSettings(epochs=epochs, batch_size=batch_size, seed=1,
                                 gpu="cpu")
        job = jobsetup.create_job(data, settings=settings, jobs_dir=os.path.join(tmp, "jobs"))
        net = prototxt.read_net(job.train_val_path)
        _relative(net)
        prototxt.write_text(os.path.join(kit, "train_val.prototxt"), net)
        features = gpu_check._features_net(net, job.info["network"], data)
        for name in ("ref", "query"):
            knn_net = _with_sources(_with_sources(features, "val_images", f"knn_{name}_images"),
                                    "val_labels", f"knn_{name}_labels")
            prototxt.write_text(os.path.join(kit, f"features_{name}.prototxt"), knn_net)
        solver = prototxt.read_solver(job.solver_path)
        solver.net = "train_val.prototxt"
        solver.snapshot = solver.max_iter
        solver.snapshot_prefix = "snapshots/full"
        solver.solver_mode = solver.GPU
        prototxt.write_text(os.path.join(kit, "solver.prototxt"), solver)
        with open(os.path.join(kit, "torch_solver.json"), "w") as f:
            json.dump({"base_lr": solver.base_lr, "momentum": solver.momentum,
                       "weight_decay": solver.weight_decay, "margin": job.margin,
                       "max_iter": solver.max_iter, "test_batch": batch_size}, f)
    info = {"pairs": pairs, "val_pairs": val_pairs, "epochs": epochs,
            "max_iter": solver.max_iter}
    with open(os.path.join(kit, "kit.json"), "w") as f:
        json.dump(info, f)
    print(json.dumps(dict(info, kit=kit)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("kit")
    p.add_argument("--pairs", type=int, default=100000)
    p.add_argument("--val-pairs", type=int, default=10000)
    p.add_argument("--epochs", type=float, default=30)
    args = p.parse_args(argv)
    prepare(args.kit, args.pairs, args.val_pairs, args.epochs)


if __name__ == "__main__":
    main()
