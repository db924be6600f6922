"""multipart/form-data without compiling two regular expressions per request.

Werkzeug's multipart decoder (werkzeug.sansio.multipart.MultipartDecoder) builds two
patterns around each request's boundary string, `LB?--BOUNDARY(TAIL)` for the end of
the preamble and `LB--BOUNDARY(TAIL)` between parts (LB a line break, TAIL `--` for
the last boundary and/or blanks, then a line break). Clients draw a new random
boundary for every request, so Python's pattern cache never hits: the two compilations
took about 400 µs of the 600 µs that parsing one infer_one upload took, per request.

`BoundaryDecoder` is that decoder with the two patterns replaced by `BoundaryFinder`,
which finds the same matches with bytes.find for `--BOUNDARY` and one pattern compiled
once for the tail. Everything else (states, limits, headers, partial boundaries at a
chunk's end) is Werkzeug's own. `install()` makes Werkzeug's form parser use it
(serve's create_app calls it); tests/serve/test_multipart.py checks that both decoders
give the same events for the same bodies, chunked every which way.
"""

import re

from werkzeug import formparser
from werkzeug.sansio import multipart

# What may follow --BOUNDARY: "--" (the last one) then blanks and maybe a line break,
# or blanks and a line break (RFC 2046; CR or LF alone accepted, as Werkzeug does).
TAIL = re.compile(rb"(--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r))")
PLACEHOLDER = b"siamese-caffe-placeholder"     # its patterns are compiled once, then cached


class BoundaryMatch:
    """What the decoder reads of a match: start(), end() and group(1) (the tail)."""

    __slots__ = ("_start", "_end", "_tail")

    def __init__(self, start, end, tail):
        self._start, self._end, self._tail = start, end, tail

    def start(self):
        return self._start

    def end(self):
        return self._end

    def group(self, index):
        if index != 1:
            raise IndexError(f"no group {index}")
        return self._tail


class BoundaryFinder:
    """search(buffer, pos) of the pattern `LB--BOUNDARY(TAIL)` (LB optional when
    `line_break_optional`), leftmost match first, as re's search would give it."""

    def __init__(self, boundary, line_break_optional):
        self.needle = b"--" + boundary
        self.optional = line_break_optional

    def search(self, buffer, pos=0):
        """The leftmost match starting at or after `pos`, or None."""
        found = buffer.find(self.needle, pos)
        while found != -1:
            start = _line_break_start(buffer, found, pos)
            if start is None and self.optional:
                start = found
            if start is not None:
                tail = TAIL.match(buffer, found + len(self.needle))
                if tail is not None:
                    return BoundaryMatch(start, tail.end(), tail.group(1))
            found = buffer.find(self.needle, found + 1)
        return None


def _line_break_start(buffer, at, pos):
    """Where the line break just before `at` starts (CRLF, CR or LF, not before `pos`),
    or None when there is none."""
    if at - 2 >= pos and buffer[at - 2:at] == b"\r\n":
        return at - 2
    if at - 1 >= pos and buffer[at - 1] in b"\r\n":
        return at - 1
    return None


class BoundaryDecoder(multipart.MultipartDecoder):
    """Werkzeug's decoder, finding its boundaries with BoundaryFinder."""

    def __init__(self, boundary, max_form_memory_size=None, *, max_parts=None):
        super().__init__(PLACEHOLDER, max_form_memory_size, max_parts=max_parts)
        self.boundary = boundary
        self.preamble_re = BoundaryFinder(boundary, line_break_optional=True)
        self.boundary_re = BoundaryFinder(boundary, line_break_optional=False)


def install():
    """Make Werkzeug's multipart form parser (in this process) use BoundaryDecoder."""
    formparser.MultipartDecoder = BoundaryDecoder
