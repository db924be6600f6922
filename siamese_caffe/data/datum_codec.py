"""Caffe's `Datum` and `BlobProto` messages as bytes, built without protobuf objects.

The pair databases hold millions of records whose fields never change except
the pixels, so each record is a fixed prefix + the pixels + a fixed suffix.
The bytes equal `caffe.io.array_to_datum(pair, -1).SerializeToString()` (what
DIGITS stored) and a `caffe_pb2.Datum` with channels = height = width = 1 and
`float_data = [label]`; tests/test_datum_codec.py checks both against caffe_pb2.

Protobuf wire format used here: a field key is varint(field_number << 3 | wire_type),
with wire type 0 = varint, 2 = length-delimited, 5 = 32-bit. proto2 writes fields
in field-number order; negative int32 values are 10-byte varints.
"""

import numpy as np

# caffe.proto field numbers
DATUM_CHANNELS, DATUM_HEIGHT, DATUM_WIDTH, DATUM_DATA, DATUM_LABEL, DATUM_FLOAT_DATA = 1, 2, 3, 4, 5, 6
BLOB_NUM, BLOB_CHANNELS, BLOB_HEIGHT, BLOB_WIDTH, BLOB_DATA = 1, 2, 3, 4, 5
VARINT, LENGTH_DELIMITED, FIXED32 = 0, 2, 5

PAIR_CHANNELS = 3   # blue = first image, green = second image, red = 0 (DIGITS' BGR pair)
IMAGE_LABEL = -1    # the label DIGITS gave every pair image (the labels live in their own DB)


def varint(value):
    """Protobuf varint bytes of an int (negative values as 64-bit two's complement)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def key(field, wire_type):
    """Bytes of a field key."""
    return varint(field << 3 | wire_type)


def int_field(field, value):
    """An int32 field: key + varint."""
    return key(field, VARINT) + varint(value)


def pair_datum_affixes(height, width):
    """(prefix, suffix) bytes around the 3*H*W pixel bytes of one raw uint8 pair Datum."""
    size = PAIR_CHANNELS * height * width
    prefix = (int_field(DATUM_CHANNELS, PAIR_CHANNELS) + int_field(DATUM_HEIGHT, height)
              + int_field(DATUM_WIDTH, width) + key(DATUM_DATA, LENGTH_DELIMITED) + varint(size))
    suffix = int_field(DATUM_LABEL, IMAGE_LABEL)
    return prefix, suffix


def pair_datum_length(height, width):
    """Bytes in one serialized H×W pair Datum (int)."""
    prefix, suffix = pair_datum_affixes(height, width)
    return len(prefix) + PAIR_CHANNELS * height * width + len(suffix)


def pair_datum_records(images, left, right):
    """Serialized pair Datums, one row each: (K, record_length) uint8.

    images: (N, H, W) uint8; left, right: (K,) int indices into images. Row k is the
    Datum of the CHW pair [images[left[k]], images[right[k]], zeros].
    """
    count, (height, width) = len(left), images.shape[1:]
    prefix, suffix = pair_datum_affixes(height, width)
    plane = height * width
    records = np.empty((count, len(prefix) + PAIR_CHANNELS * plane + len(suffix)), np.uint8)
    flat = images.reshape(len(images), plane)
    start = len(prefix)
    records[:, :start] = np.frombuffer(prefix, np.uint8)
    np.take(flat, left, axis=0, out=records[:, start:start + plane])
    np.take(flat, right, axis=0, out=records[:, start + plane:start + 2 * plane])
    records[:, start + 2 * plane:start + 3 * plane] = 0
    records[:, start + 3 * plane:] = np.frombuffer(suffix, np.uint8)
    return records


def label_datum(value):
    """Bytes of the label Datum: channels = height = width = 1, float_data = [value]."""
    return (int_field(DATUM_CHANNELS, 1) + int_field(DATUM_HEIGHT, 1) + int_field(DATUM_WIDTH, 1)
            + key(DATUM_FLOAT_DATA, FIXED32) + np.float32(value).astype("<f4").tobytes())


SAME_CLASS = label_datum(1.0)       # ContrastiveLoss: 1 = similar
DIFFERENT_CLASS = label_datum(0.0)


def blobproto_bytes(array):
    """Bytes of a BlobProto with num = 1 and (C, H, W) = array.shape, float32 data packed.

    array: (C, H, W) float; the values are stored as float32, as Caffe reads them.
    """
    channels, height, width = array.shape
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return (int_field(BLOB_NUM, 1) + int_field(BLOB_CHANNELS, channels)
            + int_field(BLOB_HEIGHT, height) + int_field(BLOB_WIDTH, width)
            + key(BLOB_DATA, LENGTH_DELIMITED) + varint(len(data)) + data)
