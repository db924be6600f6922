"""infer-many: every image of a list through a job's net, in batches, and the files it writes.

The list is DIGITS' "image list": one image per line, a path optionally followed
by an integer class label (`train/3/00012.png 3`, as train.txt / val.txt), blank
lines skipped. Relative paths are resolved against `image_folder`, or the list's
folder. Images that are missing, unreadable or of the wrong size are skipped with
a warning and counted (as DIGITS did), or with strict=True the first one stops
the run (BadInputError naming the list line).

Two files hold the result:

- predictions CSV: `path,label,grayscale,distance,left_0..left_{D-1},right_0..`
  (path as written in the list, label empty when the line had none);
- JSON in the shape of DIGITS' infer_many answer:
  `{"outputs": {path: {left_blob: [D floats], right_blob: [D floats]}}}`.

`read_predictions` loads either back for plot-clusters.
"""

import csv
import io
import json
from dataclasses import dataclass, field

import numpy as np

from ..errors import BadInputError
from ..runtime import atomic_files, input_files
from ..runtime.progress import bar as progress_bar
from ..data import image_list
from ..data.image_list import UNLABELLED
from . import embedding



@dataclass
class ListEntry:
    """One list line: the path as written, the file it names, its label (None) and line."""

    written: str
    resolved: str
    label: object
    where: str


@dataclass
class Predictions:
    """Features of a list's images, in list order (skipped images left out).

    paths: list of str as written. labels: (N,) int64, UNLABELLED where absent.
    grayscale: (N,) bool. left, right: (N, D) float32. feature_blobs: (left, right)
    blob names. skipped: [(where, reason)] of the images left out.
    """

    paths: list
    labels: np.ndarray
    grayscale: np.ndarray
    left: np.ndarray
    right: np.ndarray
    feature_blobs: tuple = ("left", "right")
    skipped: list = field(default_factory=list)

    @property
    def distances(self):
        """(N,) float64 L2 distance between each image's left and right features."""
        return embedding.distance(self.left, self.right)

    @property
    def labelled(self):
        """Whether every image has a class label."""
        return len(self.labels) > 0 and bool((self.labels != UNLABELLED).all())


def read_image_list(list_path, image_folder=None):
    """The entries of an image list (BadInputError for an unreadable or empty list)."""
    base = image_list.list_folder(list_path, image_folder)
    return [ListEntry(line.written, image_list.resolve(line.written, base), line.label,
                      f"{list_path}:{line.number}")
            for line in image_list.list_lines(image_list.read_lines(list_path), list_path)]


def infer_list(embedder, entries, strict=False, warn=None, progress=False):
    """Run every entry's image through `embedder` (embedding.Embedder), batch by batch.

    Returns Predictions. warn: callable(str) told about each skipped image.
    progress: show a tqdm bar on stderr.
    """
    warn = warn or (lambda message: None)
    kept, flags, pairs, lefts, rights, skipped = [], [], [], [], [], []

    def flush():
        if pairs:
            left, right = embedder.embed_loaded(np.stack(pairs), flags[-len(pairs):])
            lefts.append(left)
            rights.append(right)
            pairs.clear()

    for entry in progress_bar(entries, desc="infer-many", unit="image", disable=not progress):
        try:
            pair, grayscale = embedder.read(entry.resolved)
        except BadInputError as err:
            if strict:
                raise BadInputError(str(err), where=entry.where) from None
            skipped.append((entry.where, str(err)))
            warn(f"warning: {entry.where}: skipped ({err})")
            continue
        kept.append(entry)
        flags.append(grayscale)
        pairs.append(pair)
        if len(pairs) == embedder.batch_size:
            flush()
    flush()
    return _collect(embedder, kept, flags, lefts, rights, skipped)


