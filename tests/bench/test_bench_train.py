"""bench/train.py as a user runs it (tiny sizes; no test asserts a speed)."""

import json
import os
import subprocess
import sys

import project_paths

ROOT = project_paths.ROOT


def test_bench_reports_rates_flops_peak_and_the_blas(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "train.py"), "--pairs", "200",
         "--batch-size", "16", "--iterations", "2", "--warmup", "1", "--rounds", "2",
         "--no-torch", "--json"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["mflop_per_pair"] == 26.36          # the siamese LeNet, both branches
    assert set(summary["configs"]) == {"lmdb", "memory"}
    for figures in summary["configs"].values():
        assert len(figures["rounds"]) == 2 and figures["pairs_per_s"] > 0
        assert 0 < figures["fraction_of_peak"] < 1
    assert "lmdb/memory" in summary["ratios"]
    assert summary["blas"]["library"] and summary["blas"]["threading"] != "unknown"
    assert "GFLOP/s" in summary["cpu"]
    assert os.path.isfile(os.path.join(summary["caffe"], "BUILD_INFO.json"))


def test_the_adam_solver_is_what_caffe_steps(tmp_path):
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "bench", "train.py"), "--pairs", "200",
         "--batch-size", "16", "--iterations", "2", "--warmup", "1", "--rounds", "1",
         "--solver", "Adam", "--no-torch", "--json"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["solver"] == "Adam"                  # the solver Caffe built
    assert all(f["pairs_per_s"] > 0 for f in summary["configs"].values())


def test_a_caffe_prefix_without_pycaffe_is_one_clear_error(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "train.py"),
                             "--caffe", str(tmp_path), "--no-torch"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.strip() == (f"bench/train.py: --caffe {tmp_path}: no pycaffe in it "
                                     "(expected lib/python3/dist-packages/caffe, as "
                                     "install_caffe.sh builds)")
