"""serve/dispatch.py: requests go to one thread in turn; a long one lets another thread in."""

import threading

from siamese_caffe.serve import dispatch

WAIT_S = 10      # a bound for waits that should end at once (never reached when it works)


class Task:
    """What waitress queues: service() (here: record the thread, maybe wait) and cancel()."""

    def __init__(self, log, name, hold=None):
        self.log, self.name, self.hold = log, name, hold
        self.started, self.done = threading.Event(), threading.Event()

    def service(self):
        self.log.append((self.name, threading.current_thread().name))
        self.started.set()
        if self.hold is not None:
            self.hold.wait(WAIT_S)
        self.done.set()

    def cancel(self):
        pass


def pool(help_after_s, threads=4):
    turns = dispatch.TurnDispatcher(help_after_s)
    turns.set_thread_count(threads)
    return turns


def test_queued_requests_are_served_in_turn_by_the_thread_that_is_serving():
    turns, log, release = pool(help_after_s=WAIT_S), [], threading.Event()
    first = Task(log, "first", hold=release)
    turns.add_task(first)
    assert first.started.wait(WAIT_S)
    queued = [Task(log, f"queued {k}") for k in range(10)]
    for task in queued:
        turns.add_task(task)
    release.set()
    assert all(task.done.wait(WAIT_S) for task in queued)
    assert [name for name, _ in log] == ["first"] + [f"queued {k}" for k in range(10)]
    assert len({thread for _, thread in log}) == 1     # no hand-over to a sleeping thread
    assert turns.shutdown()


def test_a_long_request_does_not_hold_the_others_up():
    turns, log, release = pool(help_after_s=0.05), [], threading.Event()
    long = Task(log, "long infer_many", hold=release)
    turns.add_task(long)
    assert long.started.wait(WAIT_S)
    quick = [Task(log, "healthz"), Task(log, "infer_one")]
    for task in quick:
        turns.add_task(task)
    assert all(task.done.wait(WAIT_S) for task in quick)
    assert not long.done.is_set()           # answered while the long one still ran
    release.set()
    assert long.done.wait(WAIT_S)
    assert turns.shutdown()


def test_without_turns_every_idle_thread_takes_one_at_once():
    """help_after_s 0 (serve --micro-batch above 1): requests run side by side, so
    concurrent ones can meet in a micro-batch."""
    turns, log = pool(help_after_s=0), []
    together = threading.Barrier(3, timeout=WAIT_S)

    class Meeting(Task):
        def service(self):
            together.wait()
            super().service()

    tasks = [Meeting(log, f"request {k}") for k in range(3)]
    for task in tasks:
        turns.add_task(task)
    assert all(task.done.wait(WAIT_S) for task in tasks)
    assert len({thread for _, thread in log}) == 3
    assert turns.shutdown()


def test_stopping_ends_every_thread():
    turns = pool(help_after_s=0.02, threads=3)
    done = Task([], "last")
    turns.add_task(done)
    assert done.done.wait(WAIT_S)
    assert turns.shutdown()
    assert turns.threads == set()
