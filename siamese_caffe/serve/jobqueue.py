"""The server's job queue: work runs in child processes, one at a time per lane.

A lane is a device ("cpu", "gpu:0", ...) for training, or "datasets" for dataset
builds. Training runs `python -m siamese_caffe.cli train --resume JOB_FOLDER
--no-progress`: the very code `siamese-caffe train` runs (a job never trained
starts from scratch; an interrupted one continues from its last snapshot).
Aborting sends SIGTERM, which the training loop answers as it answers Ctrl-C:
it finishes the iteration, snapshots, records "interrupted" and exits 130.

The queue writes no files: a child's output is kept in memory (its last lines,
for the message of a child that dies without saying why) and logged. What a
task did is read from its folder afterwards (job.json, dataset_job.json) by
the `finished` callback each task carries.
"""

import collections
import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field

log = logging.getLogger("siamese_caffe.serve")

TAIL_LINES = 40
STOP_WAIT_S = 60     # how long shutdown waits for children to snapshot and exit
DATASETS_LANE = "datasets"


@dataclass
class Task:
    """One piece of work: `key` (the job id), the `lane` it runs in, the command,
    and `finished(returncode, tail_lines, aborted)` called after the child exits."""

    key: str
    lane: str
    argv: list
    finished: object = None
    started: object = None        # called (no arguments) once the child runs
    process: object = None
    tail: collections.deque = field(default_factory=lambda: collections.deque(maxlen=TAIL_LINES))
    aborted: bool = False


def train_argv(job_path):
    """The child command that trains (or resumes) the job at job_path."""
    return [sys.executable, "-m", "siamese_caffe.cli", "train", "--resume", job_path,
            "--no-progress"]


class JobQueue:
    """Lanes of waiting tasks, each served by one worker thread."""

    def __init__(self, env=None):
        self.env = env
        self._lock = threading.Condition()
        self._waiting = collections.defaultdict(collections.deque)   # lane -> Tasks
        self._running = {}                                           # lane -> Task
        self._workers = {}
        self._closing = False

    # ---- questions
    def state(self, key):
        """"waiting", "running" or None for the task `key`."""
        with self._lock:
            if any(task.key == key for task in self._running.values()):
                return "running"
            if any(task.key == key for lane in self._waiting.values() for task in lane):
                return "waiting"
        return None

    def busy(self):
        """Whether anything waits or runs."""
        with self._lock:
            return bool(self._running) or any(self._waiting.values())

    def lanes(self):
        """{lane: {"running": key or None, "waiting": [keys]}}."""
        with self._lock:
            names = set(self._waiting) | set(self._running)
            return {lane: {"running": getattr(self._running.get(lane), "key", None),
                           "waiting": [t.key for t in self._waiting.get(lane, ())]}
                    for lane in sorted(names)}

    # ---- changes
    def submit(self, task):
        """Queue `task` in its lane (False when the key is already queued or running)."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the server is stopping")
            if self._known(task.key):
                return False
            self._waiting[task.lane].append(task)
            if task.lane not in self._workers:
                worker = threading.Thread(target=self._serve_lane, args=(task.lane,),
                                          name=f"lane-{task.lane}", daemon=True)
                self._workers[task.lane] = worker
                worker.start()
            self._lock.notify_all()
            return True

    def abort(self, key):
        """Stop task `key`: a waiting one is dropped ("waiting"), a running one gets
        SIGTERM ("running"); None when the queue does not hold it."""
        with self._lock:
            for lane in self._waiting.values():
                for task in list(lane):
                    if task.key == key:
                        lane.remove(task)
                        return "waiting"
            for task in self._running.values():
                if task.key == key:
                    task.aborted = True
                    _signal(task.process, signal.SIGTERM)
                    return "running"
        return None

    def close(self, wait_s=STOP_WAIT_S):
        """Drop waiting tasks, SIGTERM running children and wait for them to exit."""
        with self._lock:
            self._closing = True
            self._waiting.clear()
            running = list(self._running.values())
            for task in running:
                task.aborted = True
                _signal(task.process, signal.SIGTERM)
            self._lock.notify_all()
        for task in running:
            try:
                task.process.wait(wait_s)
            except subprocess.TimeoutExpired:
                _signal(task.process, signal.SIGKILL)
        for worker in list(self._workers.values()):
            worker.join(wait_s)

    # ---- the workers
    def _known(self, key):
        return any(t.key == key for t in self._running.values()) or \
            any(t.key == key for lane in self._waiting.values() for t in lane)

    def _serve_lane(self, lane):
        while True:
            with self._lock:
                while not self._waiting[lane] and not self._closing:
                    self._lock.wait()
                if self._closing:
                    return
                task = self._waiting[lane].popleft()
                try:
                    task.process = subprocess.Popen(
                        task.argv, env=self.env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        errors="replace", start_new_session=True)
                except OSError as err:
                    log.error("cannot start %s: %s", task.key, err)
                    self._call_finished(task, -1)
                    continue
                self._running[lane] = task
            log.info("%s: started %s (pid %d)", lane, task.key, task.process.pid)
            if task.started is not None:
                try:
                    task.started()
                except Exception:   # a bug in a callback must not stop the lane
                    log.exception("starting %s", task.key)
            for line in task.process.stdout:
                task.tail.append(line.rstrip("\n"))
                log.info("[%s] %s", task.key, line.rstrip("\n"))
            code = task.process.wait()
            log.info("%s: %s exited with %d", lane, task.key, code)
            self._call_finished(task, code)
            with self._lock:
                self._running.pop(lane, None)
                self._lock.notify_all()

    def _call_finished(self, task, code):
        if task.finished is None:
            return
        try:
            task.finished(code, list(task.tail), task.aborted)
        except Exception:   # a bug in a callback must not stop the lane
            log.exception("after %s", task.key)


def _signal(process, signum):
    if process is not None and process.poll() is None:
        try:
            os.kill(process.pid, signum)
        except ProcessLookupError:
            pass
