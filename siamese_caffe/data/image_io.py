"""Reading and writing image files, on OpenCV: the one place the package decodes or encodes one.

Decoded images are uint8 arrays in OpenCV's channel order, which is Caffe's:
(H, W) for a grayscale file, (H, W, 3) BGR for a colour one (alpha dropped, palettes
expanded). Files of more than 8 bits per channel are refused, as are pictures over
MAX_PIXELS (a decompression bomb cannot take the memory of a server).

Only regular files are read (runtime/input_files.py: no FIFO, no /dev/zero, at most
input_files.IMAGE_LIMIT bytes), and a picture's width and height are read from its
header before anything is decoded, so a decompression bomb is refused by its size
rather than by OpenCV's own pixel limit (which raises) or the memory it would take.
PNG and JPEG files are checked before OpenCV sees them (every PNG chunk's CRC, its
compressed pixel stream, a JPEG's end marker), so a truncated or damaged file is one
BadInputError naming it rather than a libpng message on stderr or a half-grey picture;
whatever libpng still prints while OpenCV decodes is held back (`_decoder_quiet`), except
for a plain PNG (`_check_png_pixels`: only IHDR, IDAT and IEND chunks, 8-bit, not
interlaced or palette, every row's filter byte valid, the exact pixel bytes), where the
checks leave libpng nothing to say and the five system calls of holding stderr back are
saved (a one-image request's read is about 60 µs). Formats OpenCV does not read (GIF)
fall back to Pillow. Colour to grayscale is Pillow's ITU-R 601-2 luma in integer
arithmetic, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16, so a colour image gives the
same bytes in the databases as it did when the package decoded with Pillow.
"""

import contextlib
import os
import struct
import sys
import threading
import zlib

MAX_PIXELS = 1 << 26   # 64 Mpixel: 8,192 x 8,192, far beyond any digit picture
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))

import cv2  # noqa: E402  (reads OPENCV_IO_MAX_IMAGE_PIXELS when first used)
import numpy as np  # noqa: E402

from ..errors import BadInputError  # noqa: E402
from ..runtime import input_files  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_GRAY_TYPES = {0, 4}          # IHDR colour types: grayscale, grayscale + alpha
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
PLAIN_PNG_CHUNKS = {b"IHDR", b"IDAT", b"IEND"}
PLAIN_PNG_TYPES = {0, 2, 4, 6}   # gray, RGB, gray + alpha, RGBA (no palette to check)
PLAIN_PNG_BYTES = 1 << 20        # inflated pixel bytes a plain PNG's rows are checked within
LUMA_WEIGHTS = (7471, 38470, 19595)   # B, G, R in units of 2^-16 (sum 65536)


def read(source, where=None):
    """Decode a file into (H, W) or (H, W, 3) BGR uint8.

    source: a path, or a binary file object (an upload held in memory). where: the
    name errors give (default: the path). BadInputError when the file is missing,
    unreadable, damaged, of another bit depth, or not an image.
    """
    where = source if where is None and isinstance(source, str) else where
    return decode(_read_bytes(source, where), where)


def read_gray(source, where=None):
    """Decode a file into ((H, W) uint8, was_colour): colour pictures through luma()."""
    image = read(source, where)
    if image.ndim == 2:
        return image, False
    return luma(image), True


def decode(data, where):
    """Bytes of an image file → (H, W) or (H, W, 3) BGR uint8 (see read)."""
    plain = _check_structure(data, where)
    _check_dimensions(data, where)
    try:
        with contextlib.nullcontext() if plain else _decoder_quiet():
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as err:
        raise BadInputError(f"cannot read image (OpenCV: {_first_line(err)})",
                            where=where) from None
    if image is None:
        image = _decode_with_pillow(data, where)
    if image.dtype != np.uint8:
        kind = " floating-point" if image.dtype.kind == "f" else ""
        raise BadInputError(f"image has {image.dtype.itemsize * 8}-bit{kind} pixels; only "
                            "8-bit grayscale or colour images are supported", where=where)
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[..., :3]
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and _png_colour_type(data) in PNG_GRAY_TYPES:
        image = image[..., 0]          # grayscale + alpha, expanded by the decoder
    return np.ascontiguousarray(image)


def luma(bgr):
    """(H, W, 3) BGR uint8 → (H, W) uint8 gray, Pillow's ITU-R 601-2 luma exactly."""
    weights = np.asarray(LUMA_WEIGHTS, np.uint32)
    total = bgr.astype(np.uint32) @ weights + (1 << 15)
    return (total >> 16).astype(np.uint8)


