"""Reading a user's file: a regular file only, of a bounded size, never blocking.

Every image, list and prototxt the package reads for a user — from the command line or
through the server — goes through `read_bytes` or `read_text`. The file is opened with
O_NONBLOCK (a FIFO or a terminal cannot make the open or the read wait), checked with
fstat to be a regular file (not /dev/zero, a FIFO, a socket or a folder), and its size
is compared with the caller's limit before a byte is read. Text is UTF-8, a leading
byte-order mark dropped (Windows editors write one), lines split on \\n, \\r\\n or \\r.
"""

import errno
import os
import stat

from ..errors import BadInputError

MB = 1 << 20
IMAGE_LIMIT = 64 * MB     # an image file: far beyond any digit picture (a 8k x 8k PNG)
LIST_LIMIT = 512 * MB     # an image list (10 million lines of 50 characters)
TEXT_LIMIT = 64 * MB      # a prototxt, a predictions file


def read_bytes(path, limit, where=None, what="file"):
    """The bytes of the regular file `path`; BadInputError naming `where` (default: the
    path) when it is missing, not a regular file, over `limit` bytes, or unreadable."""
    where = path if where is None else where
    fd = _open(path, where, what)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadInputError(f"cannot read {what}: {_kind(info.st_mode)}, not a regular "
                                "file", where=where)
        if info.st_size > limit:
            raise BadInputError(f"cannot read {what}: {info.st_size / MB:.1f} MB, over the "
                                f"{limit / MB:.0f} MB limit", where=where)
        # O_NONBLOCK changes nothing for a regular file's reads: the flag is left on
        chunks, left = [], limit + 1
        step = info.st_size + 1     # the whole file and a byte more: no 16 MB buffer for 1 kB
        while left > 0:
            asked = min(left, step)
            chunk = os.read(fd, asked)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
            if len(chunks) == 1 and len(chunk) == info.st_size:
                break               # all its size says, and no more: the end (one read)
            step = 1 << 24 if len(chunk) == asked else 4096   # it grew / look for the end
        data = b"".join(chunks)
        if len(data) > limit:        # it grew while being read
            raise BadInputError(f"cannot read {what}: over the {limit / MB:.0f} MB limit",
                                where=where)
        return data
    except OSError as err:
        raise BadInputError(f"cannot read {what} ({err.strerror or err})",
                            where=where) from None
    finally:
        os.close(fd)


def read_text(path, limit=TEXT_LIMIT, where=None, what="file"):
    """The text of a UTF-8 regular file (a leading BOM dropped); BadInputError as
    read_bytes, or when it is not UTF-8 (naming the line of the first bad byte)."""
    data = read_bytes(path, limit, where, what)
    return decode_text(data, path if where is None else where, what)


def decode_text(data, where, what="file"):
    """UTF-8 bytes → str without a leading byte-order mark; BadInputError naming the line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise BadInputError(f"cannot read {what}: not UTF-8 text (byte 0x{data[err.start]:02x} "
                            f"on line {line})", where=where) from None


def read_lines(path, limit=LIST_LIMIT, where=None, what="file"):
    """The lines of a text file (list of str, no line ends; \\n, \\r\\n and \\r all end one)."""
    return read_text(path, limit, where, what).splitlines()


def check_regular(path, where=None, what="file"):
    """BadInputError unless `path` names a regular file (stat, not opened: safe on a FIFO)."""
    where = path if where is None else where
    try:
        info = os.stat(path)
    except ValueError:
        raise BadInputError(f"cannot read {what}: its name holds a NUL byte",
                            where=repr(where)) from None
    except FileNotFoundError:
        raise BadInputError(f"{what} not found", where=where) from None
    except OSError as err:
        raise BadInputError(f"cannot read {what} ({err.strerror or err})", where=where) from None
    if not stat.S_ISREG(info.st_mode):
        raise BadInputError(f"cannot read {what}: {_kind(info.st_mode)}, not a regular file",
                            where=where)


def _open(path, where, what):
    try:
        return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except ValueError:                   # a NUL byte in the name
        raise BadInputError(f"cannot read {what}: its name holds a NUL byte",
                            where=repr(where)) from None
    except FileNotFoundError:
        raise BadInputError(f"{what} not found", where=where) from None
    except OSError as err:
        if err.errno == errno.ENXIO:     # a FIFO with no writer, a socket
            raise BadInputError(f"cannot read {what}: a pipe or socket, not a regular file",
                                where=where) from None
        raise BadInputError(f"cannot read {what} ({err.strerror or err})",
                            where=where) from None


def _kind(mode):
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"
