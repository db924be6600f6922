"""Turning Ctrl-C (SIGINT) and SIGTERM into a polite request to stop.

While `stop_requests()` is active, the first SIGINT or SIGTERM only sets
`request.requested`; the training loop sees it between two iterations,
snapshots and returns. A second Ctrl-C raises KeyboardInterrupt at once.
Outside the main thread (where Python cannot set signal handlers) nothing is
installed and the request is never set.

`sigterm_as_interrupt()` (installed by the command line for every command) makes
SIGTERM raise KeyboardInterrupt like Ctrl-C, so `finally` blocks run — a staging
folder is removed, a temporary file deleted — instead of the process vanishing.

`held()` keeps both signals from acting inside library code that would swallow
the KeyboardInterrupt: pycaffe's modules import caffe_pb2 under a bare `except:`,
so a SIGTERM landing there was printed as "Failed to include caffe_pb2" and lost
(the server's Abort then let the job train to the end). Inside the block a signal
is only noted; it is raised again, to whatever handler was there, when it ends.
"""

import contextlib
import signal
import threading


class StopRequest:
    """Whether (and by which signal) a stop was asked for."""

    def __init__(self):
        self.requested = False
        self.signal_name = None


class Terminated(KeyboardInterrupt):
    """KeyboardInterrupt raised by SIGTERM (see sigterm_as_interrupt)."""


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum, frame):
        raise Terminated()
    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def held():
    """Within the block SIGINT and SIGTERM are noted, not acted on; they act when it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted = []

    def note(signum, frame):
        noted.append(signum)
    previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(noted):
            signal.raise_signal(signum)


@contextlib.contextmanager
def stop_requests():
    """Install the handlers for the duration of the block; yields the StopRequest."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def handle(signum, frame):
        if request.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        request.requested = True
        request.signal_name = signal.Signals(signum).name

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
