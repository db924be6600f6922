"""prepare-mnist: digits written out in DIGITS' layout, so create-db can start from a list.

    FOLDER/train/<label>/<index>.png   one grayscale PNG per image (index zero-padded, 5 digits)
    FOLDER/val/<label>/<index>.png
    FOLDER/train.txt, FOLDER/val.txt   `train/<label>/<index>.png <label>` per line
    FOLDER/labels.txt                  the class names, one per line (DIGITS' labels.txt)
    FOLDER/prepared.json               counts and where the digits came from

List paths are relative to FOLDER (create-db resolves them against the list's folder).
The folder is built beside the target and renamed at the end.
"""

import json
import os

import numpy as np

from ..runtime import staging
from ..runtime.progress import bar as progress_bar
from . import image_io, pairs

KIND = "mnist"     # the output guard's name for a prepare-mnist folder (staging.py)
INDEX_DIGITS = 5   # as DIGITS' MNIST download: 00000.png ...


def prepare_mnist(output_dir, train_set, val_set=None, *, val_fraction=0.1, seed=0, force=False,
                  progress=False):
    """Write train_set (and val_set, or a stratified held-out share of train_set) as PNG
    folders plus train.txt / val.txt / labels.txt; returns the summary written to prepared.json.
    """
    staging.check_free(output_dir, force, kind=KIND)
    if val_set is None:
        rng = np.random.default_rng(seed)
        train_idx, held = pairs.held_out_split(train_set.labels, val_fraction, rng)
        train_set, val_set = (train_set.subset(train_idx, train_set.description),
                              train_set.subset(held, f"held out of {train_set.description}"))
    with staging.staged_folder(output_dir, force, kind=KIND) as work:
        summary = {"train": _write_part(work, "train", train_set, progress),
                   "val": _write_part(work, "val", val_set, progress)}
        classes = np.union1d(train_set.labels, val_set.labels)
        with open(os.path.join(work, "labels.txt"), "w") as f:
            f.writelines(f"{c}\n" for c in classes)
        summary["classes"] = [int(c) for c in classes]
        with open(os.path.join(work, "prepared.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def _write_part(folder, part, image_set, progress):
    """PNG files and `<part>.txt` for one ImageSet; its summary entry."""
    lines = []
    for label in np.unique(image_set.labels):
        os.makedirs(os.path.join(folder, part, str(label)))
    for index in progress_bar(range(len(image_set)), desc=part, unit="image", disable=not progress):
        label = int(image_set.labels[index])
        relative = f"{part}/{label}/{index:0{INDEX_DIGITS}d}.png"
        image_io.write_png(os.path.join(folder, relative), image_set.images[index])
        lines.append(f"{relative} {label}\n")
    with open(os.path.join(folder, f"{part}.txt"), "w") as f:
        f.writelines(lines)
    return {"images": len(image_set), "list": f"{part}.txt", "source": image_set.description}
