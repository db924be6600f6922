"""Image files as the net's input: a pair in Caffe's BGR channel order, mean subtracted.

Two kinds of file are accepted (design: "File formats"):

- an RGB image is a pair picture as create-db writes its test PNGs: blue holds
  the first digit, green the second (red is ignored by the network). It becomes
  the CHW array [blue, green, red] — the order of the training records;
- a grayscale image is one digit: it is replicated into all three channels, so
  both branches see it. Its mean is the average of the mean's first two channels
  (the mean image of the training digits, whichever side they were on), also
  replicated: both branches then get identical input and give identical features.

Files are decoded by data/image_io (OpenCV, straight into Caffe's BGR order). Pixels
are uint8; other bit depths are refused. Sizes must match the job's.
"""

import numpy as np

from ..errors import BadInputError
from ..data import image_io, mean_files


def load_pair(path, image_shape, where=None, resize=False):
    """Read one image as ((3, H, W) uint8 BGR pair, is_grayscale).

    path: a file name, a binary file object (e.g. an upload held in memory) or an image
    image_io.read already decoded ((H, W) or (H, W, 3) BGR uint8 array).
    image_shape: (3, H, W) the job's net reads. where: the name errors give
    (default: `path`). resize: scale an image of another size to the job's (as DIGITS
    did) instead of refusing it. Raises BadInputError naming it when the image is
    missing, unreadable, damaged, of another bit depth or (unless resize) another size.
    """
    where = path if where is None else where
    image = path if isinstance(path, np.ndarray) else image_io.read(path, where)
    if resize:
        image = image_io.resize(image, int(image_shape[1]), int(image_shape[2]))
    _check_size(image.shape[:2], image_shape, where)
    if image.ndim == 2:
        return gray_to_pair(image), True
    return bgr_to_pair(image), False


def bgr_to_pair(bgr):
    """(H, W, 3) uint8 BGR picture → (3, H, W) uint8 pair (channel 0 = blue = first digit)."""
    return np.ascontiguousarray(bgr.transpose(2, 0, 1))


def gray_to_pair(gray):
    """(H, W) uint8 digit → (3, H, W) uint8 with the digit in every channel."""
    pair = np.empty((3,) + gray.shape, gray.dtype)
    pair[...] = gray
    return pair


def grayscale_mean(mean):
    """(3, H, W) pair mean → (3, H, W) float32 with the average of channels 0 and 1 in all three."""
    digit = (mean[0].astype(np.float64) + mean[1]) / 2
    return np.broadcast_to(digit, mean.shape).astype(np.float32)


def subtract_mean(pair, mean, grayscale, gray_mean=None):
    """(3, H, W) uint8 pair → (3, H, W) float32 net input: pair − mean (the grayscale mean
    for a replicated grayscale digit: `gray_mean` when the caller made it once, else
    grayscale_mean(mean))."""
    if grayscale:
        mean = grayscale_mean(mean) if gray_mean is None else gray_mean
    return np.subtract(pair, mean, dtype=np.float32)


def read_mean(path):
    """A BlobProto mean file → (3, H, W) float32 (BadInputError when unreadable)."""
    return mean_files.read_binaryproto(path)


def _check_size(height_width, image_shape, path):
    """BadInputError unless (H, W) equals the job's image size."""
    want = tuple(int(v) for v in image_shape[1:])
    if tuple(height_width) != want:
        raise BadInputError(f"image is {height_width[1]}x{height_width[0]} pixels but the job's "
                            f"network reads {want[1]}x{want[0]}", where=path)
