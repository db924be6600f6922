"""Pair sampling and the held-out split."""

import numpy as np
import pytest

from siamese_caffe.data import pairs
from siamese_caffe.errors import BadInputError

LABELS = np.repeat(np.arange(10), [50, 60, 40, 50, 55, 45, 50, 50, 30, 70])


def test_uniform_pairs_give_about_one_in_ten_same_class_like_digits():
    left, right = pairs.uniform_pairs(LABELS, 20000, np.random.default_rng(0))
    share = np.mean(LABELS[left] == LABELS[right])
    assert 0.09 < share < 0.115
    assert left.min() >= 0 and max(left.max(), right.max()) < len(LABELS)


@pytest.mark.parametrize("fraction", [0.0, 0.5, 0.37, 1.0])
def test_balanced_pairs_have_the_exact_share_and_valid_partners(fraction):
    left, right = pairs.balanced_pairs(LABELS, 1000, fraction, np.random.default_rng(1))
    same = LABELS[left] == LABELS[right]
    assert same.sum() == round(fraction * 1000)
    assert not (left[same] == right[same]).any()          # never an image with itself
    if 0 < fraction < 1:
        assert not same[:50].all() and same[:200].any()   # shuffled, not blocks
    partner_classes = np.bincount(LABELS[right[~same]], minlength=10)
    assert (partner_classes > 0).sum() == 10 if fraction < 1 else True


def test_lone_image_of_a_class_pairs_with_itself():
    labels = np.array([0, 1, 1, 1])
    left, right = pairs.balanced_pairs(labels, 200, 1.0, np.random.default_rng(2))
    assert (labels[left] == labels[right]).all()
    assert (right[left == 0] == 0).all()


def test_held_out_split_is_stratified_and_disjoint():
    train, held = pairs.held_out_split(LABELS, 0.1, np.random.default_rng(3))
    assert not np.intersect1d(train, held).size and len(train) + len(held) == len(LABELS)
    assert np.bincount(LABELS[held]).tolist() == [5, 6, 4, 5, 6, 4, 5, 5, 3, 7]


def test_fewer_than_two_classes_is_refused():
    with pytest.raises(BadInputError, match="only class 3"):
        pairs.check_classes(np.array([3, 3, 3]), where="list.txt")
