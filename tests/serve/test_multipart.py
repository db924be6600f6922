"""serve/multipart.py finds the boundaries Werkzeug's own patterns find, and so decodes
every body into the same fields and files."""

import io
import random
import re

import pytest
from werkzeug.formparser import FormDataParser
from werkzeug.sansio import multipart as stock

from siamese_caffe.serve import multipart

LB = rb"(?:\r\n|\n|\r)"


def werkzeugs_patterns(boundary):
    """The two patterns Werkzeug 3.1's decoder compiles for `boundary`."""
    escaped = re.escape(boundary)
    preamble = re.compile(rb"%s?--%s(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (LB, escaped, LB, LB),
                          re.MULTILINE)
    between = re.compile(rb"%s--%s(--[^\S\n\r]*%s?|[^\S\n\r]*%s)" % (LB, escaped, LB, LB),
                         re.MULTILINE)
    return preamble, between


def as_tuple(match):
    return None if match is None else (match.start(), match.end(), match.group(1))


@pytest.mark.parametrize("boundary", [b"b", b"--x--", b"a.b(c)+?", b"----WebKitForm7MA4YWxk"])
def test_the_finder_matches_the_pattern_on_random_buffers(boundary):
    rng = random.Random(7)
    preamble, between = werkzeugs_patterns(boundary)
    pieces = [b"\r", b"\n", b"\r\n", b"-", b"--", b" ", b"\t", b"x", boundary, b"--" + boundary,
              b"\r\n--" + boundary]
    for _ in range(4000):
        buffer = bytearray(b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 12))))
        pos = rng.randint(0, len(buffer))
        for pattern, optional in ((preamble, True), (between, False)):
            finder = multipart.BoundaryFinder(boundary, optional)
            assert as_tuple(finder.search(buffer, pos)) == as_tuple(pattern.search(buffer, pos)), \
                (bytes(buffer), pos, optional)


def bodies(boundary):
    """Multipart bodies as clients write them, and as some odd ones do."""
    png = bytes(range(256)) * 3 + b"\r\n--" + boundary[:-1] + b"\r\n" + b"--" + boundary + b"x"
    crlf = (b"--%s\r\nContent-Disposition: form-data; name=\"job_id\"\r\n\r\n20261207-1\r\n"
            b"--%s\r\nContent-Disposition: form-data; name=\"image_file\"; filename=\"a.png\"\r\n"
            b"Content-Type: image/png\r\n\r\n%s\r\n--%s--\r\n") % (boundary, boundary, png,
                                                                    boundary)
    yield crlf
    yield b"preamble text\r\n" + crlf + b"epilogue"
    yield crlf.replace(b"\r\n", b"\n")
    yield crlf.replace(b"\r\n", b"\r")
    yield crlf.replace(b"--" + boundary + b"\r\n", b"--" + boundary + b" \t\r\n")
    yield crlf[:-2]                                            # no line break at the end
    yield b"--%s--\r\n" % boundary                             # an empty form


def decode(decoder_class, boundary, body, chunk):
    """The events of `body` fed `chunk` bytes at a time (or the error raised)."""
    decoder, events = decoder_class(boundary, 1 << 20, max_parts=10), []
    try:
        for start in range(0, len(body) + 1, chunk):
            piece = body[start:start + chunk]
            decoder.receive_data(piece if piece or start < len(body) else None)
            if not piece:
                decoder.receive_data(None)
            event = decoder.next_event()
            while not isinstance(event, stock.NeedData):
                events.append(repr(event))
                if isinstance(event, stock.Epilogue):
                    return events
                event = decoder.next_event()
        decoder.receive_data(None)
        events.append(repr(decoder.next_event()))
    except ValueError as err:
        events.append(f"error: {err}")
    return events


@pytest.mark.parametrize("boundary", [b"7MA4YWxkTrZu0gW", b"a.b(c)+?", b"--x--"])
@pytest.mark.parametrize("chunk", [1, 3, 17, 64, 1 << 16])
def test_both_decoders_give_the_same_events(boundary, chunk):
    for body in bodies(boundary):
        assert decode(multipart.BoundaryDecoder, boundary, body, chunk) == \
            decode(stock.MultipartDecoder, boundary, body, chunk)


