"""PNG pictures of pairs: the test images and the mean image, as DIGITS showed them.

A pair is CHW in Caffe's BGR order (blue = first image, green = second, red = 0);
its picture is the RGB image with the same colours: R = channel 2, G = channel 1,
B = channel 0.
"""

import numpy as np
import PIL.Image


def pair_to_rgb(pair):
    """(3, H, W) BGR pair (any real dtype) → (H, W, 3) uint8 RGB, rounded and clipped."""
    rgb = np.asarray(pair, np.float64)[::-1].transpose(1, 2, 0)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def pair_rgb(first, second):
    """Two (H, W) uint8 images → (H, W, 3) uint8 RGB with blue = first, green = second."""
    rgb = np.zeros(first.shape + (3,), np.uint8)
    rgb[..., 2] = first
    rgb[..., 1] = second
    return rgb


def save_rgb(path, rgb):
    """Write an (H, W, 3) uint8 array as an RGB PNG."""
    PIL.Image.fromarray(rgb, "RGB").save(path, format="PNG")
