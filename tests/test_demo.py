"""The main job end to end, on a very short schedule (the real one takes minutes)."""

import json
import os
import subprocess
import sys

import pytest

from siamese_caffe import demo, demo_settings
from siamese_caffe.errors import BadInputError
from siamese_caffe.runtime import staging

from project_paths import ROOT

SHORT = ["--pairs", "320", "--epochs", "1", "--gpu", "cpu"]   # 5 iterations of 64 pairs


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo") / "out"
    done = subprocess.run([sys.executable, "-m", "siamese_caffe.cli", "demo", "--workdir",
                           str(workdir), *SHORT], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    return workdir, done.stdout


def test_every_step_runs_and_the_report_is_named_last(finished):
    workdir, stdout = finished
    for number, step in enumerate(["prepare-mnist", "create-db", "train", "infer",
                                   "infer-many", "plot-clusters", "evaluate"], start=1):
        assert f"[{number}/7] {step}" in stdout
    assert stdout.strip().splitlines()[-1] == f"report: {workdir / 'report' / 'report.md'}"
    assert {"mnist", "siamesedb", "jobs", "predictions.csv", "predictions.json",
            "clusters.png", "report", "demo.json"} <= set(os.listdir(workdir))


def test_held_out_digits_stay_out_of_training(finished):
    workdir, _ = finished
    with open(workdir / "siamesedb" / "dataset.json") as f:
        manifest = json.load(f)
    assert manifest["train"]["images"] == 4500 and manifest["val"]["images"] == 500
    assert manifest["source"]["val"] == f"list: {workdir / 'mnist' / 'val.txt'}"
    with open(workdir / "report" / "report.json") as f:
        images = json.load(f)["images"]
    assert images["query_images"] == 500 and images["reference_images"] == 4500
    assert images["evaluated"] == f"list: {workdir / 'mnist' / 'val.txt'}"


def test_summary_records_settings_timings_and_figures(finished):
    workdir, _ = finished
    with open(workdir / "demo.json") as f:
        summary = json.load(f)
    assert summary["status"] == "done" and summary["settings"]["pairs"] == 320
    assert set(summary["step_seconds"]) == {"prepare-mnist", "create-db", "train", "infer",
                                            "infer-many", "plot-clusters", "evaluate"}
    tests = summary["test_images"]
    assert tests["grayscale_digit"]["left"] == tests["grayscale_digit"]["right"]
    assert tests["same_class"]["image"].endswith("val_test_same_class_0.png")
    counts = tests["held_out_test_pairs"]
    assert len(counts["distances"]["different_class"]) == 10
    assert counts["different_class_above_margin"] == sum(
        d > 1 for d in counts["distances"]["different_class"])
    assert counts["distances"]["same_class"][0] == round(tests["same_class"]["distance"], 4)
    assert 0 <= summary["knn_accuracy"] <= 1 and 0.5 <= summary["best_pair_accuracy"] <= 1


def test_a_previous_demo_folder_is_replaced_but_not_other_folders(tmp_path):
    previous = tmp_path / "old"
    demo.prepare_workdir(str(previous))
    (previous / "mnist").mkdir()
    staging.write_marker(str(previous), demo.KIND)     # what a finished run records
    demo.prepare_workdir(str(previous))
    assert sorted(os.listdir(previous)) == [staging.MARKER, demo.MARKER]
    (previous / "mine.txt").write_text("x")
    with pytest.raises(BadInputError, match="holds mine.txt"):
        demo.prepare_workdir(str(previous))
    other = tmp_path / "mine"
    other.mkdir()
    (other / demo.MARKER).write_text("{}")        # a demo.json alone is not the tool's mark
    with pytest.raises(BadInputError, match="did not make"):
        demo.prepare_workdir(str(other))
    assert os.listdir(other) == [demo.MARKER]


def test_full_is_digits_recipe():
    full = demo_settings.settings_for(full=True)
    assert (full.pairs, full.epochs, full.positive_fraction) == (100000, 30.0, None)
    assert (full.solver_type, full.base_lr, full.lr_policy, full.lr_steps) == \
        ("SGD", 0.01, "step", (33.0,))
    assert demo_settings.settings_for(full=True, idx_folder="m", source="idx").source == "idx"
    assert demo_settings.settings_for(epochs=None).epochs == demo_settings.DemoSettings().epochs


def test_idx_files_replace_the_built_in_digits(tmp_path):
    """--idx-folder: train-* become train.txt and t10k-* the held-out val.txt."""
    import io

    from siamese_caffe.data import image_sources, mnist_idx

    digits = image_sources.builtin_mnist()
    idx = tmp_path / "idx"
    idx.mkdir()
    for part, chosen in (("train", slice(0, 300)), ("t10k", slice(4900, 5000))):
        mnist_idx.write_idx(str(idx / f"{part}-images-idx3-ubyte.gz"), digits.images[chosen])
        mnist_idx.write_idx(str(idx / f"{part}-labels-idx1-ubyte.gz"),
                            digits.labels[chosen].astype("uint8"))
    settings = demo_settings.settings_for(source="idx", idx_folder=str(idx))
    workdir = tmp_path / "out"
    workdir.mkdir()
    demo.Demo(settings, str(workdir), io.StringIO()).prepare()
    with open(workdir / "mnist" / "train.txt") as f:
        assert len(f.readlines()) == 300
    with open(workdir / "mnist" / "val.txt") as f:
        lines = f.readlines()
    assert len(lines) == 100 and lines[0].split()[1] == str(digits.labels[4900])
