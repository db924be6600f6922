"""Choosing image pairs and splitting images, vectorised with numpy.

Pairs are index arrays into an ImageSet: left (K,) and right (K,) int64, and
`same` (K,) bool = labels[left] == labels[right]. All randomness comes from a
numpy Generator the caller seeds, so one seed gives one dataset.
"""

import numpy as np

from ..errors import BadInputError


def check_classes(labels, where):
    """Refuse label sets with fewer than two classes (no different-class pairs possible)."""
    classes = np.unique(labels)
    if len(classes) < 2:
        only = f"only class {classes[0]}" if len(classes) else "no images"
        raise BadInputError(f"pairs need at least two classes, found {only}", where=where)


def uniform_pairs(labels, count, rng):
    """DIGITS' pairing: both images drawn uniformly with replacement (an image may pair
    with itself). labels: (N,) int; returns (left, right) (count,) int64."""
    n = len(labels)
    return rng.integers(0, n, count), rng.integers(0, n, count)


def balanced_pairs(labels, count, positive_fraction, rng):
    """round(positive_fraction * count) same-class pairs, the rest different-class, shuffled.

    The left image is uniform over all images; a same-class partner is uniform over
    the other images of its class (itself only when it is alone in it), a
    different-class partner uniform over the images of every other class.
    Returns (left, right) (count,) int64.
    """
    positives = int(round(positive_fraction * count))
    order = np.argsort(labels, kind="stable")           # image indices grouped by class
    classes, starts, sizes = np.unique(labels[order], return_index=True, return_counts=True)
    rank = np.empty(len(labels), np.int64)
    rank[order] = np.arange(len(labels))                # position of each image in `order`
    left = rng.integers(0, len(labels), count)
    cls = np.searchsorted(classes, labels[left])
    right = np.empty(count, np.int64)
    right[:positives] = _same_class_partner(left[:positives], cls[:positives], starts, sizes,
                                            order, rank, rng)
    right[positives:] = _other_class_partner(cls[positives:], starts, sizes, order, rng)
    shuffle = rng.permutation(count)
    return left[shuffle], right[shuffle]


def _same_class_partner(left, cls, starts, sizes, order, rank, rng):
    """A uniform other image of each left image's class (itself when alone)."""
    others = np.maximum(sizes[cls] - 1, 1)
    offset = (rng.random(len(left)) * others).astype(np.int64)
    own = rank[left] - starts[cls]
    offset += (offset >= own) & (sizes[cls] > 1)         # skip the left image itself
    return order[starts[cls] + offset]


def _other_class_partner(cls, starts, sizes, order, rng):
    """A uniform image from any class but `cls`, for each entry of cls."""
    total = int(sizes.sum())
    position = (rng.random(len(cls)) * (total - sizes[cls])).astype(np.int64)
    position += (position >= starts[cls]) * sizes[cls]  # jump over the own class's block
    return order[position]


def held_out_split(labels, fraction, rng, where="--val-fraction"):
    """Stratified split of image indices: (train (N-M,), held_out (M,)) sorted int64 arrays.

    Each class gives round(fraction * its size) images, at least one, while leaving it
    at least one training image; BadInputError when the split would empty a side.
    """
    if not 0.0 < fraction < 1.0:
        raise BadInputError(f"must be between 0 and 1 (exclusive), got {fraction}", where=where)
    held = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = min(max(int(round(fraction * len(members))), 1), len(members) - 1)
        held.append(rng.choice(members, take, replace=False))
    held = np.sort(np.concatenate(held))
    train = np.setdiff1d(np.arange(len(labels)), held)
    if len(held) == 0 or len(train) == 0:
        raise BadInputError("too few images to hold some out for validation; give a "
                            "separate validation set", where=where)
    return train, held
