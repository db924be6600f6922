"""`infer-db`: Test a DB — each pair of a pair LMDB, its distance, verdict and the accuracy."""

import json
import os
import shutil

import lmdb
import numpy as np
import pytest
from PIL import Image

from siamese_caffe.runtime import prototxt


def first_record(image_db):
    """(key, (3, H, W) uint8 pair) of an image LMDB's first record."""
    with lmdb.open(image_db, readonly=True, lock=False) as env, env.begin() as txn:
        key, raw = next(iter(txn.cursor()))
        datum = prototxt.caffe_pb2().Datum.FromString(raw)
    return key.decode(), np.frombuffer(datum.data, np.uint8).reshape(3, datum.height,
                                                                     datum.width)


def test_infer_db_with_labels_gives_each_pair_and_the_accuracy(cli, tiny_job, tmp_path):
    folder = tiny_job.info["dataset"]["folder"]
    images, labels = os.path.join(folder, "val_images"), os.path.join(folder, "val_labels")
    done = cli("infer-db", "--job", tiny_job.path, images, "--labels", labels, "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    with open(os.path.join(folder, "dataset.json")) as f:
        manifest = json.load(f)
    pairs = answer["pairs"]
    assert answer["count"] == len(pairs) == manifest["val"]["pairs"] == 96
    assert sum(p["label"] == "same" for p in pairs) == round(
        96 * manifest["val"]["positive_fraction"])
    assert all((p["distance"] < 0.5) == (p["verdict"] == "same") for p in pairs)
    assert answer["accuracy"] == pytest.approx(np.mean([p["correct"] for p in pairs]))
    assert 0.5 < answer["accuracy"] <= 1.0           # 40 iterations already tell pairs apart
    # the first record, written out as a pair picture, gets the same distance from `infer`
    key, pair = first_record(images)
    picture = tmp_path / "pair.png"
    Image.fromarray(np.stack([pair[2], pair[1], pair[0]], axis=-1), "RGB").save(picture)
    one = json.loads(cli("infer", "--job", tiny_job.path, "--json", picture).stdout)
    assert pairs[0]["key"] == key
    assert pairs[0]["distance"] == pytest.approx(one["results"][0]["distance"], abs=1e-5)


def test_infer_db_without_labels_and_with_digits_outputs(cli, tiny_job):
    folder = tiny_job.info["dataset"]["folder"]
    images = os.path.join(folder, "val_images")
    done = cli("infer-db", "--job", tiny_job.path, images, "--json", "--outputs",
               "--threshold", "100")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["accuracy"] is None and "label" not in answer["pairs"][0]
    assert answer["same"] == 96                       # everything is nearer than 100
    key = answer["pairs"][0]["key"]
    assert set(answer["outputs"][key]) == {"feat_left", "feat_right"}
    assert len(answer["outputs"][key]["feat_left"]) == 2
    text = cli("infer-db", "--job", tiny_job.path, images)
    last = text.stdout.splitlines()[-1]
    assert last.startswith("96 pairs, ") and last.endswith("called same (threshold 0.5)")
    assert len(text.stdout.splitlines()) == 97
    assert "accuracy" not in text.stdout


def test_infer_db_bad_databases_are_one_line(cli, tiny_job, tmp_path):
    folder = tiny_job.info["dataset"]["folder"]
    images = os.path.join(folder, "val_images")
    missing = cli("infer-db", "--job", tiny_job.path, str(tmp_path))
    assert f"{tmp_path}: missing LMDB (no data.mdb)" in missing.error_line("infer-db")
    other = cli("infer-db", "--job", tiny_job.path, images,
                "--labels", os.path.join(folder, "train_labels"))
    assert "label records for 96 pairs" in other.error_line("infer-db")
    cut = tmp_path / "cut_images"
    shutil.copytree(images, cut)
    data = cut / "data.mdb"
    data.write_bytes(data.read_bytes()[:len(data.read_bytes()) // 2])
    damaged = cli("infer-db", "--job", tiny_job.path, cut)
    assert f"{cut}: damaged" in damaged.error_line("infer-db")
