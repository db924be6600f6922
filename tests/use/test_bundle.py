"""`export JOB -o model.tar.gz`: DIGITS' model download, run elsewhere by plain pycaffe."""

import json
import os
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pytest

import project_paths

READER = os.path.join(project_paths.TESTS, "use", "run_unpacked_bundle.py")
DIGITS_KEYS = {"id", "name", "status", "dataset_id", "job id", "creation time", "username",
               "image dimensions", "mean file", "snapshot file", "framework",
               "image resize mode", "digits version", "solver file", "train_val file",
               "deploy file", "model file", "mean subtraction", "caffe flavor",
               "caffe version"}


def test_an_unpacked_bundle_gives_infers_features_in_plain_pycaffe(cli, tiny_job, digit_pngs,
                                                                   tmp_path):
    archive = tmp_path / "model.tar.gz"
    done = cli("export", tiny_job.path, "-o", archive)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{archive}: job {tiny_job.job_id}, epoch 4 (iteration 40)")
    unpacked = tmp_path / "elsewhere"
    with tarfile.open(archive) as tar:
        assert all("/" not in name for name in tar.getnames())
        tar.extractall(unpacked, filter="data")
    assert sorted(os.listdir(unpacked)) == sorted([
        "deploy.prototxt", "snapshot_iter_40.caffemodel", "train_mean.binaryproto",
        "train_val.prototxt", "solver.prototxt", "original.prototxt", "info.json",
        "README.txt"])
    folder = tiny_job.info["dataset"]["folder"]
    images = [os.path.join(folder, "val_test_same_class_3.png"),
              os.path.join(folder, "val_test_different_class_3.png"),
              os.path.join(digit_pngs[0], digit_pngs[2][5][0])]
    expected = cli("infer", "--job", tiny_job.path, "--json", *images)
    assert expected.returncode == 0, expected.stderr
    # a separate process in the unpacked folder: only pycaffe, numpy and PIL
    ran = subprocess.run([sys.executable, READER, ".", *images], cwd=unpacked,
                         capture_output=True, text=True, timeout=120,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert ran.returncode == 0, ran.stderr
    got = json.loads(ran.stdout)
    for mine, theirs in zip(got, json.loads(expected.stdout)["results"]):
        np.testing.assert_allclose(mine["left"], theirs["left"], atol=1e-5, rtol=0)
        np.testing.assert_allclose(mine["right"], theirs["right"], atol=1e-5, rtol=0)
        assert mine["distance"] == pytest.approx(theirs["distance"], abs=1e-5)
    assert got[0]["distance"] != pytest.approx(got[1]["distance"])


def test_info_json_has_digits_keys_the_features_transform_and_margin(cli, tiny_job, tmp_path):
    archive = tmp_path / "model.zip"
    done = cli("export", tiny_job.path, "--snapshot", "20", "-o", archive, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["snapshot"] == 20 and summary["format"] == "zip"
    with zipfile.ZipFile(archive) as bundle:
        info = json.loads(bundle.read("info.json"))
        readme = bundle.read("README.txt").decode()
        assert "snapshot_iter_20.caffemodel" in bundle.namelist()
        assert "snapshot_iter_40.caffemodel" not in bundle.namelist()
    assert DIGITS_KEYS <= set(info)
    assert info["snapshot file"] == "snapshot_iter_20.caffemodel"
    assert info["mean file"] == "train_mean.binaryproto" and info["framework"] == "caffe"
    assert info["image dimensions"] == [28, 28, 3] and info["input shape"] == [1, 3, 28, 28]
    assert info["feature blobs"] == ["feat_left", "feat_right"] and info["margin"] == 1.0
    assert info["snapshot epoch"] == 2.0 and info["threshold"] == 0.5
    assert "scale 0.0125" in info["input transform"]["pixel values"]
    assert "epoch 2 (iteration 20)" in readme and 'weights="snapshot_iter_20.caffemodel"' in readme


def test_export_refuses_what_it_would_overwrite_and_leaves_nothing(cli, tiny_job, tmp_path):
    mine = tmp_path / "model.tgz"
    assert cli("export", tiny_job.path, "-o", mine).returncode == 0
    again = cli("export", tiny_job.path, "-o", mine)
    assert again.error_line("export").endswith(f"{mine}: already exists (use --force to "
                                               "replace it)")
    assert cli("export", tiny_job.path, "-o", mine, "--force", "--snapshot", "20").returncode == 0
    with tarfile.open(mine) as tar:
        assert "snapshot_iter_20.caffemodel" in tar.getnames()
    other = tmp_path / "notes.tar.gz"
    other.write_bytes(b"my own file")
    refused = cli("export", tiny_job.path, "-o", other, "--force")
    assert "is not a bundle this tool wrote" in refused.error_line("export")
    assert other.read_bytes() == b"my own file"
    assert "cannot tell the archive format" in cli(
        "export", tiny_job.path, "-o", tmp_path / "model.rar").error_line("export")
    assert "no snapshot at iteration 7 (have: 20, 40)" in cli(
        "export", tiny_job.path, "--snapshot", "7", "-o", tmp_path / "m.zip").error_line("export")
    assert "not a training job" in cli(
        "export", str(tmp_path), "-o", tmp_path / "m.zip").error_line("export")
    assert sorted(os.listdir(tmp_path)) == ["model.tgz", "notes.tar.gz"]


def test_a_damaged_snapshot_is_named_not_packed(cli, tiny_job, tmp_path):
    import shutil

    job_copy = tmp_path / "job"
    shutil.copytree(tiny_job.path, job_copy)
    weights = job_copy / "snapshot_iter_40.caffemodel"
    weights.write_bytes(weights.read_bytes()[:1000])
    refused = cli("export", job_copy, "-o", tmp_path / "model.tar.gz")
    assert f"{weights}: damaged" in refused.error_line("export")
    assert not (tmp_path / "model.tar.gz").exists()
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]
