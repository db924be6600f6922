"""`siamese-caffe train` and `draw-net` as a user runs them."""

import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import project_paths
from siamese_caffe.runtime import devices
from siamese_caffe.train import jobs, trainlog, training
from siamese_caffe.data import mean_files

import netvariants
import waiting

ROOT = project_paths.ROOT
FAST = ["--batch-size", "32", "--seed", "3", "--gpu", "cpu", "--lr-policy", "fixed",
        "--no-progress"]


def train_cli(*args, jobs_dir):
    return subprocess.Popen([sys.executable, "-m", "siamese_caffe.cli", "train", *args, *FAST,
                             "--jobs-dir", jobs_dir], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_snapshot(jobs_dir, iteration, process, timeout=240):
    """The job folder once its job.json records a snapshot at `iteration` or later."""
    def recorded():
        for name in os.listdir(jobs_dir) if os.path.isdir(jobs_dir) else []:
            try:
                with open(os.path.join(jobs_dir, name, "job.json")) as f:
                    snaps = json.load(f)["snapshots"]
            except (OSError, ValueError, KeyError):
                continue
            if snaps and snaps[-1]["iteration"] >= iteration:
                return os.path.join(jobs_dir, name)
        return None
    return waiting.until(recorded, f"a snapshot at iteration {iteration}", timeout,
                         process=process)


def test_killed_and_interrupted_runs_resume_to_the_same_end(small_pair_db, tmp_path):
    jobs_dir = str(tmp_path / "jobs")
    first = train_cli(small_pair_db, "--epochs", "6", jobs_dir=jobs_dir)     # 60 iterations
    try:
        folder = wait_for_snapshot(jobs_dir, 10, first)
        first.send_signal(signal.SIGKILL)                 # no chance to clean up
    finally:
        first.kill()
        first.communicate()
    second = train_cli("--resume", folder, jobs_dir=jobs_dir)
    try:
        wait_for_snapshot(jobs_dir, 30, second)
        second.send_signal(signal.SIGINT)                  # Ctrl-C: snapshot and stop
        out, err = second.communicate(timeout=120)
    finally:
        second.kill()
    assert second.returncode == 130, err
    job = jobs.Job.load(folder)
    stopped = job.info["iteration"]
    assert job.info["status"] == "interrupted" and 30 <= stopped < 60
    assert f"--resume {folder}" in job.info["message"]
    assert job.snapshots()[-1].iteration == stopped

    assert training.train_job(job, resume=True, progress=False,
                              out=open(os.devnull, "w")) == training.DONE
    job = jobs.Job.load(folder)
    assert job.info["status"] == "done" and job.info["iteration"] == 60
    rows = trainlog.read_rows(job.file("train_log"))
    assert [r["iteration"] for r in rows if r["phase"] == "train"] == list(range(1, 61))
    vals = [r for r in rows if r["phase"] == "val"]
    assert [r["iteration"] for r in vals] == [0, 10, 20, 30, 40, 50, 60]
    assert vals[-1]["loss"] < vals[0]["loss"]
    elapsed = [r["elapsed_s"] for r in rows]
    assert elapsed == sorted(elapsed)                       # one clock across the three runs
    with open(job.file("caffe_log")) as f:
        assert f.read().count("resuming from iteration") == 2


def assert_one_error_line_and_no_job(ran, jobs_dir, *fragments):
    line = ran.error_line("train")
    for fragment in fragments:
        assert fragment in line
    assert not os.path.exists(jobs_dir) or os.listdir(jobs_dir) == []


@pytest.mark.parametrize("options, fragments", [
    (["--epochs", "0"], ["--epochs: must be a finite number above 0"]),
    (["--batch-size", "500"], ["--batch-size: 500 pairs per batch", "(320 pairs)"]),
    (["--gpu", "0"], ["CPU_ONLY"]),
])
def test_bad_options(caffe, cli, small_pair_db, tmp_path, options, fragments):
    if "--gpu" in options and devices.caffe_has_cuda():
        pytest.skip("this Caffe has CUDA: a GPU number is not an error here")
    jobs_dir = str(tmp_path / "jobs")
    ran = cli("train", small_pair_db, "--jobs-dir", jobs_dir, *options)
    assert_one_error_line_and_no_job(ran, jobs_dir, *fragments)


@pytest.mark.parametrize("edit, fragments", [
    (netvariants.with_data_layer, ["layer 'mnist' is a Data layer reading"]),
    (netvariants.without_loss, ["no loss"]),
    (lambda text: text.replace("pool: MAX", "pool: BIGGEST", 1), ["syntax error"]),
    (netvariants.ip2_right_bias, ["'ip2_right'", "do not share"]),
])
def test_bad_networks(cli, small_pair_db, tmp_path, network_text, edit, fragments):
    network = tmp_path / "user.prototxt"
    network.write_text(edit(network_text))
    jobs_dir = str(tmp_path / "jobs")
    ran = cli("train", small_pair_db, "-n", str(network), "--jobs-dir", jobs_dir)
    assert_one_error_line_and_no_job(ran, jobs_dir, str(network), *fragments)


def test_syntax_error_names_the_line(cli, small_pair_db, tmp_path, network_text):
    network = tmp_path / "user.prototxt"
    network.write_text(network_text.replace("pool: MAX", "pool: BIGGEST", 1))
    line = network.read_text().splitlines().index(
        next(l for l in network.read_text().splitlines() if "BIGGEST" in l)) + 1
    ran = cli("train", small_pair_db, "-n", str(network), "--jobs-dir",
                           str(tmp_path / "jobs"))
    assert ran.error_line("train").startswith(
        f"siamese-caffe train: error: {network}:{line}: syntax error")


@pytest.mark.parametrize("damage, fragments", [
    (lambda db: shutil.rmtree(os.path.join(db, "val_images")), ["val_images", "missing LMDB"]),
    (lambda db: mean_files.write_binaryproto(os.path.join(db, "train_mean.binaryproto"),
                                             np.zeros((3, 20, 20))),
     ["the mean is 1x3x20x20 but the pairs are 3x28x28"]),
])
def test_damaged_datasets(cli, small_pair_db, tmp_path, damage, fragments):
    db = str(tmp_path / "db")
    shutil.copytree(small_pair_db, db)
    damage(db)
    jobs_dir = str(tmp_path / "jobs")
    ran = cli("train", db, "--jobs-dir", jobs_dir)
    assert_one_error_line_and_no_job(ran, jobs_dir, *fragments)


def test_resume_needs_a_job(cli, tmp_path):
    ran = cli("train", "--resume", str(tmp_path))
    assert "not a training job" in ran.error_line("train")


def test_draw_net_pictures_the_shipped_network(tmp_path):
    out = tmp_path / "net.png"
    result = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "draw-net",
                             "prototxt/mnist_siamese_train_test.prototxt", "-o", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.width > 1000    # a wide, left-to-right net


def test_train_from_another_folder_with_relative_paths(small_pair_db, tmp_path):
    """Run where the user stands: relative dataset and jobs folders, default network."""
    shutil.copytree(small_pair_db, tmp_path / "siamesedb")
    result = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "train", "siamesedb",
                             "--epochs", "0.2", *FAST, "--jobs-dir", "myjobs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 0, result.stderr[-2000:]
    (job_dir,) = os.listdir(tmp_path / "myjobs")
    job = jobs.Job.load(str(tmp_path / "myjobs" / job_dir))
    assert job.info["status"] == "done"
    assert job.last_snapshot() is not None
