"""Test Many results kept in memory for their CSV / JSON download links (never on disk)."""

import collections
import secrets
import threading

RESULTS_KEPT = 32   # the oldest result is dropped when another comes


class Results:
    """The last RESULTS_KEPT Test Many results, each under (job id, random result id)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._kept = collections.OrderedDict()

    def add(self, job_id, rows, answer):
        """Keep (rows, answer) of one Test Many; its result id (16 hex digits)."""
        result_id = secrets.token_hex(8)
        with self._lock:
            self._kept[(job_id, result_id)] = (rows, answer)
            while len(self._kept) > RESULTS_KEPT:
                self._kept.popitem(last=False)
        return result_id

    def get(self, job_id, result_id):
        """(rows, answer), or None when no longer kept."""
        with self._lock:
            return self._kept.get((job_id, result_id))