def resize(image, height, width):
    """An (H, W) or (H, W, 3) uint8 image scaled to height x width (bilinear; area
    averaging when shrinking, as image viewers do)."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = height * width < image.shape[0] * image.shape[1]
    method = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(image, (width, height), interpolation=method)


def encode_png(image):
    """PNG bytes of an (H, W) gray or (H, W, 3) BGR uint8 image."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(image))
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as PNG")
    return data.tobytes()


def write_png(path, image):
    """Write an (H, W) gray or (H, W, 3) BGR uint8 image as a PNG file (into a staged
    folder; elsewhere wrap it in atomic_files.replacing)."""
    data = encode_png(image)
    try:
        with open(path, "wb") as f:
            f.write(data)
    except OSError as err:     # a write error carries no file name: give it one
        raise OSError(err.errno, err.strerror, path) from None


def _read_bytes(source, where):
    if not isinstance(source, (str, os.PathLike)):
        data = source.read(input_files.IMAGE_LIMIT + 1)
        if len(data) > input_files.IMAGE_LIMIT:
            raise BadInputError(f"cannot read image: over the "
                                f"{input_files.IMAGE_LIMIT >> 20} MB limit", where=where)
        return data
    return input_files.read_bytes(os.fspath(source), input_files.IMAGE_LIMIT, where, "image")


