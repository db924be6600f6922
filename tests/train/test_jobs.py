"""Job ids and the job loader later steps use."""

import datetime
import json
import os
import re

import pytest

from siamese_caffe.train import jobs
from siamese_caffe.errors import BadInputError


def test_job_ids_look_like_digits_ones():
    job_id = jobs.new_job_id(datetime.datetime(2015, 12, 3, 8, 27, 5))
    assert re.fullmatch(r"20151203-082705-[0-9a-f]{4}", job_id)
    assert len({jobs.new_job_id() for _ in range(20)}) > 1


def make_job(folder, iterations, with_state=()):
    os.makedirs(folder)
    with open(os.path.join(folder, "job.json"), "w") as f:
        json.dump({"job_id": "20200101-000000-abcd", "plan": {"iterations_per_epoch": 10},
                   "dataset": {"mean_file": "/data/train_mean.binaryproto",
                               "image_shape": [3, 28, 28]},
                   "network": {"feature_blobs": ["feat_left", "feat_right"], "margin": 1.0}}, f)
    for i in iterations:
        open(os.path.join(folder, f"snapshot_iter_{i}.caffemodel"), "w").close()
    for i in with_state:
        open(os.path.join(folder, f"snapshot_iter_{i}.solverstate"), "w").close()


def test_loader_lists_snapshots_by_iteration(tmp_path):
    folder = str(tmp_path / "jobs" / "20200101-000000-abcd")
    make_job(folder, [100, 20, 5], with_state=[5, 20])
    job = jobs.Job.load("20200101-000000-abcd", jobs_dir=str(tmp_path / "jobs"))
    assert [s.iteration for s in job.snapshots()] == [5, 20, 100]
    assert job.last_snapshot().iteration == 100
    assert job.last_snapshot(resumable=True).iteration == 20
    assert job.snapshot(20).epoch == 2.0
    assert job.snapshot(20).caffemodel_path == os.path.join(folder, "snapshot_iter_20.caffemodel")
    assert job.deploy_path == os.path.join(folder, "deploy.prototxt")
    assert job.mean_file == "/data/train_mean.binaryproto"
    assert job.image_shape == (3, 28, 28) and job.feature_blobs == ("feat_left", "feat_right")
    with pytest.raises(BadInputError, match=r"no snapshot at iteration 7 \(have: 5, 20, 100\)"):
        job.snapshot(7)


def test_save_records_the_snapshots(tmp_path):
    folder = str(tmp_path / "job")
    make_job(folder, [10], with_state=[10])
    job = jobs.Job.load(folder)
    job.save()
    with open(os.path.join(folder, "job.json")) as f:
        assert json.load(f)["snapshots"] == [{"iteration": 10, "epoch": 1.0,
                                               "caffemodel": "snapshot_iter_10.caffemodel",
                                               "solverstate": "snapshot_iter_10.solverstate"}]


def test_not_a_job(tmp_path):
    with pytest.raises(BadInputError, match="not a training job"):
        jobs.Job.load(str(tmp_path))
    with pytest.raises(BadInputError, match="no snapshot yet"):
        make_job(str(tmp_path / "empty"), [])
        jobs.Job.load(str(tmp_path / "empty")).last_snapshot()
