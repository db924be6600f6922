"""Writing key/value records into a new LMDB in a few large transactions.

Caffe's Data layer reads an LMDB folder (data.mdb + lock.mdb) in key order.
Records arrive in batches of ascending keys and are appended with
`putmulti(append=True)`, one transaction per batch; the map size starts at an
estimate and doubles whenever LMDB reports MapFullError. The environment is
opened without per-commit fsync and synced once when closed.
"""

import lmdb

from ..errors import OutputError

PAGE = 4096                 # LMDB page size on Linux/x86-64
MIN_MAP_SIZE = 1 << 20      # 1 MiB floor for tiny databases


def estimate_map_size(count, value_length, key_length):
    """Bytes an LMDB needs for `count` records of the given sizes, with headroom (int)."""
    node = 8 + key_length                       # node header + key, per leaf entry
    if node + value_length + 2 > PAGE // 2:     # values this big live on overflow pages
        per_record = -(-(value_length + 16) // PAGE) * PAGE + node + 8 + 2
    else:
        per_record = node + value_length + 2
    return max(int(count * per_record * 1.25) + 64 * PAGE, MIN_MAP_SIZE)


class LmdbWriter:
    """A new LMDB at `path`, written by `append(pairs)` and finished by `close()`.

    Use as a context manager. Keys must be bytes given in ascending order across
    all batches (zero-padded indices are).
    """

    def __init__(self, path, map_size):
        self.path = path
        self.env = None
        self.env = self._guard(lambda: lmdb.open(
            path, map_size=map_size, subdir=True, sync=False, metasync=False, lock=True,
            readahead=False, meminit=False))
        self.count = 0

    def _guard(self, action):
        """Run `action`; an LMDB failure (other than a full map) becomes one OutputError."""
        try:
            return action()
        except lmdb.MapFullError:
            raise
        except lmdb.Error as err:
            raise OutputError(f"cannot write the database ({str(err).split(': ', 1)[-1]}; "
                              "is the disk full?)", where=self.path) from None

    def append(self, items):
        """Write a batch: a list of (key bytes, value bytes-like) in ascending key order."""
        def write():
            with self.env.begin(write=True) as txn:
                return txn.cursor().putmulti(items, dupdata=False, overwrite=False,
                                             append=True)[1]
        while True:
            try:
                added = self._guard(write)
                break
            except lmdb.MapFullError:
                self.env.set_mapsize(self.env.info()["map_size"] * 2)
        self.count += added

    def close(self):
        """Flush to disk and close."""
        if self.env is not None:
            env, self.env = self.env, None
            try:
                self._guard(lambda: env.sync(True))
            finally:
                env.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
