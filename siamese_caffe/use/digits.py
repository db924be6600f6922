"""Single images as the shared branch reads them: one grayscale digit of the job's size.

verify, gallery search and the ONNX check read ordinary image files — grayscale, or colour
converted by data.image_io's luma (never taken for a blue/green pair picture) — and embed
each one as a digit replicated into both branches (infer.embedding.Embedder.embed_digits).
"""

import numpy as np

from ..errors import BadInputError
from ..data import image_io


def read_digit(source, image_shape, where=None):
    """One image file (a path or a binary file object named `where`) as (H, W) uint8 gray.

    image_shape: the job's (3, H, W). BadInputError naming it when the file is missing,
    damaged or of another size.
    """
    where = source if where is None else where
    gray, _ = image_io.read_gray(source, where)
    want = tuple(int(v) for v in image_shape[1:])
    if gray.shape != want:
        raise BadInputError(f"image is {gray.shape[1]}x{gray.shape[0]} pixels but the job's "
                            f"network reads {want[1]}x{want[0]}", where=where)
    return gray


def read_digits(sources, image_shape, wheres=None):
    """Several image files as one (N, H, W) uint8 array (see read_digit)."""
    wheres = list(sources) if wheres is None else list(wheres)
    height, width = (int(v) for v in image_shape[1:])
    images = np.empty((len(sources), height, width), np.uint8)
    for i, (source, where) in enumerate(zip(sources, wheres)):
        images[i] = read_digit(source, image_shape, where)
    return images


def check_size(images, image_shape, where):
    """BadInputError unless (N, H, W) `images` have the job's size (e.g. a list's images)."""
    want = tuple(int(v) for v in image_shape[1:])
    if tuple(images.shape[1:]) != want:
        raise BadInputError(f"images are {images.shape[2]}x{images.shape[1]} pixels but the "
                            f"job's network reads {want[1]}x{want[0]}", where=where)
