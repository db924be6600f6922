"""Fixtures of the use-stage tests: copies of the tiny trained job (verify reads and
evaluate writes its job.json, so the suite's shared job is never changed)."""

import contextlib
import io
import shutil

import pytest

from siamese_caffe.train import jobs


@pytest.fixture
def job_copy(tiny_job, tmp_path):
    """A fresh copy of the tiny job (snapshots 20 and 40), never evaluated."""
    folder = tmp_path / "job"
    shutil.copytree(tiny_job.path, folder)
    return jobs.Job.load(str(folder))


@pytest.fixture(scope="module")
def evaluated_job(tiny_job, tmp_path_factory):
    """A copy of the tiny job whose last snapshot `siamese-caffe evaluate` measured."""
    from siamese_caffe import cli

    folder = tmp_path_factory.mktemp("evaluated") / "job"
    shutil.copytree(tiny_job.path, folder)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["evaluate", "--job", str(folder)]) == 0
    return jobs.Job.load(str(folder))