def dimensions(data):
    """(width, height) from an image file's header without decoding it, or None when the
    format is not one whose header tells (then the decoder's own limit applies)."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    import io

    import PIL.Image

    PIL.Image.MAX_IMAGE_PIXELS = None          # the limit is ours, applied by the caller
    try:
        with PIL.Image.open(io.BytesIO(data)) as picture:
            return picture.size
    except Exception:     # not a format Pillow knows; OpenCV may still read it
        return None


def _check_dimensions(data, where):
    """BadInputError for a picture over MAX_PIXELS (or of zero size), from its header."""
    size = dimensions(data)
    if size is None:
        return
    width, height = size
    if width * height > MAX_PIXELS:
        raise BadInputError(f"image is {width}x{height} pixels, over the {MAX_PIXELS:,}-pixel "
                            "limit", where=where)
    if width == 0 or height == 0:
        raise BadInputError(f"cannot read image (it is {width}x{height} pixels)", where=where)


_quiet_lock = threading.Lock()
_sink = {}                      # pid -> the file the decoders' messages go to meanwhile


@contextlib.contextmanager
def _decoder_quiet():
    """Hold back what the C decoders (libpng, libjpeg) write to file descriptor 2 while
    OpenCV decodes; whatever else lands there meanwhile (another thread's log line) is
    passed on afterwards. The holding file is made once per process and emptied after use."""
    with _quiet_lock:
        sys.stderr.flush()
        sink = _held_sink()
        saved = os.dup(2)
        try:
            os.dup2(sink, 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            _pass_on(sink)


def _held_sink():
    """This process's holding file (a forked child makes its own: the offset is shared)."""
    sink = _sink.get(os.getpid())
    if sink is None:
        _sink.clear()
        sink = os.memfd_create("image-decoder-stderr") if hasattr(os, "memfd_create") \
            else os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        _sink[os.getpid()] = sink
    return sink


def _pass_on(sink):
    """Write to stderr the lines in `sink` that are not an image library's own; empty it."""
    try:
        if os.lseek(sink, 0, os.SEEK_CUR) == 0:
            return
        os.lseek(sink, 0, os.SEEK_SET)
        held = os.read(sink, 1 << 20)
        os.ftruncate(sink, 0)
        os.lseek(sink, 0, os.SEEK_SET)
    except OSError:
        return
    kept = [line for line in held.splitlines(keepends=True)
            if not line.lstrip().lower().startswith((b"libpng", b"libjpeg", b"corrupt jpeg",
                                                      b"premature end of jpeg"))]
    if kept:
        os.write(2, b"".join(kept))


def _first_line(err):
    text = str(err).strip().splitlines()
    return (text[-1] if text else "decoder error")[:200]


def _check_structure(data, where):
    """BadInputError for an empty file, a damaged PNG (chunk CRCs, IEND) or a JPEG cut
    short; True for a plain PNG (see _check_png_pixels), False for anything else."""
    if not data:
        raise BadInputError("cannot read image (the file is empty)", where=where)
    if data.startswith(PNG_SIGNATURE):
        return _check_png_chunks(data, where)
    if data.startswith(JPEG_START) and JPEG_END not in data[-32:]:
        raise BadInputError("cannot read image (a truncated JPEG: no end marker)",
                            where=where)
    return False


def _check_png_chunks(data, where):
    """Walk a PNG's chunks: each must fit in the file and match its CRC, up to IEND; then
    its pixel stream must inflate to the rows its header announces. Whether it is plain
    (_check_png_pixels)."""
    view, offset, idat, kinds = memoryview(data), len(PNG_SIGNATURE), [], set()
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + length
        if end > len(data):
            break
        if zlib.crc32(view[offset + 4:end - 4]) != struct.unpack_from(">I", data, end - 4)[0]:
            raise BadInputError(f"cannot read image (a damaged PNG: chunk "
                                f"{kind.decode('latin-1')!r} at byte {offset} fails its CRC)", where=where)
        kinds.add(kind)
        if kind == b"IDAT":
            idat.append(view[offset + 8:end - 4])
        elif kind == b"IEND":
            return _check_png_pixels(data, idat, where) and kinds <= PLAIN_PNG_CHUNKS \
                and end == len(data)
        offset = end
    raise BadInputError("cannot read image (a truncated PNG)", where=where)


def _check_png_pixels(data, idat, where):
    """BadInputError when a PNG's IDAT stream (`idat`: its chunks' bodies, CRCs right)
    does not inflate to the rows its header announces: damage libpng would report on
    stderr. True when the pixels leave libpng nothing to warn of: a standard 8-bit,
    non-interlaced, non-palette header, a stream of exactly its rows (at most
    PLAIN_PNG_BYTES) ending with the zlib stream, and a valid filter byte on each row."""
    if len(data) < 29 or data[12:16] != b"IHDR":
        raise BadInputError("cannot read image (a damaged PNG: no IHDR header first)",
                            where=where)
    width, height = struct.unpack_from(">II", data, 16)
    depth, colour, interlace = data[24], data[25], data[28]
    if width * height > MAX_PIXELS:
        return                                  # refused by its dimensions instead
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(colour, 4)
    row = (width * channels * depth + 7) // 8 + 1
    expected = row * height if interlace == 0 else None
    plain = expected is not None and 0 < expected <= PLAIN_PNG_BYTES and depth == 8 \
        and colour in PLAIN_PNG_TYPES and 0 < width <= 0xFFFF and 0 < height <= 0xFFFF \
        and data[8:12] == b"\0\0\0\r" and data[26:28] == b"\0\0"  # compression, filter
    stream, got, rows = zlib.decompressobj(), 0, []
    try:
        for chunk in idat:
            if plain:                 # kept, a byte beyond the rows at most
                rows.append(stream.decompress(chunk, expected + 1 - got))
                got += len(rows[-1])
                plain = got <= expected and not stream.unconsumed_tail
                chunk = stream.unconsumed_tail
            if not plain:
                got += _inflated(stream, chunk)
        rows.append(stream.flush())
        got += len(rows[-1])
    except zlib.error as err:
        raise BadInputError(f"cannot read image (a damaged PNG: its pixel data does not "
                            f"inflate: {err})", where=where) from None
    if expected is not None and got < expected:
        raise BadInputError(f"cannot read image (a damaged PNG: {got} bytes of pixel rows "
                            f"where its header needs {expected})", where=where)
    if not (plain and got == expected and stream.eof and not stream.unused_data):
        return False
    return max(b"".join(rows)[0::row]) <= 4          # None, Sub, Up, Average, Paeth


def _inflated(stream, chunk, step=1 << 20):
    """How many bytes `chunk` inflates to in `stream`, holding at most `step` at a time."""
    total = len(stream.decompress(chunk, step))
    while stream.unconsumed_tail:
        total += len(stream.decompress(stream.unconsumed_tail, step))
    return total


def _png_colour_type(data):
    """The IHDR colour type of a PNG (0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA), else None."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR":
        return data[25]
    return None


def _decode_with_pillow(data, where):
    """Formats OpenCV does not read (GIF, ...): Pillow, into the same layout."""
    import io

    import PIL.Image

    try:
        with PIL.Image.open(io.BytesIO(data)) as picture:
            if picture.width * picture.height > MAX_PIXELS:
                raise BadInputError(f"image is {picture.width}x{picture.height} pixels, over "
                                    f"the {MAX_PIXELS:,}-pixel limit", where=where)
            picture.load()
            if picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                raise BadInputError(f"image has mode {picture.mode!r}; only 8-bit grayscale "
                                    "or colour images are supported", where=where)
            if picture.mode in ("L", "1", "LA", "La"):
                return np.asarray(picture.convert("L"))
            rgb = np.asarray(picture.convert("RGB"))
            if picture.mode in ("P", "PA") and (rgb == rgb[..., :1]).all():
                return np.ascontiguousarray(rgb[..., 0])    # a grey palette: one digit
            return np.ascontiguousarray(rgb[..., ::-1])
    except BadInputError:
        raise
    except Exception as err:  # Pillow's errors for unknown or corrupt files
        raise BadInputError(f"cannot read image (not a picture format OpenCV or Pillow "
                            f"reads: {err})", where=where) from None
