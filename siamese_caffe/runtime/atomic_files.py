"""Files that appear whole or not at all: written beside the target, then renamed over it.

`replacing(path)` yields a temporary path in the target's folder, named
`.<stem>.tmp-<pid><ext>` (the same extension, so libraries that choose a format by it —
matplotlib, graphviz — write the right one). When the block finishes, the temporary file
replaces `path` in one rename (atomic on POSIX: a reader sees the old file or the new
one, never half of one); when the block raises, or is interrupted, the temporary file is
removed and `path` is left as it was. Every writer of the package goes through here;
folders go through staging.py.
"""

import contextlib
import json
import os

TMP_MARK = ".tmp-"


def temporary_path(path):
    """The temporary name `replacing` writes to, beside `path`."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f".{stem}{TMP_MARK}{os.getpid()}{ext}")


@contextlib.contextmanager
def replacing(path):
    """Context manager: a temporary path that becomes `path` when the block succeeds."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
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
