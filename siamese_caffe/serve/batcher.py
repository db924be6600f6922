"""Micro-batching: single-item requests that arrive together run as one batch.

    batcher = MicroBatcher(run_batch, max_batch=8, max_wait=0.002)
    result = batcher.submit(item)        # from any number of request threads at once

`run_batch(items)` takes a list of 1..max_batch items and returns one result per
item, in order (for the server: N decoded pairs through one forward pass). There is
no thread of its own: the first waiting caller becomes the leader, takes what is
queued (up to max_batch), runs it and hands every caller its own result; requests
that arrive meanwhile form the next batch. An idle batcher runs a lone request at
once; only while requests keep coming (the last batch held more than one) does the
leader wait, at most max_wait seconds, for the batch to fill. An exception raised by
run_batch reaches every caller of that batch.

Free of Flask and Caffe: the batching policy alone, testable with any callable.
"""

import threading
import time

DEFAULT_MAX_BATCH = 8          # requests per forward pass at most
DEFAULT_MAX_WAIT = 0.002       # seconds a leader may wait for more, under load only


class _Request:
    """One submitted item and, once its batch ran, its result or the batch's error."""

    __slots__ = ("item", "done", "result", "error")

    def __init__(self, item):
        self.item = item
        self.done = False
        self.result = None
        self.error = None


class MicroBatcher:
    """Runs concurrent `submit` calls in batches of at most max_batch through run_batch.

    max_wait: seconds (≥ 0) a batch may wait to fill, counted from when its leader
    starts; 0 batches only what queued up while the previous batch ran.
    """

    def __init__(self, run_batch, max_batch=DEFAULT_MAX_BATCH, max_wait=DEFAULT_MAX_WAIT):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        if max_wait < 0:
            raise ValueError(f"max_wait must be at least 0 seconds, not {max_wait}")
        self.run_batch = run_batch
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait)
        self._cond = threading.Condition()
        self._queue = []            # _Request, oldest first
        self._running = False       # a leader is running a batch
        self._loaded = False        # the last batch held more than one request
        self.submitted = 0          # requests queued so far
        self.batches = 0            # batches run, and the requests in them (for reports)
        self.requests = 0

    def submit(self, item):
        """The result run_batch gives `item` (blocks until its batch has run)."""
        request = _Request(item)
        with self._cond:
            self._queue.append(request)
            self.submitted += 1
            self._cond.notify_all()
            while not request.done:
                if not self._running and self._queue and self._queue[0] is request:
                    self._lead()
                else:
                    self._cond.wait()
        if request.error is not None:
            raise request.error
        return request.result

    def _lead(self):
        """Take a batch off the queue, run it without the lock, hand out the results
        (called with the lock held; returns with it held)."""
        self._running = True
        try:
            self._fill()
            batch = self._queue[:self.max_batch]
            del self._queue[:len(batch)]
            self._cond.release()
            try:
                self._run(batch)
            finally:
                self._cond.acquire()
            self._loaded = len(batch) > 1
            self.batches += 1
            self.requests += len(batch)
        finally:
            self._running = False
            self._cond.notify_all()

    def _fill(self):
        """Under load, wait up to max_wait for the queue to reach max_batch (lock held)."""
        if not self._loaded or self.max_wait <= 0:
            return
        deadline = time.monotonic() + self.max_wait
        while len(self._queue) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._cond.wait(left)

    def _run(self, batch):
        """run_batch over the batch's items; each request gets its result or the error."""
        try:
            results = list(self.run_batch([request.item for request in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"run_batch gave {len(results)} results for "
                                   f"{len(batch)} items")
        except BaseException as err:     # every caller of the batch is told, none hangs
            for request in batch:
                request.error, request.done = err, True
            return
        for request, result in zip(batch, results):
            request.result, request.done = result, True
