"""DIGITS' status words from this project's job states: the one mapping (serve/digits_api.py)."""

import os

import pytest

from siamese_caffe.serve import digits_api, registry
from siamese_caffe.train import jobs


class FakeJob:
    def __init__(self, status, pid=None):
        self.status, self.pid, self.info = status, pid, {}


@pytest.mark.parametrize("status, pid, queued, word", [
    (jobs.CREATED, None, None, "Initialized"),
    (jobs.CREATED, None, "waiting", "Waiting"),
    (jobs.CREATED, None, "running", "Running"),          # the child has not written yet
    (jobs.RUNNING, "self", None, "Running"),              # e.g. a `train` of its own
    (jobs.RUNNING, 2 ** 22 + 12345, None, "Aborted"),      # its process is gone
    (jobs.RUNNING, 2 ** 22 + 12345, "running", "Running"), # resumed, starting again
    (jobs.INTERRUPTED, None, None, "Aborted"),
    (jobs.INTERRUPTED, None, "waiting", "Waiting"),
    (jobs.DONE, None, None, "Done"),
    (jobs.FAILED, None, None, "Error"),
    (jobs.DIVERGED, None, None, "Error"),
])
def test_model_status_words(status, pid, queued, word):
    pid = os.getpid() if pid == "self" else pid
    assert digits_api.model_status(FakeJob(status, pid), queued) == word


class FakeDataset:
    def __init__(self, state, method="list"):
        self.state, self.method = state, method


@pytest.mark.parametrize("state, queued, word", [
    (registry.D_CREATED, None, "Initialized"), (registry.D_CREATED, "waiting", "Waiting"),
    (registry.D_CREATED, "running", "Running"), (registry.D_DONE, None, "Done"),
    (registry.D_FAILED, None, "Error"), (registry.D_RUNNING, None, "Error"),
])
def test_dataset_status_words(state, queued, word):
    assert digits_api.dataset_status(FakeDataset(state), queued) == word
