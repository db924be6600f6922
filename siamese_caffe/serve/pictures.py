"""The pictures the pages show, made in memory and sent inline as data: URIs (never kept on disk):
a network drawing, per-blob visualizations of one image, the two features of a pair on
one plot, and the Test Many cluster plot. None of it needs Flask."""

import base64
import os
import tempfile

import numpy as np

from . import creation


def data_uri(png_bytes, kind="image/png"):
    """`data:image/png;base64,...` of the bytes of a picture."""
    return f"data:{kind};base64,{base64.b64encode(png_bytes).decode('ascii')}"


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def _png(array):
    from ..data import image_io
    return image_io.encode_png(array)


def draw_network(text):
    """PNG bytes of a custom_network's picture (checked as the form checks it first)."""
    from ..net import drawnet, netcheck

    net = creation.check_network_text(text)
    netcheck.check_structure(net, creation.NETWORK_FIELD)
    with tempfile.TemporaryDirectory(prefix="siamese-draw-") as tmp:
        path = os.path.join(tmp, "network.png")
        drawnet.draw_net(net, path, phase="all")
        return read_bytes(path)


def visualize(loaded, source, where):
    """{"blobs": [(name, shape, data URI)], "filters": (layer, URI) or None, "stats": dict}:
    what `infer --visualize` writes, for one image through a netcache.LoadedNet."""
    from ..infer import visualize as pictures

    net_input, _ = loaded.embedder.load(source, where)
    with loaded.running() as embedder:
        net = embedder.forward(net_input[None])
        blobs = [(name, list(blob.data.shape),
                  data_uri(_png(pictures.channel_grid(pictures.item_channels(blob.data)))))
                 for name, blob in net.blobs.items()]
        conv = pictures.first_convolution(net)
        filters = None if conv is None else (
            conv, data_uri(_png(pictures.filter_grid(net.params[conv][0].data))))
        stats = pictures.net_statistics(net)
    return {"blobs": blobs, "filters": filters, "stats": stats}


def two_points(left, right, half=100, pad=10):
    """SVG coordinates of the two features (their first two components) on one square
    plot centred on the origin: {"left": (x, y), "right": (x, y), "size", "centre"}."""
    flat = [list(left) + [0.0] * (2 - len(left)), list(right) + [0.0] * (2 - len(right))]
    reach = max(max(abs(v) for v in point[:2]) for point in flat) * 1.25 or 1.0
    centre = half + pad

    def place(point):
        return (round(centre + point[0] / reach * half, 1),
                round(centre - point[1] / reach * half, 1))
    return {"left": place(flat[0]), "right": place(flat[1]), "size": 2 * centre,
            "centre": centre, "reach": reach}


def cluster_plot(rows, job):
    """The Test Many cluster plot (infer.clusters) of answers.many_rows as a data URI, or
    None without rows."""
    from ..data.image_list import UNLABELLED
    from ..infer import clusters

    if not rows:
        return None
    points = np.asarray([row["left"] for row in rows], np.float64)
    labels = np.asarray([UNLABELLED if row["label"] is None else row["label"]
                         for row in rows], np.int64)
    with tempfile.TemporaryDirectory(prefix="siamese-clusters-") as tmp:
        path = os.path.join(tmp, "clusters.png")
        clusters.plot_clusters(points, labels, path, title=f"feature clusters, job {job.job_id}")
        return data_uri(read_bytes(path))
