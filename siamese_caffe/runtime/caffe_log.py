"""Sending Caffe's own log (glog) to a job's caffe_output.log.

Caffe logs through glog straight to file descriptor 2. While training,
`caffe_output_to(path)` points descriptor 2 at the log file (appending) and
lowers glog's threshold to INFO, so the file reads like DIGITS'
caffe_output.log; the user keeps a stream on the real stderr for progress.
Both are restored on exit. glog's threshold is set through its exported
FLAGS_minloglevel (pycaffe's init_log can only be called once per process).
"""

import contextlib
import ctypes
import datetime
import os
import sys

from . import caffe_info

MINLOGLEVEL_SYMBOL = "_ZN3fLI17FLAGS_minloglevelE"   # fLI::FLAGS_minloglevel
INFO = 0


def glog_level_flag():
    """glog's FLAGS_minloglevel as a ctypes int in the loaded libglog, or None."""
    for lib in caffe_info.mapped_libraries():
        if os.path.basename(lib).startswith("libglog.so"):
            try:
                return ctypes.c_int32.in_dll(ctypes.CDLL(lib), MINLOGLEVEL_SYMBOL)
            except (OSError, ValueError):
                return None
    return None


@contextlib.contextmanager
def caffe_output_to(path, header=None):
    """Redirect fd 2 (Caffe's log, INFO and up) to `path`; yield a text stream on the old stderr.

    header: a line written to the log first (a timestamp is added).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    flag = glog_level_flag()
    old_level = flag.value if flag is not None else None
    user_stderr = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        if header:
            os.write(log_fd, f"# {datetime.datetime.now():%Y-%m-%d %H:%M:%S} {header}\n".encode())
        os.dup2(log_fd, 2)
        if flag is not None:
            flag.value = INFO
        yield user_stderr
    finally:
        sys.stderr.flush()
        if flag is not None:
            flag.value = old_level
        os.dup2(saved, 2)
        os.close(saved)
        os.close(log_fd)
        user_stderr.close()
