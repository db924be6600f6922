"""loss.png: training and validation loss against epochs, like DIGITS' job chart."""

from ..runtime import atomic_files
from . import trainlog


def plot_loss(train_log_path, png_path, title=None):
    """Draw train_log.csv's train and val loss (y) against epoch (x) into `png_path`.

    Written through a temporary file, so the PNG is always whole. Returns png_path.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = trainlog.read_rows(train_log_path)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for phase, style, label in (("train", "-", "loss (train)"), ("val", "o-", "loss (val)")):
        points = [(r["epoch"], r["loss"]) for r in rows if r["phase"] == phase]
        if points:
            xs, ys = zip(*points)
            ax.plot(xs, ys, style, label=label, markersize=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("contrastive loss")
    ax.set_title(title or "training loss")
    ax.grid(True, alpha=0.3)
    if rows:
        ax.legend()
    atomic_files.save_figure(fig, png_path)
    return png_path
