"""Run by test_cpu_threads.py in a fresh process (OMP_NUM_THREADS is read at start):
one forward/backward of the shipped siamese net on fixed weights and inputs, then
20 SGD steps, saved to the .npz named by argv[1]."""

import os
import sys

import numpy as np

from project_paths import ROOT   # (this script's folder, tests/, is on sys.path)

sys.path.insert(0, ROOT)

from siamese_caffe.runtime import caffe_env, prototxt
from siamese_caffe.net import netcheck

BATCH = 16


def main(out_path, network_path, work):
    caffe = caffe_env.import_caffe()
    caffe.set_mode_cpu()
    caffe.set_random_seed(7)
    with open(network_path) as f:
        net_param = netcheck.with_inputs(
            prototxt.parse_text(f.read(), prototxt.caffe_pb2().NetParameter(), network_path),
            (3, 28, 28), batch=BATCH)
    net_path = os.path.join(work, "net.prototxt")
    with open(net_path, "w") as f:
        f.write(str(net_param))
    solver_path = os.path.join(work, "solver.prototxt")
    with open(solver_path, "w") as f:
        f.write(f'net: "{net_path}"\nbase_lr: 0.01\nmomentum: 0.9\nweight_decay: 0.0005\n'
                'lr_policy: "fixed"\nmax_iter: 100\nrandom_seed: 7\nsnapshot_after_train: false\n')
    solver = caffe.SGDSolver(solver_path)
    net = solver.net
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(20 * BATCH, 3, 28, 28)).astype(np.float32) - 128
    labels = (rng.rand(20 * BATCH) < 0.5).astype(np.float32).reshape(-1, 1, 1, 1)
    net.blobs["data"].data[...] = images[:BATCH]
    net.blobs["label"].data[...] = labels[:BATCH]
    net.forward()
    net.backward()
    result = {"feat_left": net.blobs["feat_left"].data.copy(),
              "pool1_diff": net.blobs["pool1_left"].diff.copy(),
              "conv1_weight_diff": net.params["conv1_left"][0].diff.copy(),
              "conv2_weight_diff": net.params["conv2_left"][0].diff.copy()}
    losses = []
    for i in range(20):
        net.blobs["data"].data[...] = images[i * BATCH:(i + 1) * BATCH]
        net.blobs["label"].data[...] = labels[i * BATCH:(i + 1) * BATCH]
        solver.step(1)
        losses.append(float(net.blobs["loss"].data))
    np.savez(out_path, losses=np.array(losses), **result)


if __name__ == "__main__":
    main(*sys.argv[1:4])
