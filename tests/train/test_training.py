"""Training a job through pycaffe's solver, as `siamese-caffe train` does."""

import math
import os

import numpy as np
import pytest
from PIL import Image

from siamese_caffe.train import jobs, jobsetup, trainlog, training
from siamese_caffe.train.settings import TrainSettings
from siamese_caffe.runtime import prototxt

import netvariants


def settings(**overrides):
    # 10 iterations per epoch; a fixed rate, as the template's steps would slow 40 iterations
    values = dict(epochs=4, batch_size=32, seed=1, gpu="cpu", lr_policy="fixed")
    values.update(overrides)
    return TrainSettings(**values)


@pytest.fixture
def trained_job(tiny_job):
    """The suite's one trained job (conftest): 4 epochs of 10 iterations, a snapshot every
    second epoch."""
    return tiny_job


def val_rows(job):
    return [r for r in trainlog.read_rows(job.file("train_log")) if r["phase"] == "val"]


def test_job_folder_holds_everything_the_layout_promises(trained_job):
    for key in jobs.FILES:
        assert os.path.isfile(trained_job.file(key)), key
    assert [s.iteration for s in trained_job.snapshots()] == [20, 40]
    assert all(s.solverstate_path for s in trained_job.snapshots())
    assert trained_job.status == jobs.DONE and trained_job.iteration == 40
    assert [s["epoch"] for s in trained_job.snapshot_records] == [2.0, 4.0]
    assert trained_job.feature_dim == 2 and trained_job.margin == 1.0
    assert trained_job.image_shape == (3, 28, 28)
    for key in ("loss_plot", "network_plot"):
        with Image.open(trained_job.file(key)) as picture:
            assert picture.format == "PNG" and picture.width > 300


def test_train_log_has_display_rows_and_one_validation_per_epoch(trained_job):
    rows = trainlog.read_rows(trained_job.file("train_log"))
    assert [r["iteration"] for r in rows if r["phase"] == "train"] == list(range(1, 41))
    assert [(r["iteration"], r["epoch"]) for r in val_rows(trained_job)] == \
        [(0, 0.0), (10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)]
    assert all(math.isfinite(r["loss"]) for r in rows)
    assert rows[1]["learning_rate"] == pytest.approx(0.01)


def test_caffe_output_log_is_caffes_own(trained_job):
    with open(trained_job.file("caffe_log")) as f:
        log = f.read()
    assert "Solver scaffolding done" in log
    assert "Iteration 39" in log and "_iter_40.solverstate" in log


def test_learning_brings_same_class_pairs_closer_than_different_ones(trained_job):
    first, last = val_rows(trained_job)[0], val_rows(trained_job)[-1]
    assert last["loss"] < 0.6 * first["loss"]
    assert last["different_distance"] / last["same_distance"] > \
        1.3 * first["different_distance"] / first["same_distance"]


def held_out_distances(caffe, job, count=96):
    """Distances the deploy net + last snapshot give for the validation pairs, and their labels."""
    import lmdb

    net = caffe.Net(job.deploy_path, caffe.TEST, weights=job.last_snapshot().caffemodel_path)
    blob = caffe.proto.caffe_pb2.BlobProto.FromString(open(job.mean_file, "rb").read())
    mean = caffe.io.blobproto_to_array(blob)[0]
    folder = job.dataset_folder
    distances, labels = [], []
    with lmdb.open(os.path.join(folder, "val_images"), readonly=True, lock=False) as images, \
            lmdb.open(os.path.join(folder, "val_labels"), readonly=True, lock=False) as label_db, \
            images.begin() as txn, label_db.begin() as label_txn:
        for key, raw in txn.cursor():
            datum = caffe.proto.caffe_pb2.Datum.FromString(raw)
            pair = np.frombuffer(datum.data, np.uint8).reshape(3, 28, 28).astype(np.float32)
            net.blobs["data"].data[0] = pair - mean
            out = net.forward()
            distances.append(np.linalg.norm(out["feat_left"][0] - out["feat_right"][0]))
            labels.append(caffe.proto.caffe_pb2.Datum.FromString(label_txn.get(key)).float_data[0])
    return np.array(distances), np.array(labels) > 0.5


