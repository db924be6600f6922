"""Reading and writing MNIST's idx files (raw or gzip-compressed).

The idx format (LeCun's MNIST pages): a big-endian header of two zero bytes,
a type code (0x08 = uint8), the number of dimensions, then one big-endian
uint32 per dimension, then the values in C order. MNIST ships images as
(N, 28, 28) uint8 and labels as (N,) uint8.
"""

import gzip
import os
import zlib

import numpy as np

from ..errors import BadInputError
from ..runtime import atomic_files, input_files

UINT8 = 0x08
# The four files of MNIST, by the part of the set they hold.
FILE_STEMS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "t10k": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path):
    """An idx file's array: uint8, shape from its header. `.gz` files are decompressed.

    Raises BadInputError naming the file when it is not a well-formed uint8 idx file.
    """
    raw = input_files.read_bytes(path, input_files.LIST_LIMIT, what="idx file")
    try:
        if path.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise BadInputError(f"cannot read idx file ({err})", where=path) from None
    return _parse_idx(raw, path)


def _parse_idx(raw, where):
    """uint8 array from the bytes of an idx file (see module docstring)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise BadInputError("not an idx file (bad magic number)", where=where)
    if raw[2] != UINT8:
        raise BadInputError(f"idx type 0x{raw[2]:02x} is not uint8 (0x08)", where=where)
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise BadInputError("truncated idx header", where=where)
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise BadInputError(f"idx header says {shape} ({size} bytes) but the file holds "
                            f"{len(raw) - header} bytes of values", where=where)
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def idx_bytes(array):
    """The idx file bytes of a uint8 array of any shape (inverse of read_idx)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UINT8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.tobytes()


def write_idx(path, array):
    """Write a uint8 array as an idx file; gzip-compressed when `path` ends in .gz."""
    data = idx_bytes(array)
    if path.endswith(".gz"):
        data = gzip.compress(data, compresslevel=6, mtime=0)
    atomic_files.write_bytes(path, data)


def find_idx_file(folder, stem):
    """Path of `stem` or `stem.gz` in `folder` (also accepts DIGITS-era `stem` with a dot
    instead of the dash before 'idx', e.g. train-images.idx3-ubyte); None when absent."""
    candidates = [stem, stem.replace("-idx", ".idx")]
    for name in candidates:
        for suffix in ("", ".gz"):
            path = os.path.join(folder, name + suffix)
            if os.path.isfile(path):
                return path
    return None


def read_mnist_part(folder, part):
    """(images (N, H, W) uint8, labels (N,) int64, [image path, label path]) of one part
    ('train' or 't10k') of an MNIST idx folder; None when the part's files are absent."""
    image_stem, label_stem = FILE_STEMS[part]
    image_path = find_idx_file(folder, image_stem)
    label_path = find_idx_file(folder, label_stem)
    if image_path is None and label_path is None:
        return None
    for path, stem in ((image_path, image_stem), (label_path, label_stem)):
        if path is None:
            raise BadInputError(f"{stem}[.gz] is missing (its partner file is there)",
                                where=folder)
    images = read_idx(image_path)
    labels = read_idx(label_path)
    if images.ndim != 3:
        raise BadInputError(f"expected images of shape (N, H, W), got {images.shape}",
                            where=image_path)
    if labels.shape != (images.shape[0],):
        raise BadInputError(f"{labels.shape[0] if labels.ndim else 0} labels for "
                            f"{images.shape[0]} images", where=label_path)
    return images, labels.astype(np.int64), [image_path, label_path]
