"""Files that appear whole or not at all: written beside the target, then renamed over it.

`replacing(path)` yields a temporary path in the target's folder (first removing
that target's temporary files left by killed processes), named
`.<stem>.tmp-<pid><ext>` (the same extension, so libraries that choose a format by it —
matplotlib, graphviz — write the right one). When the block finishes, the temporary file
replaces `path` in one rename (atomic on POSIX: a reader sees the old file or the new
one, never half of one); when the block raises, or is interrupted, the temporary file is
removed and `path` is left as it was. Every writer of the package goes through here;
folders go through staging.py.

A process killed by SIGKILL (or a crash) cannot remove its temporary file. Every
temporary name this package makes — files here, staging folders in staging.py, the
training loop's snapshot files — starts with "." and carries ".tmp-<pid>" of its
owner, so `remove_stale(folder)` can tell leftovers of dead processes from work in
progress and remove only those.
"""

import contextlib
import json
import os
import re
import shutil

from ..errors import OutputError

TMP_MARK = ".tmp-"
# .<name>.tmp-<pid> followed by the end, an extension, "-<random>" (staging) or "_iter_N…"
TMP_NAME = re.compile(r"^\..+?\.tmp-(\d+)(?:[-_.].*)?$")


def owner_pid(name):
    """The pid embedded in one of this package's temporary names (int), or None."""
    match = TMP_NAME.match(name)
    return int(match.group(1)) if match else None


def pid_alive(pid):
    """Whether a process with this id exists (one of another user counts as alive; a
    zombie, dead but not yet reaped by its parent, does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[-1].split()[:1]
    except OSError:
        return True
    return state != [b"Z"]


def stale_temporaries(folder, prefix=""):
    """Temporary files and folders in `folder` (names starting with "." + `prefix`) whose
    owner process is gone: leftovers of a killed run. Absolute paths, sorted."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    stale = []
    for name in names:
        pid = owner_pid(name)
        if pid is None or not name.startswith("." + prefix) or pid == os.getpid():
            continue
        path = os.path.join(os.path.abspath(folder), name)
        if not pid_alive(pid) or _started_after(pid, path):
            stale.append(path)
    return sorted(stale)


def _started_after(pid, path):
    """Whether process `pid` started after `path` was last modified — then it is not the
    process that made it (its pid was reused). False when this cannot be told."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
        return started > os.lstat(path).st_mtime + 2.0
    except (OSError, ValueError, IndexError, StopIteration):
        return False


def remove_stale(folder, prefix=""):
    """Remove `stale_temporaries(folder, prefix)`; the paths removed."""
    removed = []
    for path in stale_temporaries(folder, prefix):
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            pass                      # another process cleaned it at the same moment
        except OSError:
            continue
        removed.append(path)
    return removed


def temporary_path(path):
    """The temporary name `replacing` writes to, beside `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}{TMP_MARK}{os.getpid()}{ext}")


@contextlib.contextmanager
def replacing(path):
    """Context manager: a temporary path that becomes `path` when the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    remove_stale(folder, prefix=os.path.splitext(os.path.basename(path))[0] + TMP_MARK)
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.filename is not None and err.filename != tmp:
            raise
        raise OutputError(f"cannot write it ({err.strerror or err})", where=path) from None
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def open_replacing(path, mode="w", **open_kwargs):
    """Context manager: a file opened for writing that becomes `path` when the block
    succeeds (flushed to disk first)."""
    with replacing(path) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def publish(finished, path):
    """Rename the whole file `finished`, written elsewhere under a temporary name in the same
    folder (e.g. by Caffe), onto `path` in one step."""
    os.replace(finished, path)


def write_text(path, text, encoding="utf-8"):
    """Write str `text` to `path` whole."""
    with open_replacing(path, "w", encoding=encoding) as f:
        f.write(text)


def write_bytes(path, data):
    """Write bytes `data` to `path` whole."""
    with open_replacing(path, "wb") as f:
        f.write(data)


def write_json(path, document):
    """Write `document` as indented JSON (and a final newline) to `path` whole."""
    write_text(path, json.dumps(document, indent=2) + "\n")


def save_figure(fig, path, tight=True):
    """Save a matplotlib figure to `path` whole (laid out tightly unless told), and close it."""
    import matplotlib.pyplot as plt

    try:
        if tight:
            fig.tight_layout()
        with replacing(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
