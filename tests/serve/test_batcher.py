"""Micro-batching of concurrent requests (serve/batcher.py): each caller gets its own
result, concurrent callers share batches, a batch's failure reaches all its callers."""

import threading

import pytest

from siamese_caffe.serve.batcher import MicroBatcher


class Recorder:
    """A run_batch that records its batches and may hold the first one until released."""

    def __init__(self, hold_first=False):
        self.batches = []
        self.started = threading.Event()
        self.release = threading.Event()
        if not hold_first:
            self.release.set()

    def __call__(self, items):
        self.batches.append(list(items))
        self.started.set()
        self.release.wait(30)
        return [item * 10 for item in items]


def submit_all(batcher, items):
    """Submit each item from its own thread; {item: result or exception}."""
    got = {}

    def one(item):
        try:
            got[item] = batcher.submit(item)
        except Exception as err:      # recorded for the test to look at
            got[item] = err

    threads = [threading.Thread(target=one, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    return threads, got


def join(threads):
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()


def wait_queued(batcher, count):
    """Until `count` requests wait in the batcher's queue."""
    with batcher._cond:
        assert batcher._cond.wait_for(lambda: len(batcher._queue) >= count, 30)


def test_a_lone_request_runs_at_once_as_a_batch_of_one():
    run = Recorder()
    batcher = MicroBatcher(run, max_batch=8, max_wait=60)
    assert batcher.submit(3) == 30
    assert batcher.submit(4) == 40
    assert run.batches == [[3], [4]]


def test_requests_arriving_during_a_batch_run_together_as_the_next_one():
    run = Recorder(hold_first=True)
    batcher = MicroBatcher(run, max_batch=8, max_wait=0)
    first, got = submit_all(batcher, [0])
    assert run.started.wait(30)
    others, more = submit_all(batcher, [1, 2, 3, 4, 5])
    wait_queued(batcher, 5)
    run.release.set()
    join(first + others)
    got.update(more)
    assert got == {k: 10 * k for k in range(6)}
    assert run.batches[0] == [0] and sorted(run.batches[1]) == [1, 2, 3, 4, 5]
    assert (batcher.batches, batcher.requests) == (2, 6)


def test_a_batch_never_exceeds_max_batch():
    run = Recorder(hold_first=True)
    batcher = MicroBatcher(run, max_batch=3, max_wait=0)
    first, got = submit_all(batcher, [0])
    assert run.started.wait(30)
    others, more = submit_all(batcher, list(range(1, 8)))
    wait_queued(batcher, 7)
    run.release.set()
    join(first + others)
    got.update(more)
    assert got == {k: 10 * k for k in range(8)}
    assert [len(b) for b in run.batches] == [1, 3, 3, 1]


def test_under_load_the_leader_waits_for_the_batch_to_fill():
    run = Recorder(hold_first=True)
    batcher = MicroBatcher(run, max_batch=4, max_wait=60)
    first, _ = submit_all(batcher, [0])
    assert run.started.wait(30)
    second, _ = submit_all(batcher, [1, 2])
    wait_queued(batcher, 2)
    run.release.set()
    join(first + second)                 # batches [0], [1, 2]: the batcher is now loaded
    threads, got = submit_all(batcher, [5, 6, 7, 8])
    join(threads)
    assert got == {5: 50, 6: 60, 7: 70, 8: 80}
    assert sorted(run.batches[2]) == [5, 6, 7, 8]    # one batch, though they came one by one


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_runs():
    calls = []

    def run(items):
        calls.append(list(items))
        if len(calls) == 1:
            raise ValueError("bad image")
        return [item + 1 for item in items]

    batcher = MicroBatcher(run)
    with pytest.raises(ValueError, match="bad image"):
        batcher.submit(1)
    assert batcher.submit(2) == 3


def test_a_run_batch_giving_the_wrong_number_of_results_is_an_error():
    batcher = MicroBatcher(lambda items: [])
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        batcher.submit(1)


@pytest.mark.parametrize("kwargs, message", [({"max_batch": 0}, "max_batch"),
                                             ({"max_wait": -1}, "max_wait")])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MicroBatcher(lambda items: items, **kwargs)
