"""Caffe's CPU loops shared over OpenMP threads (patch 0003) give Caffe's results.

The same net, weights and inputs run in one process with OMP_NUM_THREADS=1 and in one
with 2 threads. Features and gradients must agree to float rounding: sums are split
over threads in another order, and the BLAS may split the inner-product layers' sums by
its threads too (OpenBLAS with OPENBLAS_CORETYPE=Haswell, as set on some machines here,
does). The loss curve of 20 SGD steps must agree to rounding for the first steps; after
that SGD amplifies last-bit differences, so the later steps only have to stay close (a
race between threads would give garbage, not a 1 % drift).
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import project_paths


NETWORK = os.path.join(project_paths.ROOT, "prototxt", "mnist_siamese_train_test.prototxt")


def probe(tmp_path, threads):
    work = tmp_path / f"threads{threads}"
    work.mkdir()
    out = work / "result.npz"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run([sys.executable, os.path.join(project_paths.TESTS, "threads_probe.py"), str(out), NETWORK,
                    str(work)], check=True, env=env, capture_output=True, timeout=300)
    return np.load(out)


@pytest.fixture(scope="module")
def one_and_two(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("threads")
    return probe(tmp, 1), probe(tmp, 2)


def test_features_agree_to_rounding(one_and_two):
    one, two = one_and_two
    np.testing.assert_allclose(two["feat_left"], one["feat_left"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["pool1_diff", "conv1_weight_diff", "conv2_weight_diff"])
def test_gradients_agree_to_rounding(one_and_two, name):
    one, two = one_and_two
    scale = np.abs(one[name]).max()
    assert scale > 0
    assert np.abs(one[name] - two[name]).max() <= 1e-5 * scale


def test_twenty_sgd_steps_give_the_same_loss_curve(one_and_two):
    one, two = one_and_two
    np.testing.assert_allclose(two["losses"][:5], one["losses"][:5], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=3e-2)
