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

`FormParser` goes further for the bodies clients send to the inference routes (a few
fields and one upload, held in memory): `simple_form` reads such a body in one pass of
bytes.find, in a fraction of the decoder's time (~250 µs of an infer_one request).
It takes only the plain shape — no preamble but a line break, CRLF line breaks, each part's headers
nothing but `Content-Disposition: form-data; name="…"[; filename="…"]` (ASCII, no
quote, backslash, percent sign or parameter beyond those two) and, for an upload,
`Content-Type`, then the closing boundary and at most a line break — and leaves every
other body, and any over Werkzeug's part and field-size limits, to Werkzeug's parser, so
what a view reads, and every error, is Werkzeug's (the same tests compare the two).
"""

import io
import re

from werkzeug import formparser
from werkzeug.datastructures import FileStorage, Headers
from werkzeug.sansio import multipart

# What may follow --BOUNDARY: "--" (the last one) then blanks and maybe a line break,
# or blanks and a line break (RFC 2046; CR or LF alone accepted, as Werkzeug does).
TAIL = re.compile(rb"(--[^\S\n\r]*(?:\r\n|\n|\r)?|[^\S\n\r]*(?:\r\n|\n|\r))")
PLACEHOLDER = b"siamese-caffe-placeholder"     # its patterns are compiled once, then cached
DISPOSITION = re.compile(r'form-data; name="([^"\\%]*)"(?:; filename="([^"\\%]*)")?')
TOKEN = re.compile(r"[!#$&'*+.^_`|~0-9A-Za-z-]+/[!#$&'*+.^_`|~0-9A-Za-z-]+")


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


class FormParser(formparser.FormDataParser):
    """Werkzeug's form parser, reading a plain multipart body with `simple_form` first."""

    def _parse_multipart(self, stream, mimetype, content_length, options):
        boundary = options.get("boundary", "").encode("ascii", "replace")
        if not boundary or content_length is None:
            return super()._parse_multipart(stream, mimetype, content_length, options)
        body = stream.read(content_length)
        parts = simple_form(body, boundary, self.max_form_parts)
        if parts is None or self._over_field_limit(parts):
            return super()._parse_multipart(io.BytesIO(body), mimetype, len(body), options)
        fields, files = [], []
        for name, filename, content_type, data in parts:
            if filename is None:
                fields.append((name, data.decode("utf-8", "replace")))
            else:
                files.append((name, self._file(name, filename, content_type, data,
                                               content_length)))
        return stream, self.cls(fields), self.cls(files)

    def _over_field_limit(self, parts):
        limit = self.max_form_memory_size
        return limit is not None and any(filename is None and len(data) > limit
                                         for _, filename, _, data in parts)

    def _file(self, name, filename, content_type, data, total):
        """A FileStorage as Werkzeug's parser makes it (the data in a stream_factory file)."""
        container = self.stream_factory(total_content_length=total, filename=filename,
                                        content_type=content_type, content_length=0)
        container.write(data)
        container.seek(0)
        headers = [("Content-Disposition", f'form-data; name="{name}"; filename="{filename}"')]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        return FileStorage(container, filename, name, headers=Headers(headers))


def simple_form(body, boundary, max_parts=None):
    """[(name, filename or None, content type or None, data bytes)] of a multipart body of
    the plain shape (module docstring), or None when it is not of that shape (or has
    more than max_parts parts)."""
    opening, delimiter = b"--" + boundary + b"\r\n", b"\r\n--" + boundary
    start = 2 if body.startswith(b"\r\n") else 0      # Werkzeug's test client writes one
    if not body.startswith(opening, start):
        return None
    parts, at = [], start + len(opening)
    while max_parts is None or len(parts) < max_parts:
        head_end = body.find(b"\r\n\r\n", at)
        end = body.find(delimiter, head_end + 4) if head_end != -1 else -1
        if end == -1:
            return None
        head = _part_head(body[at:head_end])
        if head is None:
            return None
        parts.append(head + (body[head_end + 4:end],))
        after = end + len(delimiter)
        tail = body[after:after + 2]
        if tail == b"--":
            return parts if body[after + 2:] in (b"", b"\r\n") else None
        if tail != b"\r\n":
            return None
        at = after + 2
    return None


def _part_head(block):
    """(name, filename or None, content type or None) of a part's header block in the
    plain shape, else None."""
    if not block.isascii():
        return None
    disposition, content_type = None, None
    for line in block.decode("ascii").split("\r\n"):
        key, colon, value = line.partition(":")
        key, value = key.lower(), value.strip()
        if not colon or line[:1].isspace() or "\r" in line or "\n" in line:
            return None
        if key == "content-disposition" and disposition is None:
            disposition = DISPOSITION.fullmatch(value)
            if disposition is None:
                return None
        elif key == "content-type" and content_type is None and TOKEN.fullmatch(value):
            content_type = value
        else:
            return None
    if disposition is None or (content_type is not None and disposition[2] is None):
        return None
    return disposition[1], disposition[2], content_type
