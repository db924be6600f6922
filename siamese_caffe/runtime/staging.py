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

The output guard: nothing the user owns is replaced. Every staged folder gets a marker,
`.siamese-caffe.json`, naming the kind of folder (`kind`: "dataset", "report", ...) and
every path the tool wrote in it. `check_output(target, kind, force, inputs)` is the one
check every command that writes runs before any work: an existing target is replaced
(with force) only when it is a folder of that kind whose marker lists everything inside
it; a user's folder, a regular file, the current folder or one above it, and a target
that is, holds or lies inside one of the command's inputs are refused in one line
naming it. `check_output_file` is the same for a single file written whole.
"""

import contextlib
import json
import os
import shutil
import tempfile

from ..errors import BadInputError, OutputError
from . import atomic_files


MARKER = ".siamese-caffe.json"
TOOL = "siamese-caffe"
# files another program adds to what the tool wrote: LMDB's lock file, made by any reader
# (Caffe's Data layer) beside a data.mdb
ADDED_BESIDE = {"lock.mdb": "data.mdb"}


def check_free(target, force=False, kind=None, inputs=()):
    """BadInputError unless `target` may be written (see check_output)."""
    check_output(target, kind, force, inputs)


def check_output(target, kind=None, force=False, inputs=(), input_folders=()):
    """BadInputError (one line naming the path) unless the folder `target` may be written:

    - it is not the current folder nor one of its ancestors;
    - it is not, and does not hold, any path of `inputs` (files or folders the command
      reads), and does not lie inside any of `input_folders`;
    - it does not exist, or (with force) it is a folder this tool made as `kind` (its
      marker present and naming `kind`; nothing inside it the marker does not list).
    """
    real = _real(target)
    _check_not_cwd(target, real)
    _check_not_input(target, real, inputs, input_folders)
    if not os.path.lexists(target):
        return
    if not force:
        raise BadInputError("output folder already exists (use --force to replace it)",
                            where=target)
    refusal = why_not_replaceable(target, kind)
    if refusal:
        raise BadInputError(f"not replaced: {refusal}; remove or rename it yourself, or "
                            "choose another output", where=target)


def check_output_file(target, inputs=(), input_folders=()):
    """BadInputError unless a file may be written whole at `target`: not a folder, not a
    special file, not one of the command's `inputs` (nor a folder holding one), and not
    inside one of its `input_folders` (a job's or a dataset's folder)."""
    real = _real(target)
    _check_not_input(target, real, inputs, input_folders)
    if os.path.isdir(target):
        raise BadInputError("is a folder, not a file to write", where=target)
    if os.path.lexists(target) and not os.path.isfile(target) and real != os.devnull:
        raise BadInputError("is not a regular file; not replaced", where=target)


def why_not_replaceable(target, kind=None):
    """None when `target` is a folder this tool made as `kind` holding only what it wrote;
    else why not (str)."""
    if os.path.islink(target) or not os.path.isdir(target):
        return ("a symbolic link" if os.path.islink(target) else
                "a file, not a folder" if os.path.isfile(target) else "not a folder")
    marker = read_marker(target)
    if marker is None:
        return f"a folder siamese-caffe did not make (no {MARKER})"
    if kind is not None and marker.get("kind") != kind:
        return f"a {marker.get('kind')} folder, not a {kind} folder"
    listed = set(marker.get("files") or ())
    for path in _walk(target):
        name = os.path.basename(path)
        if path in listed or path == MARKER:
            continue
        beside = ADDED_BESIDE.get(name)
        if beside and os.path.join(os.path.dirname(path), beside) in listed:
            continue
        return f"it holds {path}, which siamese-caffe did not write"
    return None


def read_marker(folder):
    """The marker dict of a folder this tool made, or None."""
    try:
        with open(os.path.join(folder, MARKER), encoding="utf-8") as f:
            marker = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(marker, dict) or marker.get("tool") != TOOL:
        return None
    return marker


def write_marker(folder, kind):
    """Record in `folder` that this tool made it as `kind`, listing every path in it now."""
    atomic_files.write_json(os.path.join(folder, MARKER),
                     {"tool": TOOL, "kind": kind, "files": sorted(_walk(folder))})


def _walk(folder):
    """Relative paths of every file and folder under `folder` (links not followed)."""
    found = []
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.relpath(os.path.join(root, name), folder)
            if path != MARKER:
                found.append(path)
    return found


def _check_not_cwd(target, real):
    cwd = os.path.realpath(os.getcwd())
    if cwd == real or cwd.startswith(real.rstrip(os.sep) + os.sep):
        what = "the current folder" if cwd == real else "a folder above the current one"
        raise BadInputError(f"is {what}; not an output", where=target)


def _real(path):
    """os.path.realpath, or the normalised absolute path when the name cannot be looked up."""
    try:
        return os.path.realpath(path)
    except (ValueError, OSError):
        return os.path.abspath(path)


def _check_not_input(target, real, inputs, input_folders):
    inside = real.rstrip(os.sep) + os.sep
    for path in inputs:
        if path is None or not isinstance(path, (str, os.PathLike)):
            continue
        other = _real(path)
        if other == real:
            raise BadInputError(f"is an input of this command ({path}); not an output",
                                where=target)
        if other.startswith(inside):
            raise BadInputError(f"holds an input of this command ({path}); not an output",
                                where=target)
    for folder in input_folders:
        if folder is None:
            continue
        other = _real(folder)
        if real == other or real.startswith(other.rstrip(os.sep) + os.sep):
            raise BadInputError(f"lies inside an input folder of this command ({folder}); "
                                "not an output", where=target)


@contextlib.contextmanager
def staged_folder(target, force=False, kind=None, inputs=()):
    """Context manager yielding the path of a temporary folder that becomes `target`,
    marked as made by this tool (`kind`: what it is, checked before a later --force)."""
    target = os.path.abspath(target)
    check_output(target, kind, force, inputs)
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
        try:
            yield work
            write_marker(work, kind)
        except OSError as err:          # a full disk, say: name the output, not the staging
            raise OutputError(f"cannot write {_inside(err.filename, work)}"
                              f"({err.strerror or err})", where=target) from None
        check_output(target, kind, force, inputs)   # still replaceable after the work
        _rename_over(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _inside(filename, work):
    """'<path inside the output> ' for an error's file name under the staging folder."""
    if not isinstance(filename, str) or not filename.startswith(work + os.sep):
        return ""
    return os.path.relpath(filename, work) + " "


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
