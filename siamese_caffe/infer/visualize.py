"""What DIGITS showed under "visualizations and statistics" for one inferred image.

After a forward pass of one pair (`inference.Embedder.forward`), `write_visualizations`
fills a folder with:

    blobs/<blob>.png    every blob's channels of that pair as a grid of tiles (so
                        `data_left` and `data_right` show the two digits pulled out
                        of the pair, conv1_left its 20 feature maps, ...); a vector
                        blob (N x C) is one tile of C pixels, row by row
    filters_<layer>.png the first convolution's filters, one tile per (output, input)
                        channel
    stats.json          per blob (activations) and per layer (weights, biases):
                        shape, mean, std, min, max and a 20-bin histogram
    stats.png           those histograms, one panel each

Tiles are scaled to 0-255 over the whole blob (so channels compare) and enlarged
with nearest-neighbour pixels; a blank line separates tiles.
"""

import json
import math
import os
import re

import numpy as np

from ..data import image_io
from ..runtime import atomic_files

KIND = "visualization"   # the output guard's name for an --visualize folder (staging.py)
HIST_BINS = 20
TARGET_TILE_PX = 64     # small tiles are enlarged to about this many pixels
MAX_GRID_PX = 800       # ... as long as the grid stays within this width


def write_visualizations(net, folder, item=0):
    """Write the pictures and statistics of `net` (a caffe.Net after forward) for batch
    entry `item` into the existing `folder`; returns the stats dict also in stats.json."""
    os.makedirs(os.path.join(folder, "blobs"), exist_ok=True)
    for name, blob in net.blobs.items():
        grid = channel_grid(item_channels(blob.data, item))
        save_gray(os.path.join(folder, "blobs", f"{safe_name(name)}.png"), grid)
    conv = first_convolution(net)
    if conv is not None:
        weights = net.params[conv][0].data
        save_gray(os.path.join(folder, f"filters_{safe_name(conv)}.png"), filter_grid(weights))
    stats = net_statistics(net, item)
    with open(os.path.join(folder, "stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
        f.write("\n")
    plot_statistics(stats, os.path.join(folder, "stats.png"))
    return stats


def item_channels(data, item=0):
    """One batch entry of a blob as (C, H, W): an (N, C, H, W) blob gives data[item], an
    (N, C) blob gives a single (1, rows, cols) tile holding its C values row by row
    (the last row padded with the smallest value)."""
    entry = np.asarray(data[item], np.float32)
    if entry.ndim >= 3:
        return entry.reshape((-1,) + entry.shape[-2:])
    flat = entry.reshape(-1)
    cols = max(1, math.ceil(math.sqrt(flat.size)))
    rows = math.ceil(flat.size / cols)
    tile = np.full(rows * cols, flat.min() if flat.size else 0.0, np.float32)
    tile[:flat.size] = flat
    return tile.reshape(1, rows, cols)


def channel_grid(channels):
    """(C, H, W) float → (rows·(h+1)−1, cols·(w+1)−1) uint8 grid of the C tiles, near-square,
    scaled to 0-255 over all channels and enlarged (h, w: the enlarged tile size)."""
    count, height, width = channels.shape
    cols = math.ceil(math.sqrt(count))
    rows = math.ceil(count / cols)
    scale = max(1, min(TARGET_TILE_PX // max(height, width),
                       MAX_GRID_PX // (cols * (max(height, width) + 1))))
    tiles = np.kron(to_uint8(channels), np.ones((1, scale, scale), np.uint8))
    h, w = tiles.shape[1:]
    grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), 255, np.uint8)
    for k in range(count):
        r, c = divmod(k, cols)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = tiles[k]
    return grid


def filter_grid(weights):
    """(O, I, kh, kw) convolution weights → uint8 grid with one tile per (output, input)."""
    return channel_grid(np.asarray(weights, np.float32).reshape((-1,) + weights.shape[-2:]))


def to_uint8(values):
    """Any float array scaled linearly so its min is 0 and its max 255 (all 128 when flat)."""
    low, high = float(np.min(values)), float(np.max(values))
    if not high > low:
        return np.full(values.shape, 128, np.uint8)
    return np.rint((values - low) * (255.0 / (high - low))).astype(np.uint8)


def first_convolution(net):
    """Name of the first Convolution layer with weights, or None."""
    for name, layer in zip(net._layer_names, net.layers):
        if layer.type == "Convolution" and name in net.params:
            return name
    return None


def summary(values):
    """{shape, mean, std, min, max, histogram {counts, edges}} of an array (floats in JSON)."""
    flat = np.asarray(values, np.float64).reshape(-1)
    counts, edges = np.histogram(flat, bins=HIST_BINS)
    return {"shape": list(np.shape(values)), "mean": float(flat.mean()),
            "std": float(flat.std()), "min": float(flat.min()), "max": float(flat.max()),
            "histogram": {"counts": counts.tolist(), "edges": edges.tolist()}}


def net_statistics(net, item=0):
    """{"blobs": {blob: summary of entry `item`}, "params": {layer: {"weights": summary,
    "bias": summary}}} in the net's order."""
    blobs = {name: summary(blob.data[item]) for name, blob in net.blobs.items()}
    params = {}
    for layer, blobs_of_layer in net.params.items():
        kinds = ("weights", "bias") + tuple(f"param{k}" for k in range(2, len(blobs_of_layer)))
        params[layer] = {kind: summary(b.data) for kind, b in zip(kinds, blobs_of_layer)}
    return {"item": item, "blobs": blobs, "params": params}


def plot_statistics(stats, png_path):
    """stats.png: a histogram panel per blob (activations) and per weight / bias blob."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(f"{name} (activations)", s) for name, s in stats["blobs"].items()]
    panels += [(f"{layer} {kind}", s) for layer, kinds in stats["params"].items()
               for kind, s in kinds.items()]
    cols = 4
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.4 * rows), dpi=80, squeeze=False)
    for ax, (title, s) in zip(axes.flat, panels):
        ax.stairs(s["histogram"]["counts"], s["histogram"]["edges"], fill=True)
        ax.set_title(f"{title}\nmean {s['mean']:.3g}  std {s['std']:.3g}", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    # fixed margins: tight_layout over ~40 panels takes seconds
    fig.subplots_adjust(left=0.04, right=0.99, top=1 - 0.5 / (2.4 * rows), bottom=0.02,
                        hspace=0.8, wspace=0.25)
    atomic_files.save_figure(fig, png_path, tight=False)


def save_gray(path, array):
    """Write an (H, W) uint8 array as a grayscale PNG."""
    image_io.write_png(path, array)


def safe_name(name):
    """A blob or layer name usable as a file name (other characters become '_')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)
