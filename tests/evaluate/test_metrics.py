"""Pair and neighbour metrics, against values worked out by hand."""

import numpy as np
import pytest

from siamese_caffe.evaluate import metrics

# six pairs sorted by distance; same-class pairs at 0.1, 0.2 and 0.4
D = np.array([0.4, 0.1, 0.6, 0.3, 0.2, 0.5])
SAME = np.array([True, True, False, False, True, False])


def test_accuracy_at_a_threshold():
    # below 0.35: 0.1 0.2 0.3 called same -> 0.3 is wrong, 0.4 (same) is wrong
    assert metrics.accuracy_at(D, SAME, 0.35) == pytest.approx(4 / 6)
    assert metrics.accuracy_at(D, SAME, 0.0) == pytest.approx(3 / 6)


def test_best_threshold_is_the_first_cut_with_most_pairs_right():
    # cutting after 0.2 or after 0.4 both get 5 of 6 right; the first is taken
    threshold, accuracy = metrics.best_threshold(D, SAME)
    assert threshold == pytest.approx(0.25) and accuracy == pytest.approx(5 / 6)
    assert metrics.accuracy_at(D, SAME, threshold) == pytest.approx(accuracy)


def test_best_threshold_never_splits_equal_distances():
    d, same = np.array([0.5, 0.5, 0.9]), np.array([True, False, False])
    threshold, accuracy = metrics.best_threshold(d, same)
    assert accuracy == pytest.approx(2 / 3)
    assert metrics.accuracy_at(d, same, threshold) == pytest.approx(accuracy)


def test_roc_auc_counts_closer_same_class_pairs():
    # same {0.1, 0.2, 0.4} vs different {0.3, 0.5, 0.6}: 3 + 3 + 2 of 9 comparisons
    assert metrics.roc_auc(D, SAME) == pytest.approx(8 / 9)
    assert metrics.roc_auc(np.array([0.5, 0.5]), np.array([True, False])) == 0.5
    assert np.isnan(metrics.roc_auc(D, np.ones(6, bool)))


def test_equal_error_rate_where_false_accepts_equal_false_rejects():
    # at threshold 0.3 (inclusive): 1 of 3 different pairs accepted, 1 of 3 same rejected
    eer, threshold = metrics.equal_error_rate(D, SAME)
    assert eer == pytest.approx(1 / 3) and threshold == pytest.approx(0.3)


def test_perfectly_separated_pairs():
    d = np.array([0.1, 0.2, 0.8, 0.9])
    same = np.array([True, True, False, False])
    assert metrics.roc_auc(d, same) == 1.0
    assert metrics.equal_error_rate(d, same)[0] == pytest.approx(0.0)
    assert metrics.best_threshold(d, same) == (pytest.approx(0.5), 1.0)
    fpr, tpr, _ = metrics.roc_curve(d, same)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)


def test_knn_votes_with_the_nearest_breaking_ties():
    reference = np.array([[0.0, 0], [0.1, 0], [0.2, 0], [1.0, 0], [1.1, 0], [1.2, 0]])
    labels = np.array([0, 0, 0, 1, 1, 1])
    queries = np.array([[0.15, 0], [0.9, 0], [0.62, 0]])
    assert metrics.knn_predict(reference, labels, queries, k=3).tolist() == [0, 1, 1]
    # k = 2 at 0.55: neighbours 0.2 (class 0, 0.35 away) and 1.0 (class 1, 0.45): tie -> nearest
    assert metrics.knn_predict(reference, labels, np.array([[0.55, 0]]), k=2).tolist() == [0]
    # k larger than the reference: all of it votes
    assert metrics.knn_predict(reference[:3], labels[:3], queries, k=10).tolist() == [0, 0, 0]


def test_class_spreads_give_centroid_and_rms_distance():
    points = np.array([[0.0, 0], [2, 0], [5, 5], [5, 7]])
    spreads = metrics.class_spreads(points, np.array([3, 3, 8, 8]))
    assert spreads[3] == {"count": 2, "centroid": [1.0, 0.0], "spread": 1.0}
    assert spreads[8]["centroid"] == [5.0, 6.0] and spreads[8]["spread"] == pytest.approx(1.0)
