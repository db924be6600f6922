"""The embedding as a scatter plot coloured by class: DIGITS' feature_clusters figure.

Points are (N, D) features. Two-dimensional features are drawn as they are;
features of more dimensions are projected onto their first two principal
components (PCA) and the figure's title says so and how much variance the two
components keep; one-dimensional features are drawn on a line.
"""


import numpy as np

from ..runtime import atomic_files
from ..data.image_list import UNLABELLED

COLOURS = "tab10"   # matplotlib's 10 distinct colours, one per MNIST digit


def project_2d(points):
    """(N, D) features → ((N, 2) float64 coordinates, note or None).

    D = 2: unchanged. D > 2: PCA onto the two leading components (note gives the share
    of variance kept). D = 1: the value against 0.
    """
    points = np.asarray(points, np.float64)
    dim = points.shape[1]
    if dim == 2:
        return points, None
    if dim == 1:
        return np.column_stack([points[:, 0], np.zeros(len(points))]), "1-D features"
    centred = points - points.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    variance = singular ** 2
    kept = variance[:2].sum() / variance.sum() if variance.sum() > 0 else 1.0
    note = f"PCA projection of {dim}-D features ({100 * kept:.0f} % of variance)"
    return centred @ axes[:2].T, note


def plot_clusters(points, labels, png_path, title="feature clusters"):
    """Draw (N, D) `points` coloured by (N,) int `labels` (UNLABELLED: grey) into png_path.

    A legend names each class with its count. Written through a temporary file;
    returns the projection note (None for 2-D features).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xy, note = project_2d(points)
    labels = np.asarray(labels)
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=100)
    cmap = plt.get_cmap(COLOURS)
    for k, cls in enumerate(np.unique(labels)):
        chosen = labels == cls
        colour = "0.6" if cls == UNLABELLED else cmap(k % cmap.N)
        name = "unlabelled" if cls == UNLABELLED else str(cls)
        ax.scatter(xy[chosen, 0], xy[chosen, 1], s=6, alpha=0.7, color=colour,
                   label=f"{name} ({int(chosen.sum())})")
    ax.set_title(title + (f"\n{note}" if note else ""))
    ax.set_xlabel("component 1" if note else "feature 0")
    ax.set_ylabel("component 2" if note else "feature 1")
    ax.legend(title="class", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2.5,
              fontsize=8)
    ax.grid(True, alpha=0.3)
    atomic_files.save_figure(fig, png_path)
    return note
