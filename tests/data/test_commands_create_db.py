"""`siamese-caffe create-db` and scripts/create_db.py as a user runs them, bad input included."""

import json
import os
import subprocess
import sys

import lmdb
import numpy as np
import PIL.Image
import pytest

import project_paths


ROOT = project_paths.ROOT


def write_digits_list(folder, count=12, classes=3, size=(8, 8), name="train.txt", absolute=False):
    """`count` random grayscale PNGs under folder/img/ and a DIGITS list naming them
    (relative to the list's folder, or absolute as in a DIGITS job's train.txt)."""
    rng = np.random.default_rng(count)
    (folder / "img").mkdir(exist_ok=True)
    lines = []
    for i in range(count):
        path = folder / "img" / f"digit {i}.png"   # a space in the name, as DIGITS allows
        PIL.Image.fromarray(rng.integers(0, 256, size=size[::-1], dtype=np.uint8)).save(path)
        lines.append(f"{path if absolute else f'img/digit {i}.png'} {i % classes}")
    (folder / name).write_text("\n".join(lines) + "\n")
    return folder / name


def assert_one_line_error(ran, *fragments):
    line = ran.error_line("create-db")
    for fragment in fragments:
        assert fragment in line


def leftovers(folder):
    return sorted(n for n in os.listdir(folder) if n not in ("img", "train.txt", "val.txt"))


def test_list_file_builds_a_dataset_with_disjoint_validation_images(tmp_path, cli):
    listing = write_digits_list(tmp_path, count=12)
    ran = cli("create-db", tmp_path / "db", listing, "-c", "7", "--val-count", "3", "--seed", "5")
    out = ran.stdout
    assert ran.returncode == 0 and "Found 12 images" in out and "train: 7 pairs" in out
    manifest = json.loads((tmp_path / "db" / "dataset.json").read_text())
    held = manifest["source"]["held_out"]["paths"]
    assert len(held) == 3 and all(p.endswith(".png") for p in held)  # one per class
    env = lmdb.open(str(tmp_path / "db" / "train_images"), readonly=True, lock=False)
    assert env.stat()["entries"] == 7


@pytest.mark.parametrize("count", [1, 5, 19])
def test_counts_under_twenty_work(tmp_path, cli, count):
    listing = write_digits_list(tmp_path)
    ran = cli("create-db", tmp_path / "db", listing, "-c", count, "--val-count", count)
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads((tmp_path / "db" / "dataset.json").read_text())
    assert manifest["train"]["pairs"] == manifest["val"]["pairs"] == count


def test_positive_fraction_gives_that_share_of_same_class_pairs(tmp_path, cli):
    listing = write_digits_list(tmp_path, count=30)
    ran = cli("create-db", tmp_path / "db", listing, "-c", 40, "--positive-fraction", 0.5,
                   "--val-count", 10, "--json")
    assert ran.returncode == 0, ran.stderr
    manifest = json.loads(ran.stdout)
    assert manifest["train"]["same_class_pairs"] == 20 and manifest["val"]["same_class_pairs"] == 5
    assert manifest["pairing"] == "balanced"


def test_colour_images_are_converted_to_grayscale_and_reported(tmp_path, cli):
    listing = write_digits_list(tmp_path)
    PIL.Image.new("RGB", (8, 8), (255, 0, 0)).save(tmp_path / "img" / "digit 4.png")
    ran = cli("create-db", tmp_path / "db", listing, "-c", 5, "--val-count", 5)
    assert ran.returncode == 0, ran.stderr
    assert "converted 1 colour image(s) to grayscale (first: " in ran.stdout
    assert "converted 1 colour image(s)" in json.loads(
        (tmp_path / "db" / "dataset.json").read_text())["notes"][0]


def break_missing(folder):
    os.remove(folder / "img" / "digit 3.png")
    return ["train.txt:4", "not found", "digit 3.png"]


def break_corrupt(folder):
    png = folder / "img" / "digit 2.png"
    png.write_bytes(png.read_bytes()[:40])
    return ["train.txt:3", "digit 2.png"]


def break_not_an_image(folder):
    (folder / "img" / "digit 2.png").write_text("hello")
    return ["train.txt:3", "cannot read image"]


def break_size(folder):
    PIL.Image.new("L", (9, 8)).save(folder / "img" / "digit 5.png")
    return ["train.txt:6", "9x8", "8x8"]


def break_16_bit(folder):
    PIL.Image.new("I;16", (8, 8)).save(folder / "img" / "digit 1.png")
    return ["train.txt:2", "16-bit"]


