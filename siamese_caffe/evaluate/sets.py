"""The labelled digits evaluate embeds: the training images (k-NN reference) and the
validation images (queries), found again from a create-db dataset.json.

create-db records where its images came from (manifest "source"):

    train       "list: /abs/train.txt" | "built-in: ..." | "idx: /abs/train-images-idx3-ubyte.gz + ..."
    validation  "separate set" (then val names the source the same way) or
                "held-out split" (then held_out lists the held-out paths or indices)

`dataset_image_sets` reloads those sources as image_sources.ImageSets. A list
given by the user (`--list`, `--reference`) replaces the default.
"""

import os

import numpy as np

from ..errors import BadInputError
from ..data import image_sources


def dataset_image_sets(manifest, where):
    """(reference ImageSet = the training images, query ImageSet = the validation images).

    manifest: dataset.json as a dict; where: its path, for messages. BadInputError
    when the sources cannot be found again (then give --list and --reference).
    """
    source = manifest.get("source") or {}
    train = load_source(source.get("train", ""), where)
    if source.get("validation") == "separate set":
        return train, load_source(source.get("val", ""), where)
    held = source.get("held_out")
    if source.get("validation") != "held-out split" or not isinstance(held, dict):
        raise BadInputError("does not say where its validation images came from; give "
                            "--list and --reference", where=where)
    mask = held_out_mask(train, held, where)
    return (train.subset(np.flatnonzero(~mask), train.description),
            train.subset(np.flatnonzero(mask), f"held out of {train.description}"))


def load_source(description, where):
    """The ImageSet a create-db source description names (see the module docstring)."""
    if description.startswith("list: "):
        return image_sources.from_list_file(_existing(description[len("list: "):], where))
    if description.startswith("built-in"):
        return image_sources.builtin_mnist()
    if description.startswith("idx: "):
        first = _existing(description[len("idx: "):].split(" + ")[0], where)
        part = "t10k" if os.path.basename(first).startswith("t10k") else "train"
        return image_sources.from_idx_folder(os.path.dirname(first), part)
    raise BadInputError(f"unknown image source {description!r}; give --list and --reference",
                        where=where)


def held_out_mask(image_set, held, where):
    """(N,) bool: which images of `image_set` the held_out record names (paths or indices)."""
    mask = np.zeros(len(image_set), bool)
    if "indices" in held:
        indices = np.asarray(held["indices"], np.int64)
        if len(indices) and (indices.min() < 0 or indices.max() >= len(image_set)):
            raise BadInputError("held-out indices do not fit the image source (has it "
                                "changed since create-db?)", where=where)
        mask[indices] = True
    elif "paths" in held and image_set.paths is not None:
        wanted = set(held["paths"])
        mask[:] = [p in wanted for p in image_set.paths]
    else:
        raise BadInputError("held-out images are not listed; give --list and --reference",
                            where=where)
    if not mask.any() or mask.all():
        raise BadInputError("the held-out images are not found in the image source",
                            where=where)
    return mask


def _existing(path, where):
    if not os.path.exists(path):
        raise BadInputError(f"the dataset's image source {path} is gone; give --list and "
                            "--reference", where=where)
    return path
