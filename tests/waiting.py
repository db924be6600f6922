"""Waiting for something another process does: one polling loop for the whole suite."""

import time


def until(condition, what, timeout=240, interval=0.05, process=None, explain=None):
    """condition()'s first truthy value, asked every `interval` seconds.

    AssertionError naming `what` when `timeout` seconds pass first, or when the
    subprocess.Popen `process` (if given) ends first; `explain()` adds to that message
    (e.g. what a page showed). A condition that raises counts as not yet.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process ended first ({process.communicate()})")
        try:
            found = condition()
        except Exception:   # noqa: BLE001 - a file half written, a page reloading
            found = None
        if found:
            return found
        time.sleep(interval)
    detail = f"\n{explain()}" if explain else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{detail}")