def _collect(embedder, kept, flags, lefts, rights, skipped):
    dim = embedder.job.feature_dim
    empty = np.zeros((0, dim), np.float32)
    labels = np.array([UNLABELLED if e.label is None else e.label for e in kept], np.int64)
    return Predictions([e.written for e in kept], labels, np.array(flags, bool),
                       np.concatenate(lefts) if lefts else empty,
                       np.concatenate(rights) if rights else empty,
                       tuple(embedder.feature_blobs), skipped)


def write_csv(predictions, path):
    """The predictions CSV (written through a temporary file)."""
    dim = predictions.left.shape[1]
    header = (["path", "label", "grayscale", "distance"] + [f"left_{k}" for k in range(dim)]
              + [f"right_{k}" for k in range(dim)])
    with atomic_files.open_replacing(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for k, written in enumerate(predictions.paths):
            label = predictions.labels[k]
            writer.writerow([written, "" if label == UNLABELLED else int(label),
                             int(predictions.grayscale[k]), _num(predictions.distances[k])]
                            + [_num(v) for v in predictions.left[k]]
                            + [_num(v) for v in predictions.right[k]])


def digits_json(predictions):
    """DIGITS' infer_many answer: {"outputs": {path: {blob: [values]}}}."""
    left_name, right_name = predictions.feature_blobs
    return {"outputs": {p: {left_name: predictions.left[k].tolist(),
                            right_name: predictions.right[k].tolist()}
                        for k, p in enumerate(predictions.paths)}}


def write_json(predictions, path):
    """digits_json written to `path` (through a temporary file)."""
    with atomic_files.open_replacing(path, "w") as f:
        json.dump(digits_json(predictions), f, indent=1)
        f.write("\n")


def read_predictions(path):
    """Predictions from a predictions CSV, or from a DIGITS-shaped JSON (no labels; the first
    output blob is taken as the left features, the second as the right)."""
    if path.lower().endswith(".json"):
        return _read_json(path)
    return _read_csv(path)


def _read_csv(path):
    text = input_files.read_text(path, input_files.LIST_LIMIT, what="predictions")
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as err:
        raise BadInputError(f"cannot read predictions ({err})", where=path) from None
    if not rows or "left_0" not in rows[0] or "path" not in rows[0]:
        raise BadInputError("not an infer-many predictions CSV (expected columns path, label, "
                            "left_0, ...)", where=path)
    left_cols = sorted((c for c in rows[0] if c.startswith("left_")), key=_col_index)
    right_cols = sorted((c for c in rows[0] if c.startswith("right_")), key=_col_index)
    try:
        left = np.array([[float(r[c]) for c in left_cols] for r in rows], np.float32)
        right = np.array([[float(r[c]) for c in right_cols] for r in rows], np.float32)
        labels = np.array([int(r["label"]) if r.get("label") else UNLABELLED for r in rows],
                          np.int64)
    except (ValueError, TypeError, OverflowError) as err:
        raise BadInputError(f"bad value in predictions ({err})", where=path) from None
    grayscale = np.array([r.get("grayscale") == "1" for r in rows], bool)
    return Predictions([r["path"] for r in rows], labels, grayscale, left, right)


def _read_json(path):
    text = input_files.read_text(path, input_files.LIST_LIMIT, what="predictions")
    try:
        outputs = json.loads(text)["outputs"]
        paths = list(outputs)
        names = list(outputs[paths[0]]) if paths else ["left", "right"]
        left = np.array([outputs[p][names[0]] for p in paths], np.float32).reshape(len(paths), -1)
        right = np.array([outputs[p][names[-1]] for p in paths], np.float32).reshape(len(paths), -1)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise BadInputError(f"not a DIGITS infer-many JSON ({err!r})", where=path) from None
    labels = np.full(len(paths), UNLABELLED, np.int64)
    return Predictions(paths, labels, np.zeros(len(paths), bool), left, right,
                       (names[0], names[-1]))


def _col_index(name):
    return int(name.rsplit("_", 1)[1])


def _num(value):
    return f"{float(value):.7g}"
