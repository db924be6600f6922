"""The picture of a network's topology (DIGITS' "Visualize"), with Caffe's caffe.draw.

caffe.draw lays the net out with pydot and renders it with graphviz's `dot`.
"""

import shutil

from ..errors import SiameseCaffeError
from ..runtime import atomic_files, caffe_env

PHASES = ("train", "test", "all")
RANKDIRS = ("LR", "TB", "BT", "RL")


class GraphvizMissingError(SiameseCaffeError):
    """graphviz's dot program is not installed."""


def draw_net(net, png_path, phase="train", rankdir="LR"):
    """Render NetParameter `net` to `png_path` (any graphviz format by its extension).

    phase: "train" or "test" shows the layers of that phase only (Caffe's include/exclude
    rules), "all" every layer. rankdir: graphviz direction (LR = left to right).
    Written through a temporary file. Returns png_path.
    """
    if shutil.which("dot") is None:
        raise GraphvizMissingError("graphviz's `dot` program is missing "
                                   "(install it: apt-get install graphviz)")
    caffe = caffe_env.import_caffe()
    import caffe.draw

    caffe_phase = {"train": caffe.TRAIN, "test": caffe.TEST, "all": None}[phase]
    with atomic_files.replacing(png_path) as tmp:
        caffe.draw.draw_net_to_file(net, tmp, rankdir, caffe_phase)
    return png_path
