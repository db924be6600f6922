"""image_io: files decode into Caffe's BGR order, damaged ones are one clear error."""

import io

import numpy as np
import PIL.Image
import pytest

from siamese_caffe.data import image_io
from siamese_caffe.errors import BadInputError

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (40, 30, 3), dtype=np.uint8)
GRAY = RNG.integers(0, 256, (40, 30), dtype=np.uint8)


def encoded(array, mode, fmt="PNG"):
    buffer = io.BytesIO()
    PIL.Image.fromarray(array, mode).save(buffer, format=fmt)
    return buffer.getvalue()


def test_colour_png_decodes_to_bgr_and_grey_to_one_channel(tmp_path):
    path = tmp_path / "colour.png"
    path.write_bytes(encoded(RGB, "RGB"))
    assert np.array_equal(image_io.read(str(path)), RGB[..., ::-1])
    assert np.array_equal(image_io.decode(encoded(GRAY, "L"), "g.png"), GRAY)


def test_colour_to_gray_is_pillows_luma_byte_for_byte():
    gray, was_colour = image_io.read_gray(io.BytesIO(encoded(RGB, "RGB")), "c.png")
    assert was_colour
    assert np.array_equal(gray, np.asarray(PIL.Image.fromarray(RGB).convert("L")))


@pytest.mark.parametrize("mode, layers", [("LA", 2), ("RGBA", 4)])
def test_alpha_is_dropped_and_gray_with_alpha_stays_gray(mode, layers):
    base = GRAY if mode == "LA" else RGB
    stacked = np.dstack([base] + [GRAY] * (layers - (1 if mode == "LA" else 3)))
    image = image_io.decode(encoded(stacked, mode), "a.png")
    want = GRAY if mode == "LA" else RGB[..., ::-1]
    assert np.array_equal(image, want)


def test_gif_falls_back_to_pillow():
    image = image_io.decode(encoded(GRAY, "L", "GIF"), "g.gif")
    assert image.shape == GRAY.shape


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "a truncated PNG"),
    (lambda data: data[:60] + bytes([data[60] ^ 0xFF]) + data[61:], "fails its CRC"),
    (lambda data: b"", "the file is empty"),
    (lambda data: b"hello", "cannot read image"),
    (lambda data: data[:8] + data[-12:], "no IHDR header"),     # the signature, then IEND
])
def test_damaged_png_is_one_error_and_nothing_on_stderr(capfd, damage, message):
    with pytest.raises(BadInputError, match=message) as err:
        image_io.decode(damage(encoded(RGB, "RGB")), "bad.png")
    assert str(err.value).startswith("bad.png: ")
    assert capfd.readouterr().err == ""       # no libpng message reaches the user


def test_what_others_write_while_decoding_is_passed_on_once(capfd):
    """Lines written to stderr while a picture decodes come out after it, once each; the
    holding file is emptied between decodes."""
    import os

    for text in (b"first line\n", b"libpng warning: held back\n", b"second line\n"):
        with image_io._decoder_quiet():
            os.write(2, text)
        image_io.decode(encoded(GRAY, "L"), "g.png")
    assert capfd.readouterr().err == "first line\nsecond line\n"


def test_truncated_jpeg_is_refused():
    data = encoded(RGB, "RGB", "JPEG")
    with pytest.raises(BadInputError, match="a truncated JPEG"):
        image_io.decode(data[: len(data) // 2], "bad.jpg")


def test_sixteen_bit_is_refused():
    with pytest.raises(BadInputError, match="16-bit"):
        image_io.decode(encoded(GRAY.astype(np.uint16) * 200, "I;16"), "deep.png")


def test_png_round_trip_and_resize(tmp_path):
    path = tmp_path / "out.png"
    image_io.write_png(str(path), RGB[..., ::-1])
    assert np.array_equal(np.asarray(PIL.Image.open(path)), RGB)   # RGB in the file
    assert image_io.resize(GRAY, 28, 28).shape == (28, 28)
    assert image_io.resize(RGB, 80, 60).shape == (80, 60, 3)


def built_png(rows, colour=0, extra_chunks=(), trailing=b""):
    """A PNG of (H, W) uint8 rows, each prefixed by the filter byte given in rows[:, 0],
    every chunk's CRC right; extra_chunks: (kind, body) placed after IHDR."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + \
            struct.pack(">I", zlib.crc32(kind + body))

    height, width = rows.shape[0], rows.shape[1] - 1
    header = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    parts = [image_io.PNG_SIGNATURE, chunk(b"IHDR", header)]
    parts += [chunk(kind, body) for kind, body in extra_chunks]
    parts += [chunk(b"IDAT", zlib.compress(rows.tobytes() + trailing)), chunk(b"IEND", b"")]
    return b"".join(parts)


def raw_rows(filter_byte=0):
    rows = np.zeros((GRAY.shape[0], GRAY.shape[1] + 1), np.uint8)
    rows[:, 1:] = GRAY
    rows[:, 0] = filter_byte
    return rows


def test_a_plain_png_decodes_without_holding_stderr_back(capfd, monkeypatch):
    """Only IHDR, IDAT and IEND, valid filters, exact rows: nothing for libpng to say, so
    stderr is left as it is (the holding file is not used) and the pixels are right."""
    def no_holding():
        raise AssertionError("stderr held back for a plain PNG")
    monkeypatch.setattr(image_io, "_decoder_quiet", no_holding)
    assert np.array_equal(image_io.decode(built_png(raw_rows()), "plain.png"), GRAY)
    assert np.array_equal(image_io.decode(encoded(RGB, "RGB"), "c.png"), RGB[..., ::-1])
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("png", [
    built_png(raw_rows(filter_byte=9)),                          # no such filter
    built_png(raw_rows(), trailing=b"\0" * 31),                  # more bytes than rows
    built_png(raw_rows(), extra_chunks=[(b"sRGB", b"\x07")]),    # an invalid intent
    built_png(raw_rows(), extra_chunks=[(b"gAMA", b"\0\0\0\0")]),  # gamma 0
], ids=["bad filter byte", "too much pixel data", "bad sRGB", "zero gamma"])
def test_what_libpng_would_say_of_a_png_stays_off_stderr(capfd, png):
    """PNGs the checks cannot call plain decode with stderr held back: one image or one
    BadInputError naming the file, and no libpng line reaches the user."""
    try:
        image = image_io.decode(png, "odd.png")
    except BadInputError as err:
        assert str(err).startswith("odd.png: ")
    else:
        assert image.shape == GRAY.shape
    assert capfd.readouterr().err == ""
