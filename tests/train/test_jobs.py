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


def make_job(folder, iterations, with_state=(), recorded=None):
    """A job folder with empty snapshot files; job.json records `recorded` of them
    (default: all)."""
    os.makedirs(folder)
    recorded = iterations if recorded is None else recorded
    snapshots = [{"iteration": i, "epoch": i / 10, "caffemodel": f"snapshot_iter_{i}.caffemodel",
                  "solverstate": f"snapshot_iter_{i}.solverstate" if i in with_state else None}
                 for i in sorted(recorded)]
    with open(os.path.join(folder, "job.json"), "w") as f:
        json.dump({"job_id": "20200101-000000-abcd", "plan": {"iterations_per_epoch": 10},
                   "dataset": {"mean_file": "/data/train_mean.binaryproto",
                               "image_shape": [3, 28, 28]},
                   "network": {"feature_blobs": ["feat_left", "feat_right"], "margin": 1.0},
                   "snapshots": snapshots}, f)
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


def test_only_recorded_snapshots_count(tmp_path):
    # a snapshot cut short by a kill (or written by `caffe train`) is a file job.json
    # never recorded: no step takes it for the last snapshot
    folder = str(tmp_path / "job")
    make_job(folder, [10, 20], with_state=[10, 20], recorded=[10])
    job = jobs.Job.load(folder)
    assert [s.iteration for s in job.snapshots()] == [10]
    assert job.last_snapshot().iteration == 10
    os.remove(os.path.join(folder, "snapshot_iter_10.caffemodel"))
    with pytest.raises(BadInputError, match="no snapshot yet"):
        job.last_snapshot()
    assert job.newest_snapshot() is None


def test_the_newest_snapshot_is_the_newest_whose_model_is_there(tmp_path):
    """The last snapshot, looked up newest first: a record whose .caffemodel was deleted
    is passed over for the one before it, in whatever order job.json lists them."""
    folder = str(tmp_path / "job")
    make_job(folder, [30, 10, 20], with_state=[10])
    job = jobs.Job.load(folder)
    job.info["snapshots"].reverse()
    assert job.newest_snapshot().iteration == 30 == job.snapshots()[-1].iteration
    os.remove(os.path.join(folder, "snapshot_iter_30.caffemodel"))
    assert job.newest_snapshot().iteration == 20 == job.last_snapshot().iteration
    assert job.last_snapshot(resumable=True).iteration == 10


def test_save_keeps_the_records(tmp_path):
    folder = str(tmp_path / "job")
    make_job(folder, [10], with_state=[10])
    job = jobs.Job.load(folder)
    job.add_snapshot(jobs.Snapshot(20, 2.0, os.path.join(folder, "snapshot_iter_20.caffemodel"),
                                   None, {"snapshot_iter_20.caffemodel": {"bytes": 0}}))
    job.save()
    with open(os.path.join(folder, "job.json")) as f:
        records = json.load(f)["snapshots"]
    assert [r["iteration"] for r in records] == [10, 20]
    assert records[1]["files"] == {"snapshot_iter_20.caffemodel": {"bytes": 0}}


def test_damaged_job_json_is_one_error(tmp_path):
    folder = tmp_path / "job"
    make_job(str(folder), [10])
    (folder / "job.json").write_text('{"job_id": "x", "dataset": {"folder": "/d"}')
    with pytest.raises(BadInputError, match="job.json: unreadable"):
        jobs.Job.load(str(folder))
    (folder / "job.json").write_text('{"job_id": "x", "dataset": []}')
    with pytest.raises(BadInputError, match="'dataset' is not an object"):
        jobs.Job.load(str(folder))
    (folder / "job.json").write_text('{"job_id": "x"}')
    with pytest.raises(BadInputError, match=r"job.json: lacks network.margin"):
        jobs.Job.load(str(folder)).margin


def test_not_a_job(tmp_path):
    with pytest.raises(BadInputError, match="not a training job"):
        jobs.Job.load(str(tmp_path))
    with pytest.raises(BadInputError, match="no snapshot yet"):
        make_job(str(tmp_path / "empty"), [])
        jobs.Job.load(str(tmp_path / "empty")).last_snapshot()


def test_snapshots_are_labelled_for_people_with_rounded_epochs(tmp_path):
    folder = str(tmp_path / "job")
    make_job(folder, [17, 20, 1])
    with open(os.path.join(folder, "job.json")) as f:
        info = json.load(f)
    info["plan"]["iterations_per_epoch"] = 47              # 17 / 47 = 0.3617021276595745
    with open(os.path.join(folder, "job.json"), "w") as f:
        json.dump(info, f)
    labels = [s.label for s in jobs.Job.load(folder).snapshots()]
    assert labels == ["epoch 0.02 (iteration 1)", "epoch 0.36 (iteration 17)",
                      "epoch 0.43 (iteration 20)"]
    assert [jobs.epoch_text(e) for e in (2.0, 0.004, 0, 12.5)] == ["2", "0.004", "0", "12.5"]
