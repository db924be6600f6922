"""Output folders that appear whole or not at all.

`staged_folder(target)` yields a temporary folder beside the target; when the
block finishes it is renamed to the target (an existing target is replaced only
with force=True), and when the block raises or is interrupted it is removed.
Other helpers may use it for any generated folder.

The temporary folder is named `.<name>.tmp-<pid>-<random>` (atomic_files' naming):
when a run is killed outright (SIGKILL, a power cut) its folder stays behind, and the
next staged_folder beside the same target removes every such folder whose owner
process is gone (`remove_stale_folders`), never one a live process is filling.
SIGTERM and Ctrl-C end a run through its `finally`, which removes the folder at once
(the command line turns SIGTERM into KeyboardInterrupt, see interrupts.py).
"""

import contextlib
import os
import shutil
import tempfile

from ..errors import BadInputError, OutputError
from . import atomic_files


def check_free(target, force=False, marker=None):
    """BadInputError when `target` exists and force is False. With `marker` (a file name),
    force replaces only a folder holding that file: one this tool made."""
    if os.path.lexists(target) and not force:
        raise BadInputError("output folder already exists (use --force to replace it)",
                            where=target)
    if os.path.lexists(target) and marker and not os.path.isfile(os.path.join(target, marker)):
        raise BadInputError(f"exists and is not a folder this tool made (no {marker}); "
                            "--force replaces only those", where=target)


@contextlib.contextmanager
def staged_folder(target, force=False, marker=None):
    """Context manager yielding the path of a temporary folder that becomes `target`
    (`marker`: see check_free)."""
    target = os.path.abspath(target)
    check_free(target, force, marker)
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create its parent folder ({err.strerror or err})",
                          where=target) from None
    remove_stale_folders(parent)
    try:
        work = tempfile.mkdtemp(prefix=_prefix(target), dir=parent)
    except OSError as err:
        raise OutputError(f"cannot create the folder here ({err.strerror or err})",
                          where=target) from None
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
    trash = tempfile.mkdtemp(prefix=_prefix(target) + "old-", dir=os.path.dirname(target))
    try:
        os.rename(target, os.path.join(trash, "old"))
        os.rename(work, target)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def remove_folder(target):
    """Delete the folder `target` so that it vanishes at once: it is renamed aside into a
    hidden staging name first (a reader never sees it half deleted), then removed."""
    trash = tempfile.mkdtemp(prefix=_prefix(target) + "old-", dir=os.path.dirname(target))
    try:
        os.rename(target, os.path.join(trash, "old"))
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def remove_stale_folders(parent):
    """Remove the staging folders (and temporary files) in `parent` left by runs that were
    killed: those whose owner pid is no longer alive. Returns the paths removed."""
    return atomic_files.remove_stale(parent)


def _prefix(target):
    """`.<name>.tmp-<pid>-`: the start of this process's staging folders for `target`."""
    return f".{os.path.basename(target)}{atomic_files.TMP_MARK}{os.getpid()}-"


def _umask():
    """The process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
