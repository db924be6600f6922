"""Opening an LMDB for reading without changing its folder.

LMDB's default reader registers itself in the folder's lock.mdb, creating that file
when it is missing and rewriting its reader table otherwise: reading a dataset would
change the user's files, and fail outright in a read-only folder. Every reader in this
package opens databases through `open_readonly`, which takes no lock (the tool writes
a dataset once, in a staging folder renamed into place, so no writer runs beside a
reader); Caffe's Data layer does the same with patch 0008 (see docs/building-caffe.md).
"""


def open_readonly(path, readahead=True):
    """The python-lmdb Environment of the LMDB folder `path`, read-only and lock-free:
    nothing in the folder is created or written. readahead: let the OS read ahead
    (off for a walk whose pages may be damaged)."""
    import lmdb

    return lmdb.open(path, readonly=True, lock=False, subdir=True, readahead=readahead)
