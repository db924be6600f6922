"""The pair plots of an evaluation report: the ROC curve and the distance histograms.

Both take `distances` (N,) float and `same` (N,) bool of the validation pairs and
the report's "pairs" dict (metrics.py numbers), and write a PNG through a
temporary file.
"""


import numpy as np

from ..runtime import atomic_files
from . import metrics


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_roc(distances, same, pairs, png_path):
    """ROC of `distance < threshold` as "same class": true against false positive rate,
    with the equal-error point marked."""
    plt = _pyplot()
    fpr, tpr, _ = metrics.roc_curve(distances, same)
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=100)
    auc = pairs["roc_auc"]
    ax.plot(fpr, tpr, label="AUC n/a" if auc is None else f"AUC {auc:.4f}")
    ax.plot([0, 1], [0, 1], ":", color="0.6", label="chance")
    eer = pairs["equal_error_rate"]
    ax.plot([eer], [1 - eer], "o", label=f"EER {100 * eer:.2f} %")
    ax.set_xlabel("false positive rate (different classes called same)")
    ax.set_ylabel("true positive rate (same class called same)")
    ax.set_title(f"validation pairs ({pairs['count']})")
    ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    atomic_files.save_figure(fig, png_path)


def plot_distances(distances, same, pairs, png_path):
    """Histograms of same-class and different-class pair distances, with the threshold and
    the best threshold drawn as vertical lines."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    bins = np.linspace(0, max(float(np.max(distances)), pairs["threshold"]) * 1.02, 50)
    ax.hist(distances[same], bins=bins, alpha=0.6, label=f"same class ({int(same.sum())})")
    ax.hist(distances[~same], bins=bins, alpha=0.6,
            label=f"different classes ({int((~same).sum())})")
    ax.axvline(pairs["threshold"], color="k", linestyle="--",
               label=f"threshold {pairs['threshold']:.3g}: {100 * pairs['accuracy']:.1f} %")
    ax.axvline(pairs["best_threshold"], color="r", linestyle=":",
               label=f"best {pairs['best_threshold']:.3g}: {100 * pairs['best_accuracy']:.1f} %")
    ax.set_xlabel("L2 distance between the two features")
    ax.set_ylabel("pairs")
    ax.set_title("validation pair distances")
    ax.legend()
    atomic_files.save_figure(fig, png_path)
