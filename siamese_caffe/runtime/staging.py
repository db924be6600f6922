"""Output folders that appear whole or not at all.

`staged_folder(target)` yields a temporary folder beside the target; when the
block finishes it is renamed to the target (an existing target is replaced only
with force=True), and when the block raises or is interrupted it is removed.
Other helpers may use it for any generated folder.
"""

import contextlib
import os
import shutil
import tempfile

from ..errors import BadInputError


def check_free(target, force=False):
    """BadInputError when `target` exists and force is False."""
    if os.path.lexists(target) and not force:
        raise BadInputError("output folder already exists (use --force to replace it)",
                            where=target)


@contextlib.contextmanager
def staged_folder(target, force=False):
    """Context manager yielding the path of a temporary folder that becomes `target`."""
    target = os.path.abspath(target)
    check_free(target, force)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.tmp-", dir=parent)
    try:
        os.chmod(work, 0o777 & ~_umask())   # mkdtemp makes 0700; give what mkdir would
        yield work
        _rename_over(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _rename_over(work, target):
    """Rename `work` to `target`, moving an existing target aside first and deleting it after."""
    if not os.path.lexists(target):
        os.rename(work, target)
        return
    trash = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.old-",
                             dir=os.path.dirname(target))
    try:
        os.rename(target, os.path.join(trash, "old"))
        os.rename(work, target)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _umask():
    """The process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
