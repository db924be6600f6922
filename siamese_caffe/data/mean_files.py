"""The mean pair image of a phase, computed from how often each image is used,
and written as Caffe's BlobProto (`<phase>_mean.binaryproto`).
"""

import math
import os

import numpy as np

from ..errors import BadInputError
from ..runtime import atomic_files, input_files, prototxt
from . import datum_codec

CHUNK_IMAGES = 8192   # images converted to float64 at a time (8192 * 784 * 8 B ≈ 51 MB for MNIST)


def weighted_image_sum(images, counts):
    """Σ counts[i] * images[i] as (H, W) float64 (exact for integer counts and pixels).

    images: (N, H, W) uint8; counts: (N,) int.
    """
    n, height, width = images.shape
    total = np.zeros(height * width, np.float64)
    for start in range(0, n, CHUNK_IMAGES):
        stop = min(start + CHUNK_IMAGES, n)
        used = np.flatnonzero(counts[start:stop]) + start
        if len(used):
            block = images[used].reshape(len(used), -1).astype(np.float64)
            total += counts[used].astype(np.float64) @ block
    return total.reshape(height, width)


def pair_mean(images, left, right):
    """Mean of the CHW pairs [images[left], images[right], 0] as (3, H, W) float64.

    images: (N, H, W) uint8; left, right: (K,) int indices, K > 0. Equals
    numpy's mean over the K stacked pairs, without building them.
    """
    n = len(images)
    mean = np.zeros((3,) + images.shape[1:], np.float64)
    mean[0] = weighted_image_sum(images, np.bincount(left, minlength=n)) / len(left)
    mean[1] = weighted_image_sum(images, np.bincount(right, minlength=n)) / len(right)
    return mean


def read_binaryproto(path):
    """A BlobProto mean file → (C, H, W) float32 (num must be 1).

    BadInputError naming `path` when it is missing, unreadable, not a BlobProto, or holds
    another number of values than its shape says.
    """
    blob = prototxt.caffe_pb2().BlobProto()
    if not os.path.lexists(path):
        raise BadInputError("the mean file is missing", where=path)
    data = input_files.read_bytes(path, input_files.IMAGE_LIMIT, what="the mean file")
    try:
        blob.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError
        raise BadInputError(f"not a BlobProto mean file ({err})", where=path) from None
    dims = prototxt.blob_shape(blob)
    if len(dims) == 3:
        dims = (1,) + dims
    values = np.asarray(blob.data, np.float32)
    if len(dims) != 4 or dims[0] != 1 or values.size != math.prod(dims) or values.size == 0:
        raise BadInputError(f"holds {values.size} values for shape "
                            f"{'x'.join(map(str, dims))}", where=path)
    if not np.isfinite(values).all():
        raise BadInputError("holds NaN or infinite values (damaged?)", where=path)
    return values.reshape(dims[1:])


def write_binaryproto(path, mean):
    """Write a (3, H, W) mean as a BlobProto (num = 1, float32 values, not truncated)."""
    atomic_files.write_bytes(path, datum_codec.blobproto_bytes(mean))
