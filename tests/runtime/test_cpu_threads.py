"""Caffe's CPU loops shared over OpenMP threads (patch 0003) give Caffe's results.

The same net, weights and inputs run in one process with OMP_NUM_THREADS=1 (Caffe's
own image-by-image loops) and in one with 2 threads. The forward pass must come out
bit for bit the same; the gradients (weight gradients summed over the batch in another
order; the BLAS itself may split the inner-product layers' sums over its threads) and
the loss curve of 20 SGD steps must agree to float rounding.
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


def test_features_are_bit_identical(one_and_two):
    one, two = one_and_two
    assert np.array_equal(one["feat_left"], two["feat_left"])


@pytest.mark.parametrize("name", ["pool1_diff", "conv1_weight_diff", "conv2_weight_diff"])
def test_gradients_agree_to_rounding(one_and_two, name):
    one, two = one_and_two
    scale = np.abs(one[name]).max()
    assert scale > 0
    assert np.abs(one[name] - two[name]).max() <= 1e-5 * scale


def test_twenty_sgd_steps_give_the_same_loss_curve(one_and_two):
    one, two = one_and_two
    np.testing.assert_allclose(two["losses"], one["losses"], rtol=1e-4, atol=1e-6)
