"""How well an embedding separates classes: pair verification and neighbour metrics.

Pair metrics take `distances` (N,) float (L2 distance of each pair's two features)
and `same` (N,) bool (the pair's digits are of one class). A pair is called
"same" when its distance is below a threshold, so a smaller distance is a
stronger "same" score. Neighbour metrics take (N, D) float feature arrays and
(N,) int class labels.
"""

import numpy as np


def accuracy_at(distances, same, threshold):
    """Share of pairs classified right by `distance < threshold` (float in [0, 1])."""
    return float(np.mean((np.asarray(distances) < threshold) == np.asarray(same, bool)))


def best_threshold(distances, same):
    """(threshold, accuracy) maximising accuracy_at over every cut between sorted distances.

    The threshold is the midpoint between the two distances the cut falls between
    (below the smallest / above the largest at the ends).
    """
    order = np.argsort(distances, kind="stable")
    d = np.asarray(distances, np.float64)[order]
    s = np.asarray(same, bool)[order]
    # correct(k) when the first k sorted pairs are called "same": same among them + different after
    correct = np.concatenate([[0], np.cumsum(s)]) + \
        np.concatenate([np.cumsum((~s)[::-1])[::-1], [0]])
    valid = np.concatenate([[True], d[1:] > d[:-1], [True]])   # cuts between distinct values
    k = int(np.argmax(np.where(valid, correct, -1)))
    if k == 0:
        threshold = d[0] - 1e-6 if len(d) else 0.0
    elif k == len(d):
        threshold = d[-1] + 1e-6
    else:
        threshold = (d[k - 1] + d[k]) / 2
    return float(threshold), float(correct[k] / len(d)) if len(d) else 0.0


def roc_curve(distances, same):
    """(false positive rate, true positive rate, thresholds) as threshold rises through the
    distinct distances; arrays start at (0, 0) and end at (1, 1). "Positive" = same class."""
    same = np.asarray(same, bool)
    order = np.argsort(distances, kind="stable")
    d = np.asarray(distances, np.float64)[order]
    s = same[order]
    last_of_value = np.concatenate([d[1:] > d[:-1], [True]])
    tp = np.cumsum(s)[last_of_value]
    fp = np.cumsum(~s)[last_of_value]
    positives, negatives = max(int(s.sum()), 1), max(int((~s).sum()), 1)
    tpr = np.concatenate([[0.0], tp / positives])
    fpr = np.concatenate([[0.0], fp / negatives])
    thresholds = np.concatenate([[d[0] if len(d) else 0.0], d[last_of_value]])
    return fpr, tpr, thresholds


def roc_auc(distances, same):
    """Area under the ROC curve: the chance that a random same-class pair is closer than a
    random different-class pair (ties count half); NaN without both kinds of pair."""
    same = np.asarray(same, bool)
    if same.all() or not same.any():
        return float("nan")
    from scipy.stats import rankdata

    ranks = rankdata(-np.asarray(distances, np.float64))   # average ranks; high = close pair
    positives, negatives = same.sum(), (~same).sum()
    return float((ranks[same].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def equal_error_rate(distances, same):
    """(EER, threshold): where the false accept rate equals the false reject rate, linearly
    interpolated on the ROC curve (false reject = 1 − true positive rate)."""
    fpr, tpr, thresholds = roc_curve(distances, same)
    fnr = 1.0 - tpr
    gap = fpr - fnr                      # rises from -1 to +1 along the curve
    k = int(np.argmax(gap >= 0))
    if k == 0:
        return float(fpr[0]), float(thresholds[0])
    w = -gap[k - 1] / (gap[k] - gap[k - 1])
    eer = fpr[k - 1] + w * (fpr[k] - fpr[k - 1])
    return float(eer), float(thresholds[k - 1] + w * (thresholds[k] - thresholds[k - 1]))


def knn_predict(reference, reference_labels, queries, k=5):
    """Class of each query by majority vote of its k nearest reference features (L2);
    ties go to the class of the nearest tied neighbour. Returns (M,) int64."""
    from scipy.spatial import cKDTree

    k = min(int(k), len(reference))
    _, index = cKDTree(np.asarray(reference, np.float64)).query(
        np.asarray(queries, np.float64), k=k)
    votes = np.asarray(reference_labels)[np.asarray(index).reshape(len(queries), k)]
    predicted = np.empty(len(queries), np.int64)
    for row, neighbours in enumerate(votes):
        predicted[row] = majority_vote(neighbours)
    return predicted


def majority_vote(neighbours):
    """The most common of the labels `neighbours` (nearest first); a tie goes to the class
    of the nearest tied neighbour. (K,) int → int."""
    classes, counts = np.unique(np.asarray(neighbours), return_counts=True)
    tied = set(classes[counts == counts.max()].tolist())
    return int(next(c for c in neighbours if c in tied))


def class_spreads(points, labels):
    """Per class: {label: {count, centroid [D], spread}} where spread is the root mean
    square distance of the class's points to its centroid."""
    points = np.asarray(points, np.float64)
    result = {}
    for cls in np.unique(labels):
        members = points[np.asarray(labels) == cls]
        centroid = members.mean(axis=0)
        spread = np.sqrt(((members - centroid) ** 2).sum(axis=1).mean())
        result[int(cls)] = {"count": int(len(members)), "centroid": centroid.tolist(),
                            "spread": float(spread)}
    return result