def test_deploy_net_maps_held_out_same_class_pairs_closer(caffe, trained_job):
    distances, same = held_out_distances(caffe, trained_job)
    assert distances[same].mean() < 0.8 * distances[~same].mean()
    last = val_rows(trained_job)[-1]    # the training loop measured the same pairs
    assert distances[same].mean() == pytest.approx(last["same_distance"], rel=1e-3)


def test_generated_prototxts_load_in_caffe(caffe, trained_job):
    weights = trained_job.last_snapshot().caffemodel_path
    for path, phase, stages in ((trained_job.train_val_path, caffe.TRAIN, ["train"]),
                                (trained_job.train_val_path, caffe.TEST, ["val"]),
                                (trained_job.deploy_path, caffe.TEST, [])):
        net = caffe.Net(path, phase, stages=stages, weights=weights)
        assert "feat_left" in net.blobs
    param = prototxt.read_solver(trained_job.solver_path)
    assert param.max_iter == 40 and param.snapshot == 20 and param.random_seed == 1


def test_loss_going_to_nan_stops_and_keeps_the_last_good_snapshot(caffe, small_pair_db, tmp_path):
    job = jobsetup.create_job(small_pair_db, settings=settings(base_lr=1000.0,
                                                               snapshot_interval=0.1),
                              jobs_dir=str(tmp_path))
    with pytest.raises(training.TrainingStoppedError) as err:
        training.train_job(job, progress=False, out=open(os.devnull, "w"))
    job = jobs.Job.load(job.path)
    assert job.info["status"] == "diverged"
    assert "NaN or infinite" in str(err.value) and "lower --base-lr" in str(err.value)
    last = job.last_snapshot()
    assert f"last good snapshot is {os.path.basename(last.caffemodel_path)}" in str(err.value)
    net = caffe.Net(job.deploy_path, caffe.TEST, weights=last.caffemodel_path)
    assert all(np.isfinite(b.data).all() for blobs in net.params.values() for b in blobs)


def test_three_d_features_with_margin_two_train_and_deploy(caffe, small_pair_db, tmp_path,
                                                           network_text):
    network = tmp_path / "siamese3d.prototxt"
    network.write_text(netvariants.features(network_text, 3, 2))
    job = jobsetup.create_job(small_pair_db, str(network), settings(epochs=1),
                              jobs_dir=str(tmp_path / "jobs"))
    training.train_job(job, progress=False, out=open(os.devnull, "w"))
    job = jobs.Job.load(job.path)
    assert job.info["network"]["feature_dim"] == 3 and job.margin == 2.0
    with open(job.file("original")) as f:
        assert f.read() == network.read_text()
    net = caffe.Net(job.deploy_path, caffe.TEST, weights=job.last_snapshot().caffemodel_path)
    out = net.forward()
    assert out["feat_left"].shape == (1, 3) and out["feat_right"].shape == (1, 3)


def test_extra_layers_16d_features_and_adam_train_without_code_changes(small_pair_db, tmp_path,
                                                                        network_text):
    network = tmp_path / "deeper.prototxt"
    network.write_text(netvariants.features(netvariants.extra_layers(network_text), 16, 1))
    job = jobsetup.create_job(small_pair_db, str(network),
                              settings(epochs=1, solver_type="Adam", base_lr=0.001),
                              jobs_dir=str(tmp_path / "jobs"))
    assert training.train_job(job, progress=False, out=open(os.devnull, "w")) == training.DONE
    job = jobs.Job.load(job.path)
    assert job.info["network"]["feature_dim"] == 16
    assert ["ip3_left", "ip3_right"] in job.info["network"]["shared_layers"]
    assert prototxt.read_solver(job.solver_path).type == "Adam"
    assert len(val_rows(job)) == 2 and math.isfinite(val_rows(job)[-1]["loss"])