def test_installed_the_form_parser_reads_an_upload():
    multipart.install()
    boundary = b"c0ffee"
    body = next(bodies(boundary))
    _, form, files = FormDataParser().parse(io.BytesIO(body), "multipart/form-data", len(body),
                                            {"boundary": boundary.decode()})
    assert form["job_id"] == "20261207-1"
    assert files["image_file"].filename == "a.png"
    assert files["image_file"].read().startswith(bytes(range(256)))


def odd_forms(boundary):
    """Bodies near the plain shape, each one way off it (or on it)."""
    def form(*parts, end=b"--%s--\r\n" % boundary):
        return b"".join(b"--%s\r\n%s\r\n" % (boundary, part) for part in parts) + end

    field = b'Content-Disposition: form-data; name="job_id"\r\n\r\n20261207-1'
    upload = (b'Content-Disposition: form-data; name="image_file"; filename="a.png"\r\n'
              b"Content-Type: image/png\r\n\r\nPNG\r\nDATA")
    yield form(field, upload)                                          # the plain shape
    yield b"\r\n" + form(field, upload)                                 # as Werkzeug's client
    yield b"\r\n\r\n" + form(field, upload)
    yield form(field, field.replace(b"20261207-1", b"second"))         # a field twice
    yield form(field.replace(b"20261207-1", "café ✓".encode()))        # a UTF-8 value
    yield form(field.replace(b"20261207-1", b"caf\xe9"))                # not UTF-8
    yield form(field, upload.replace(b'filename="a.png"', b'filename=""'))  # no file chosen
    yield form(field.replace(b"Content-Disposition", b"content-disposition"))
    yield form(field.replace(b'name="job_id"', b"name=job_id"))        # unquoted
    yield form(field.replace(b'"job_id"', b'"caf\xc3\xa9"'))            # UTF-8 name
    yield form(field.replace(b'"job_id"', b'"a\\"b"'))                 # an escaped quote
    yield form(upload.replace(b'filename="a.png"', b"filename*=UTF-8''%C3%A9.png"))
    yield form(field.replace(b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=latin-1"
                                          b"\r\n\r\n").replace(b"20261207-1", b"caf\xe9"))
    yield form(field.replace(b"\r\n\r\n", b"\r\nX-Other: 1\r\n\r\n"))   # another header
    yield form(b"Content-Disposition: attachment\r\n" + field)          # the first one counts
    yield form(field, end=b"--%s--\r\nepilogue" % boundary)
    yield form(field, end=b"--%s" % boundary)                         # never closed
    yield form(*[field] * 12)                                          # over max_form_parts
    yield form(field.replace(b"20261207-1", b"v" * 5000))              # over the field limit
    yield form(field.replace(b"20261207-1", b"\r\n--" + boundary + b"x"))  # a near boundary


def parsed(parser_class, boundary, body):
    """(fields, [(name, filename, content type, data)]) a parser reads, or its error's type."""
    parser = parser_class(max_form_memory_size=4096, max_form_parts=10)
    try:
        _, form, files = parser.parse(io.BytesIO(body), "multipart/form-data", len(body),
                                      {"boundary": boundary.decode()})
    except Exception as err:
        return type(err).__name__
    return (list(form.items(multi=True)),
            [(name, f.filename, f.content_type, f.read()) for name, f in files.items(multi=True)])


@pytest.mark.parametrize("boundary", [b"7MA4YWxkTrZu0gW", b"a.b(c)+?", b"--x--"])
def test_the_fast_form_parser_reads_what_werkzeugs_reads(boundary):
    """Every body, plain or not, gives the fields, files and errors Werkzeug's parser
    gives; the plain ones are read by simple_form itself."""
    for body in [*bodies(boundary), *odd_forms(boundary)]:
        assert parsed(multipart.FormParser, boundary, body) == \
            parsed(FormDataParser, boundary, body), body
    plain = next(odd_forms(boundary))
    assert [part[:3] for part in multipart.simple_form(plain, boundary)] == \
        [("job_id", None, None), ("image_file", "a.png", "image/png")]
    assert multipart.simple_form(plain.replace(b"\r\n", b"\n"), boundary) is None
    # an upload holding "CRLF--boundary" and more is left to Werkzeug
    assert multipart.simple_form(next(bodies(boundary)), boundary) is None
