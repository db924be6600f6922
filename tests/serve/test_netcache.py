"""Nets a server keeps loaded: once per (job, snapshot), shared by threads, broken jobs refused."""

import os
import shutil
import threading

import pytest

from siamese_caffe.train import jobs
from siamese_caffe.serve import netcache


def test_a_net_is_loaded_once_per_job_and_snapshot(tiny_job):
    cache = netcache.NetCache(probe=False)
    last, first = tiny_job.snapshot(), tiny_job.snapshot(20)
    loaded = cache.get(tiny_job, last)
    assert cache.get(jobs.Job.load(tiny_job.path), last) is loaded   # a fresh Job object
    other = cache.get(tiny_job, first)
    assert other is not loaded and other.embedder.snapshot.iteration == 20
    assert len(cache) == 2


def test_threads_asking_at_once_share_one_load(tiny_job):
    cache = netcache.NetCache(probe=False)
    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(tiny_job,
                                                                   tiny_job.snapshot())))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(got) == 4 and all(item is got[0] for item in got)


def test_the_least_recently_used_net_is_dropped(tiny_job):
    cache = netcache.NetCache(max_nets=1, probe=False)
    first = cache.get(tiny_job, tiny_job.snapshot(20))
    cache.get(tiny_job, tiny_job.snapshot(40))
    assert len(cache) == 1
    assert cache.get(tiny_job, tiny_job.snapshot(20)) is not first   # loaded again


def test_weights_caffe_cannot_read_are_refused_without_crashing(tiny_job, tmp_path):
    copy = tmp_path / "job"
    shutil.copytree(tiny_job.path, copy)
    weights = copy / "snapshot_iter_40.caffemodel"
    weights.write_bytes(weights.read_bytes()[:100])
    job = jobs.Job.load(str(copy))
    cache = netcache.NetCache()
    with pytest.raises(netcache.JobNotLoadableError, match="cannot load its net") as err:
        cache.get(job, job.snapshot(40))
    assert "snapshot_iter_40.caffemodel" in str(err.value)      # Caffe's own fatal message
    assert len(cache) == 0
    shutil.copy(os.path.join(tiny_job.path, "snapshot_iter_40.caffemodel"), weights)
    assert cache.get(job, job.snapshot(40)).embedder.snapshot.iteration == 40   # retried


def test_running_holds_the_net(tiny_job):
    loaded = netcache.NetCache(probe=False).get(tiny_job, tiny_job.snapshot())
    with loaded.running() as embedder:
        assert embedder is loaded.embedder and loaded.lock.locked()
    assert not loaded.lock.locked()