def break_label(folder):
    (folder / "train.txt").write_text("img/digit 0.png 0\nimg/digit 1.png one\n")
    return ["train.txt:2", "'one' is not an integer"]


def break_missing_label(folder):
    (folder / "train.txt").write_text("img/digit 0.png 0\n\nimg/digit1.png\n")
    return ["train.txt:3", "missing label"]


def break_empty(folder):
    (folder / "train.txt").write_text("\n\n")
    return ["train.txt", "empty"]


def break_one_class(folder):
    (folder / "train.txt").write_text("".join(f"img/digit {i}.png 4\n" for i in range(5)))
    return ["at least two classes", "only class 4"]


@pytest.mark.parametrize("breaker", [break_missing, break_corrupt, break_not_an_image, break_size,
                                     break_16_bit, break_label, break_missing_label, break_empty,
                                     break_one_class])
def test_bad_list_input_is_one_line_and_leaves_nothing(tmp_path, cli, breaker):
    listing = write_digits_list(tmp_path)
    fragments = breaker(tmp_path)
    ran = cli("create-db", tmp_path / "db", listing, "-c", 5)
    assert_one_line_error(ran, *fragments)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("argv,fragments", [
    (["-c", "0"], ["-c/--count", "whole number from 1", "got 0"]),
    (["-c", "-3"], ["-c/--count", "got -3"]),
    (["--val-count", "0"], ["--val-count"]),
    (["--positive-fraction", "1.5"], ["--positive-fraction"]),
    (["--seed", "-1"], ["--seed"]),
    (["--builtin", "--idx-folder", "x"], ["one image source"]),
])
def test_bad_options_are_one_line_and_leave_nothing(tmp_path, cli, argv, fragments):
    ran = cli("create-db", tmp_path / "db", *argv)
    assert_one_line_error(ran, *fragments)
    assert leftovers(tmp_path) == []


def test_existing_folder_is_refused_and_kept(tmp_path, cli):
    (tmp_path / "db").mkdir()
    ran = cli("create-db", tmp_path / "db", "-c", 5)
    assert_one_line_error(ran, "already exists", "--force")
    assert os.listdir(tmp_path / "db") == []


def test_digits_script_works_as_the_digits_readme_says(tmp_path):
    """`python scripts/create_db.py siamesedb train.txt -c N`, run from the list's folder."""
    write_digits_list(tmp_path, count=20, classes=4, absolute=True)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "create_db.py"),
                           "siamesedb", "train.txt", "-c", "30"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Will create 30 pairs of train images" in done.stdout
    names = set(os.listdir(tmp_path / "siamesedb"))
    assert {"train_images", "val_images", "train_mean.binaryproto", "val_mean.png",
            "val_test_same_class_0.png", "val_test_different_class_0.png"} <= names
    again = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "create_db.py"),
                            "siamesedb", "train.txt"], cwd=tmp_path, capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_validation_images_repeating_training_images_are_reported(tmp_path, cli):
    listing = write_digits_list(tmp_path)
    ran = cli("create-db", tmp_path / "db", listing, "--val-list", listing, "-c", 5, "--val-count", 5)
    assert ran.returncode == 0, ran.stderr
    assert "note: 12 validation image(s) have the same pixels as a training image" in (
        ran.stdout)
    manifest = json.loads((tmp_path / "db" / "dataset.json").read_text())
    assert manifest["source"]["validation"] == "separate set"
    assert manifest["source"]["validation_images_also_in_training"] == 12


def test_idx_folder_takes_validation_pairs_from_t10k(tmp_path, cli):
    from siamese_caffe.data import mnist_idx

    rng = np.random.default_rng(9)
    for part, n in (("train", 40), ("t10k", 10)):
        images_stem, labels_stem = mnist_idx.FILE_STEMS[part]
        mnist_idx.write_idx(str(tmp_path / (images_stem + ".gz")),
                            rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8))
        mnist_idx.write_idx(str(tmp_path / labels_stem), (np.arange(n) % 10).astype(np.uint8))
    ran = cli("create-db", tmp_path / "db", "--idx-folder", tmp_path, "-c", 9, "--val-count", 4)
    assert ran.returncode == 0, ran.stderr
    source = json.loads((tmp_path / "db" / "dataset.json").read_text())["source"]
    assert source["validation"] == "separate set" and "t10k-images-idx3-ubyte" in source["val"]
    assert source["validation_images_also_in_training"] == 0
