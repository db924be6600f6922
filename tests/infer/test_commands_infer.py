"""`infer`, `infer-many`, `plot-clusters` and `evaluate` as a user runs them."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import project_paths

ROOT = project_paths.ROOT


def test_infer_prints_points_distance_and_verdict(cli, tiny_job, digit_pngs):
    folder = tiny_job.info["dataset"]["folder"]
    same = os.path.join(folder, "val_test_same_class_0.png")
    digit = os.path.join(digit_pngs[0], digit_pngs[2][0][0])
    done = cli("infer", "--job", tiny_job.path, same, digit)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"{same} (pair)" and lines[1].startswith("  left  (feat_left): [")
    assert "threshold 0.5000 (margin 1)" in lines[3]
    assert lines[4] == f"{digit} (grayscale digit, replicated)"
    assert lines[5].split(": ")[1] == lines[6].split(": ")[1]          # identical points
    assert lines[7].startswith("  distance 0.0000 < threshold") and lines[7].endswith("same class")


def test_infer_json_and_snapshot_and_threshold(cli, tiny_job):
    folder = tiny_job.info["dataset"]["folder"]
    different = os.path.join(folder, "val_test_different_class_0.png")
    done = cli("infer", "--job", os.path.basename(tiny_job.path), "--jobs-dir",
               os.path.dirname(tiny_job.path), "--snapshot", "20", "--threshold", "100",
               "--json", different)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["snapshot"] == 20 and answer["feature_blobs"] == ["feat_left", "feat_right"]
    (result,) = answer["results"]
    assert result["threshold"] == 100 and result["verdict"] == "same"
    assert len(result["left"]) == 2 and result["distance"] == pytest.approx(
        np.linalg.norm(np.subtract(result["left"], result["right"])))


def test_infer_visualize_writes_the_folder(cli, tiny_job, tmp_path):
    folder = tiny_job.info["dataset"]["folder"]
    out = tmp_path / "vis"
    done = cli("infer", "--job", tiny_job.path, "--visualize", str(out),
               os.path.join(folder, "val_test_same_class_1.png"))
    assert done.returncode == 0, done.stderr
    assert {"blobs", "stats.json", "stats.png", "filters_conv1_left.png",
            "inference.json"} <= set(os.listdir(out))
    again = cli("infer", "--job", tiny_job.path, "--visualize", str(out),
                os.path.join(folder, "val_test_same_class_1.png"))
    assert "already exists (use --force" in again.error_line("infer")


def test_infer_bad_input_is_one_line(cli, cli_process, tiny_job, tmp_path):
    wide = tmp_path / "wide.png"
    Image.fromarray(np.zeros((28, 40), np.uint8)).save(wide)
    process = cli_process("infer", "--job", tiny_job.path, wide,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    line = process.error_line("infer")             # the whole stderr of the process
    assert f"{wide}: image is 40x28 pixels" in line
    bare = tmp_path / "bare"
    shutil.copytree(tiny_job.path, bare, ignore=shutil.ignore_patterns("snapshot_iter_*"))
    line = cli("infer", "--job", str(bare), str(wide)).error_line("infer")
    assert "the job has no snapshot yet" in line
    line = cli("infer", "--job", str(tmp_path), str(wide)).error_line("infer")
    assert "not a training job" in line


def test_infer_many_skips_missing_files_or_fails_with_strict(cli, tiny_job, digit_pngs, tmp_path):
    folder, list_path, entries = digit_pngs
    listing = tmp_path / "list.txt"
    listing.write_text(open(list_path).read() + "gone.png 4\n")
    out = tmp_path / "out" / "preds.csv"
    done = cli("infer-many", "--job", tiny_job.path, str(listing), "--image-folder", folder,
               "-o", str(out), "--batch-size", "7")
    assert done.returncode == 0, done.stderr
    assert "20 of 21 images inferred, 1 skipped" in done.stdout
    assert f"warning: {listing}:21: skipped" in done.stderr
    with open(tmp_path / "out" / "preds.json") as f:
        outputs = json.load(f)["outputs"]
    assert len(outputs) == 20 and outputs[entries[3][0]]["feat_left"] == \
        outputs[entries[3][0]]["feat_right"]
    strict = cli("infer-many", "--job", tiny_job.path, str(listing), "--image-folder", folder,
                 "-o", str(tmp_path / "strict.csv"), "--strict")
    assert f"{listing}:21: " in strict.error_line("infer-many")
    assert not os.path.exists(tmp_path / "strict.csv")


def test_plot_clusters_from_the_infer_many_script_output(cli, tiny_job, digit_pngs, tmp_path):
    _, list_path, _ = digit_pngs
    csv_path = tmp_path / "p.csv"
    script = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "infer_many.py"),
                             "--job", tiny_job.path, list_path, "-o", str(csv_path)],
                            cwd=tmp_path, capture_output=True, text=True)
    assert script.returncode == 0 and "20 of 20 images inferred" in script.stdout, script.stderr
    done = cli("plot-clusters", str(csv_path), "-o", str(tmp_path / "c.png"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{tmp_path / 'c.png'}: 20 points, classes " \
                                  "0, 1, 2, 3, 4, 5, 6, 7, 8, 9"
    with Image.open(tmp_path / "c.png") as picture:
        assert picture.format == "PNG"
    done = cli("plot-clusters", str(tmp_path / "p.json"), "-o", str(tmp_path / "j.png"))
    assert done.returncode == 0 and "20 points, no labels" in done.stdout


def test_evaluate_writes_the_report_into_the_job(cli, tiny_job, tmp_path):
    job = tmp_path / "job"
    shutil.copytree(tiny_job.path, job)
    done = cli("evaluate", "--job", str(job), "--snapshot", "20", "-k", "3")
    assert done.returncode == 0, done.stderr
    report_dir = job / "evaluation_iter_20"
    assert done.stdout.strip().endswith(f"report: {report_dir / 'report.md'}")
    with open(report_dir / "report.json") as f:
        report = json.load(f)
    assert report["snapshot"] == 20 and report["images"]["k"] == 3
    assert f"{100 * report['images']['knn_accuracy']:.2f} %" in done.stdout
    again = cli("evaluate", "--job", str(job), "--snapshot", "20")
    assert "already exists" in again.error_line("evaluate")
