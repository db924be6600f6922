"""Nets a server keeps loaded: once per (job, snapshot), shared by threads, broken jobs refused."""

import os
import shutil
import threading

import numpy as np
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


def _pairs(job, count):
    rng = np.random.default_rng(3)
    return [(rng.random(job.image_shape, dtype=np.float32) - 0.5) * 200 for _ in range(count)]


def test_without_micro_batching_embed_one_is_the_one_image_forward_pass(tiny_job):
    loaded = netcache.NetCache(probe=False).get(tiny_job, tiny_job.snapshot())
    assert loaded.batcher is None
    pair = _pairs(tiny_job, 1)[0]
    outputs, left, right = loaded.embed_one(pair)
    want_left, want_right = loaded.embedder.embed(pair[None])
    assert left.tobytes() == want_left.tobytes() and right.tobytes() == want_right.tobytes()
    assert set(outputs) == set(loaded.embedder.net.outputs)
    assert np.asarray(outputs[tiny_job.feature_blobs[0]], np.float32).tobytes() == \
        want_left.tobytes()


def test_concurrent_requests_share_forward_passes_and_each_gets_its_own_answer(tiny_job):
    loaded = netcache.NetCache(probe=False, micro_batch=8).get(tiny_job, tiny_job.snapshot())
    pairs = _pairs(tiny_job, 12)
    alone = [loaded.embedder.embed(pair[None]) for pair in pairs]
    got = _embed_concurrently(loaded, pairs)
    assert loaded.batcher.requests == 12 and loaded.batcher.batches < 12
    for (outputs, left, right), (want_left, want_right) in zip(got, alone):
        np.testing.assert_allclose(left, want_left, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(right, want_right, rtol=1e-5, atol=1e-6)
        assert np.asarray(outputs[tiny_job.feature_blobs[1]]).shape == want_right.shape


def _embed_concurrently(loaded, inputs, *args):
    """embed_one of every input from its own thread, all queued behind a busy net before
    any runs; their answers in input order."""
    got = [None] * len(inputs)
    with loaded.running():          # the requests queue up behind a busy net
        threads = [threading.Thread(target=lambda k=k: got.__setitem__(
            k, loaded.embed_one(inputs[k], *args))) for k in range(len(inputs))]
        for thread in threads:
            thread.start()
        with loaded.batcher._cond:
            assert loaded.batcher._cond.wait_for(
                lambda: loaded.batcher.submitted == len(inputs), 60)
    for thread in threads:
        thread.join(60)
    return got


def _digit_inputs(embedder, count):
    """Net inputs of built-in digits replicated into both branches (grayscale mean off)."""
    from siamese_caffe.data import image_sources
    from siamese_caffe.infer import pair_input

    digits = image_sources.builtin_mnist().images[:count]
    return [embedder.subtract_mean(pair_input.gray_to_pair(d), True) for d in digits]


def test_a_digit_alone_or_micro_batched_gets_the_whole_nets_numbers(tiny_job):
    """Digits run one branch alone, two to a pair in a micro-batch: both sides equal what
    the whole net gives each digit by itself."""
    plain = netcache.NetCache(probe=False).get(tiny_job, tiny_job.snapshot())
    batched = netcache.NetCache(probe=False, micro_batch=8).get(tiny_job, tiny_job.snapshot())
    inputs = _digit_inputs(plain.embedder, 9)
    whole = [plain.embedder.embed(x[None]) for x in inputs]
    for x, (want_left, want_right) in zip(inputs, whole):
        np.testing.assert_array_equal(want_left, want_right)
        outputs, left, right = plain.embed_one(x, True)
        np.testing.assert_allclose(left, want_left, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(right, want_right, rtol=1e-6, atol=1e-6)
        assert list(outputs) == list(plain.embedder.net.outputs)
        np.testing.assert_allclose(outputs[tiny_job.feature_blobs[1]], want_right, rtol=1e-6,
                                   atol=1e-6)
    got = _embed_concurrently(batched, inputs, True)
    assert batched.batcher.batches < 9
    for (outputs, left, right), (want_left, want_right) in zip(got, whole):
        np.testing.assert_allclose(left, want_left, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(right, want_right, rtol=1e-5, atol=1e-6)
