"""Training in a child process, so a trainer that dies of a signal is recorded at once.

Caffe aborts its process on a check the child probe did not foresee (SIGABRT), a
library can crash it (SIGSEGV, SIGBUS), and the system can kill it (SIGKILL). None of
these lets the dying process write job.json. `train_in_child(job, ...)` therefore
runs `training.train_job` in `python -m siamese_caffe.train.trainer_process` and
waits for it: when the child dies of a signal while the job is RUNNING, the job is
recorded FAILED at once, with the signal and Caffe's last error line from
caffe_output.log (jobs.death_message), and TrainerKilledError says the same in one line.

The child has a process group of its own, so a Ctrl-C on a terminal reaches only the
parent, which passes every SIGINT and SIGTERM on (one Ctrl-C: snapshot and stop; a
second: stop at once), as it does the server's Abort; and the child dies with its parent
(PR_SET_PDEATHSIG), so no trainer outlives the command that started it. The child prints its own errors, in
the command's words (errors.run_reported); its exit status is the command's.
"""

import json
import os
import signal
import subprocess
import sys
import threading

from .. import PROJECT_ROOT
from ..errors import SiameseCaffeError


class TrainerKilledError(SiameseCaffeError):
    """The training child died of a signal; the job is recorded FAILED with the reason."""

    exit_code = 1


def train_in_child(job, label, resume=False, gpu=None, progress=True):
    """Run training.train_job(job, resume, gpu, progress) in a child; its exit status
    (0 done, 1 diverged, 2 refused, 130 interrupted — the child printed why).
    label: the command's name for its error lines ("siamese-caffe train").
    Raises TrainerKilledError when the child died of a signal."""
    from . import jobs

    request = {"job": job.path, "label": label, "resume": resume, "gpu": gpu,
               "progress": progress}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen([sys.executable, "-m", __name__, json.dumps(request)], env=env,
                             process_group=0, preexec_fn=_die_with_parent)

    def pass_on(signum, frame):
        if child.poll() is None:
            child.send_signal(signum)
    main = threading.current_thread() is threading.main_thread()   # else: no handlers
    previous = {sig: signal.signal(sig, pass_on)
                for sig in (signal.SIGINT, signal.SIGTERM) if main}
    try:
        code = child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code >= 0:
        return code
    now = jobs.Job.load(job.path)
    if now.status == jobs.RUNNING:
        now.record(status=jobs.FAILED, pid=None, message=jobs.death_message(
            now, child.pid, -code))
        now.save()
        raise TrainerKilledError(now.message)
    raise TrainerKilledError(f"the training process was stopped by "
                             f"{jobs.signal_text(-code)} before training began")


def _die_with_parent():
    """In the child, before exec: SIGKILL when the parent dies (Linux prctl)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)          # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _main(request):
    """Child side: train the job; errors become one line under the command's label."""
    from ..errors import run_reported
    from . import jobs, training

    def train():
        job = jobs.Job.load(request["job"])
        status = training.train_job(job, resume=request["resume"], gpu=request["gpu"],
                                    progress=request["progress"])
        return 130 if status == training.INTERRUPTED else 0
    return run_reported(request["label"], train)


if __name__ == "__main__":
    sys.exit(_main(json.loads(sys.argv[1])))
