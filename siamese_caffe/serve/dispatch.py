"""Which request thread takes a request: one at a time, another only when one waits.

pycaffe and the interpreter hold the GIL, so a server process computes one request at a
time whatever its thread count. Waitress's own dispatcher still wakes a sleeping thread
for every request that arrives, and with 8 clients its 4 threads hand the GIL between
them mid-request; each hand-over costs a wake-up and the next thread's caches. Measured
on 2 cores (`bench/serve.py`, 8 clients, infer_one): 260–330 requests/s with 4 threads
handing over, 380–444 with one thread taking the requests in turn.

`TurnDispatcher` keeps that one-at-a-time order without making a long request (an
infer_many of thousands of images, an infer_db over a validation set) hold everyone up:

- a thread that finishes a request takes the next queued one straight away;
- a sleeping thread is woken for a request only when no thread is serving one;
- when the request a thread took last has run `help_after_s` (settings.HELP_AFTER_S)
  and requests are queued, an idle thread takes the next one; the others stay asleep.

The rule looks at how long the running request has taken, not at how long the queue
is: requests queued behind many short ones (8 clients at full speed) do not bring in
more threads, which would slow every one; a long request does, after help_after_s.
So short requests go through one warm thread, and /healthz still answers within about
`help_after_s` of arriving while a long request runs. Waitress's stop and shutdown
(set_thread_count, shutdown) work as they do for its own dispatcher.
"""

import time

from waitress.task import ThreadedTaskDispatcher


class TurnDispatcher(ThreadedTaskDispatcher):
    """Waitress's thread pool, giving requests to one thread in turn (module docstring).
    help_after_s: seconds the request taken last may run, while others are queued,
    before an idle thread takes the next one."""

    def __init__(self, help_after_s):
        super().__init__()
        self.help_after_s = help_after_s
        self.serving = 0                      # threads inside task.service()
        self.last_start = time.monotonic()    # when the request taken last was taken
        self.watching = False                 # an idle thread waits, timed, to help

    def add_task(self, task):
        with self.lock:
            self.queue.append(task)
            self._wake_one()

    def _wake_one(self):
        """Wake an idle thread (the lock held) when the queue needs one: to take a
        request now, or to watch, timed, for the running one to take too long."""
        if self.queue and (self.help_after_s == 0 or self.serving == 0 or not self.watching):
            self.queue_cv.notify()

    def handler_thread(self, thread_no):
        task = None
        while True:
            with self.lock:
                if task is not None:
                    self.serving -= 1
                task = self._next_task(awake=task is not None)
                if task is None:
                    self._stop_thread(thread_no)
                    return
            try:
                task.service()
            except BaseException:
                self.logger.exception("Exception when servicing %r", task)

    def _next_task(self, awake):
        """The task this thread serves next (the lock held), sleeping until there is one
        for it; None when the thread is to stop. awake: it just served one (it takes any
        queued task), rather than woken up or just started."""
        while self.stop_count == 0:
            timeout = None
            if self.queue:
                now = time.monotonic()
                running = now - self.last_start
                if awake or self.serving == 0 or running >= self.help_after_s:
                    self.serving += 1
                    self.last_start = now
                    task = self.queue.popleft()
                    self._wake_one()
                    return task
                if not self.watching:
                    timeout = self.help_after_s - running
            self._sleep(timeout)
            awake = False
        return None

    def _sleep(self, timeout):
        """Wait to be woken (the lock held); with a timeout, as the one watching thread."""
        watch = timeout is not None
        self.watching = self.watching or watch
        self.active_count -= 1
        self.queue_cv.wait(timeout)
        self.active_count += 1
        if watch:
            self.watching = False

    def _stop_thread(self, thread_no):
        """Leave the pool (the lock held), as waitress's own threads do."""
        self.active_count -= 1
        self.stop_count -= 1
        self.threads.discard(thread_no)
        self.thread_exit_cv.notify()
