"""Turning Ctrl-C (SIGINT) and SIGTERM into a polite request to stop.

While `stop_requests()` is active, the first SIGINT or SIGTERM only sets
`request.requested`; the training loop sees it between two iterations,
snapshots and returns. A second Ctrl-C raises KeyboardInterrupt at once.
Outside the main thread (where Python cannot set signal handlers) nothing is
installed and the request is never set.

`sigterm_as_interrupt()` (installed by the command line for every command) makes
SIGTERM raise KeyboardInterrupt like Ctrl-C, so `finally` blocks run — a staging
folder is removed, a temporary file deleted — instead of the process vanishing.
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
