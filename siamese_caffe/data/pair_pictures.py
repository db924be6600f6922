"""PNG pictures of pairs: the test images and the mean image, as DIGITS showed them.

A pair is CHW in Caffe's BGR order (blue = first image, green = second, red = 0);
its picture is the colour image with the same colours: B = channel 0, G = channel 1,
R = channel 2 — an (H, W, 3) BGR array, the layout image_io writes.
"""

import numpy as np

from . import image_io


def pair_to_picture(pair):
    """(3, H, W) BGR pair (any real dtype) → (H, W, 3) uint8 BGR picture, rounded and clipped."""
    bgr = np.asarray(pair, np.float64).transpose(1, 2, 0)
    return np.clip(np.rint(bgr), 0, 255).astype(np.uint8)


def pair_picture(first, second):
    """Two (H, W) uint8 images → (H, W, 3) uint8 BGR picture: blue = first, green = second."""
    bgr = np.zeros(first.shape + (3,), np.uint8)
    bgr[..., 0] = first
    bgr[..., 1] = second
    return bgr


def save_picture(path, bgr):
    """Write an (H, W, 3) uint8 BGR picture as a colour PNG (RGB in the file)."""
    image_io.write_png(path, bgr)
