"""scripts/gpu_check.sh's pieces, on the CPU build; the GPU run itself skips without a GPU."""

import os
import shutil
import subprocess
import sys

import pytest

from siamese_caffe.runtime import caffe_env, caffe_info
from siamese_caffe import gpu_check

from project_paths import ROOT


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpu_check") / "prepared"
    gpu_check.prepare(str(folder), pairs=640, val_pairs=128, iterations=10, batch_size=32)
    return folder


@pytest.fixture(scope="module")
def caffe_tool():
    return os.path.join(caffe_env.caffe_prefix(caffe_env.import_caffe()), "bin", "caffe")


def run_tool(tool, args, cwd, log):
    # the results are read from Caffe's INFO log lines
    env = dict(os.environ, GLOG_minloglevel="0")
    result = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=600,
                            env=env)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr[-2000:]


def test_prepared_folder_trains_and_reports_features_with_the_caffe_tool(prepared, caffe_tool):
    work = prepared.parent
    logs = work / "logs"
    solver = (prepared / "solver.prototxt").read_text()
    assert "solver_mode: GPU" in solver and "max_iter: 10" in solver
    # the CPU build cannot run the GPU solver: train the same solver in CPU mode
    (prepared / "solver_cpu.prototxt").write_text(solver.replace("solver_mode: GPU",
                                                                 "solver_mode: CPU"))
    (prepared / "snapshots").mkdir()
    run_tool(caffe_tool, ["train", "-solver", "solver_cpu.prototxt"], prepared,
             logs / "train_gpu.log")
    weights = "snapshots/check_iter_10.caffemodel"
    assert (prepared / weights).is_file()
    run_tool(caffe_tool, ["time", "-model", "train_val.prototxt", "-iterations", "2"], prepared,
             logs / "time_cpu.log")
    for name in ("features_gpu.log", "features_cpu.log"):
        run_tool(caffe_tool, ["test", "-model", "features.prototxt", "-weights", weights,
                              "-iterations", "2"], prepared, logs / name)
    results = gpu_check.summarize(str(work))
    # 2 batches x 32 pairs x 2 features x 2 blobs, identical runs
    assert results["feature_values_compared"] == 2 * 32 * 2 * 2
    assert results["feature_max_abs_diff"] == 0.0 and results["features_agree"]
    assert results["ms_per_iteration_cpu"] > 0
    assert results["train_last_loss"][0] == 10   # the final iteration's loss line
    assert results["val_losses"], "validation passes were parsed"


def test_features_that_differ_beyond_tolerance_fail_the_check(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    line = "I1128 solver.cpp:1] Batch 0, feat_left = {}\n"
    (logs / "features_gpu.log").write_text(line.format("0.50000") + line.format("1.0"))
    (logs / "features_cpu.log").write_text(line.format("0.50030") + line.format("1.0"))
    results = gpu_check.summarize(str(tmp_path))
    assert results["feature_values_compared"] == 2
    assert results["feature_max_abs_diff"] == pytest.approx(3e-4)
    assert not results["features_agree"]


def gpu_available():
    return bool(caffe_info.visible_gpus()) and caffe_info.collect()["build"] == "CUDA"


@pytest.mark.skipif(not shutil.which("nvidia-smi"), reason="no NVIDIA GPU visible (nvidia-smi absent)")
def test_gpu_check_script_on_a_gpu(tmp_path):
    if not gpu_available():
        pytest.skip("no GPU visible to a CUDA build of Caffe here")
    out = tmp_path / "results.txt"
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "gpu_check.sh"), "--work",
                             str(tmp_path / "work"), "--out", str(out), "--iterations", "100"],
                            capture_output=True, text=True, timeout=1800, cwd=ROOT,
                            env=dict(os.environ, PYTHON=sys.executable))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "features_agree: true" in out.read_text()
