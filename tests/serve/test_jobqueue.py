"""The job queue with stand-in children (sleeping Pythons): one task at a time per lane."""

import sys
import threading

import waiting
from siamese_caffe.serve import jobqueue


def sleeper(key, lane, seconds, done):
    return jobqueue.Task(key, lane, [sys.executable, "-c", f"import time; time.sleep({seconds})"],
                         lambda code, tail, aborted: done.append((key, code, aborted)))


def wait_for(predicate, timeout=60):
    waiting.until(predicate, "the queue", timeout)


def test_one_task_per_lane_and_lanes_side_by_side():
    queue, done = jobqueue.JobQueue(), []
    assert queue.submit(sleeper("a", "cpu", 30, done))
    assert queue.submit(sleeper("b", "cpu", 0, done))
    assert queue.submit(sleeper("g", "gpu:0", 0, done))
    assert not queue.submit(sleeper("a", "cpu", 0, done))          # already queued
    wait_for(lambda: queue.state("a") == "running")
    wait_for(lambda: ("g", 0, False) in done)                       # the other lane ran
    assert queue.state("b") == "waiting"
    assert queue.abort("b") == "waiting" and queue.state("b") is None
    assert queue.abort("a") == "running"
    wait_for(lambda: any(key == "a" for key, _, _ in done))
    assert [entry for entry in done if entry[0] == "a"] == [("a", -15, True)]
    assert queue.abort("a") is None and "b" not in [key for key, _, _ in done]
    queue.close()


def test_close_stops_running_children():
    queue, done = jobqueue.JobQueue(), []
    queue.submit(sleeper("long", "cpu", 60, done))
    wait_for(lambda: queue.state("long") == "running")
    stopper = threading.Thread(target=queue.close)
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive() and done and done[0][2] is True
