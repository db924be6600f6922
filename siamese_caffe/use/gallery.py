"""Galleries: a reference set embedded once by one snapshot, searched by nearest neighbours.

A gallery is a folder:

    gallery.json     the marker and the facts: format, job and snapshot identity
                     (job id and folder, snapshot iteration, SHA-256 of its .caffemodel,
                     of deploy.prototxt and of the mean), feature blob and size, count,
                     the index kind and parameters, the lists it was built from
    embeddings.npy   (N, D) float32 features of the references, in list order
    labels.npy       (N,) int64 class labels, UNLABELLED (-1) where a line had none
    paths.json       [N] absolute paths of the reference images
    index.faiss      the FAISS index of the embeddings (gallery_index)

It is written whole through runtime.staging (`--force` replaces only a folder holding
gallery.json). `extend` adds references to the index as it is (no rebuild, an ivf
index keeps its trained cells) and writes the folder anew. A gallery answers only the
snapshot that built it: `check_embedder` refuses any other (weights or mean differ).

Search asks the index for the k + RERANK_EXTRA nearest candidates, then orders them by
exact float64 L2 distance (position breaks ties) and keeps k, so an exact gallery gives
the neighbours `evaluate`'s k-NN finds and the same majority vote
(evaluate.metrics.majority_vote: ties go to the nearest tied class).
"""

import datetime
import json
import os
from dataclasses import dataclass

import numpy as np

from ..errors import BadInputError
from ..runtime import atomic_files, staging
from ..data import image_list
from ..data.image_list import UNLABELLED
from ..train import jobfiles, jobs
from ..evaluate.metrics import majority_vote
from . import digits, gallery_index

FORMAT = "siamese-caffe gallery"
VERSION = 1
MARKER = "gallery.json"
KIND = "gallery"     # the output guard's name for a gallery folder (runtime/staging.py)
FILES = {"embeddings": "embeddings.npy", "labels": "labels.npy", "paths": "paths.json",
         "index": "index.faiss"}
RERANK_EXTRA = 16            # candidates beyond k re-ranked exactly (float32 rounding slack)


@dataclass
class References:
    """Images read from a list: paths (absolute), labels (N,) int64, images (N, H, W) uint8,
    the list's absolute path, and notes for the user (colour converted, ...)."""

    paths: list
    labels: np.ndarray
    images: np.ndarray
    source: str
    notes: list


@dataclass
class Neighbour:
    """One reference found near a query: its rank (1 = nearest), position in the gallery,
    image path, label (None when unlabelled) and L2 distance."""

    rank: int
    position: int
    path: str
    label: object
    distance: float

    def as_dict(self):
        return {"rank": self.rank, "position": self.position, "path": self.path,
                "label": self.label, "distance": self.distance}


class Gallery:
    """A loaded gallery folder: `info` (gallery.json), embeddings, labels, paths, index."""

    def __init__(self, folder, info, embeddings, labels, paths, index):
        self.folder = os.path.abspath(folder)
        self.info = info
        self.embeddings = embeddings
        self.labels = labels
        self.paths = paths
        self.index = index

    def __len__(self):
        return len(self.labels)

    @property
    def identity(self):
        """{job_id, job, snapshot, caffemodel_sha256, deploy_sha256, mean_sha256, ...}."""
        return dict(self.info["identity"])

    @property
    def kind(self):
        return self.info["index"]["kind"]

    def job(self):
        """The training job that built the gallery (BadInputError when it is gone)."""
        return jobs.Job.load(self.identity["job"])

    def search(self, queries, k):
        """The k nearest references of each of (M, D) `queries`: [[Neighbour] * k] * M."""
        k = min(int(k), len(self))
        found = []
        if k == 0:
            return [[] for _ in queries]
        _, candidates = gallery_index.search(self.index, queries,
                                             min(len(self), k + RERANK_EXTRA))
        for query, row in zip(np.asarray(queries, np.float64), candidates):
            row = row[row >= 0]
            gaps = np.sqrt(((self.embeddings[row].astype(np.float64) - query) ** 2).sum(axis=1))
            order = np.lexsort((row, gaps))[:k]
            found.append([Neighbour(rank + 1, int(row[i]), self.paths[row[i]],
                                    _label(self.labels[row[i]]), float(gaps[i]))
                          for rank, i in enumerate(order)])
        return found


def read_references(list_path, image_shape, image_folder=None, progress=False):
    """The images of a list (`path [label]` per line) as References.

    BadInputError naming `list:line` for a negative label or an image that is missing,
    damaged or of another size than the job's (image_shape (3, H, W)).
    """
    lines = image_list.list_lines(image_list.read_lines(list_path), list_path)
    for line in lines:
        if line.label is not None and line.label < 0:
            raise BadInputError(f"label {line.label} is negative (class labels are 0, 1, 2, "
                                "...)", where=f"{list_path}:{line.number}")
    base = image_list.list_folder(list_path, image_folder)
    paths = [os.path.abspath(image_list.resolve(line.written, base)) for line in lines]
    wheres = [f"{list_path}:{line.number}" for line in lines]
    images, notes = image_list.load_images(paths, wheres, progress)
    digits.check_size(images, image_shape, f"{list_path}:{lines[0].number}")
    labels = np.asarray([UNLABELLED if line.label is None else line.label for line in lines],
                        np.int64)
    return References(paths, labels, images, os.path.abspath(list_path), notes)


def identity(embedder):
    """What names the net that embeds: job, snapshot and the SHA-256 of its weights, its
    deploy.prototxt and its mean (dict for gallery.json)."""
    job, snapshot = embedder.job, embedder.snapshot
    return {"job_id": job.job_id, "job": job.path, "snapshot": snapshot.iteration,
            "caffemodel": os.path.basename(snapshot.caffemodel_path),
            "caffemodel_sha256": jobfiles.file_digest(snapshot.caffemodel_path)["sha256"],
            "deploy_sha256": jobfiles.file_digest(job.deploy_path)["sha256"],
            "mean_sha256": jobfiles.file_digest(job.mean_file)["sha256"],
            "feature_blob": embedder.feature_blobs[0], "feature_dim": job.feature_dim}


def build(embedder, references, folder, kind="exact", force=False):
    """Embed `references` (References) with `embedder` and write the gallery `folder`
    (index `kind`, one of gallery_index.KINDS); returns the loaded Gallery."""
    staging.check_free(folder, force, kind=KIND)
    embeddings = embedder.embed_digits(references.images)
    try:
        index = gallery_index.make_index(kind, embeddings)
    except ValueError as err:
        raise BadInputError(str(err), where="--index") from None
    info = {"format": FORMAT, "version": VERSION,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            "identity": identity(embedder), "count": int(len(embeddings)),
            "index": gallery_index.describe(index, kind),
            "sources": [{"list": references.source, "images": int(len(embeddings))}]}
    _write(folder, info, embeddings, references.labels, list(references.paths), index,
           force)
    return load(folder)


def extend(gallery, embedder, references):
    """Add `references` to `gallery` (checked against `embedder` first): their features go
    into the index as it is, and the folder is written anew. Returns the loaded Gallery."""
    check_embedder(gallery, embedder)
    added = embedder.embed_digits(references.images)
    gallery.index.add(np.ascontiguousarray(added, np.float32))
    info = dict(gallery.info)
    info["count"] = int(len(gallery) + len(added))
    info["sources"] = list(info.get("sources", [])) + [
        {"list": references.source, "images": int(len(added))}]
    info["extended"] = datetime.datetime.now().isoformat(timespec="seconds")
    _write(gallery.folder, info, np.concatenate([gallery.embeddings, added]),
           np.concatenate([gallery.labels, references.labels]),
           gallery.paths + list(references.paths), gallery.index, force=True)
    return load(gallery.folder)


def load(folder):
    """The gallery in `folder` (BadInputError when it is not one, or is damaged)."""
    info = _read_info(folder)
    try:
        embeddings = np.load(os.path.join(folder, FILES["embeddings"]), allow_pickle=False)
        labels = np.load(os.path.join(folder, FILES["labels"]), allow_pickle=False)
        with open(os.path.join(folder, FILES["paths"])) as f:
            paths = json.load(f)
        index = gallery_index.read(os.path.join(folder, FILES["index"]),
                                   info["index"]["kind"])
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as err:
        raise BadInputError(f"damaged gallery ({err})", where=folder) from None
    count = info.get("count")
    if not (len(embeddings) == len(labels) == len(paths) == index.ntotal == count):
        raise BadInputError(f"damaged gallery (gallery.json says {count} references; "
                            f"{len(embeddings)} embeddings, {len(labels)} labels, "
                            f"{len(paths)} paths, {index.ntotal} indexed)", where=folder)
    return Gallery(folder, info, np.asarray(embeddings, np.float32),
                   np.asarray(labels, np.int64), list(paths), index)


def check_embedder(gallery, embedder):
    """BadInputError (one line) unless `embedder` runs the weights, net and mean that built
    the gallery."""
    built, now = gallery.identity, identity(embedder)
    if all(built.get(key) == now[key]
           for key in ("caffemodel_sha256", "deploy_sha256", "mean_sha256")):
        return
    what = "weights" if built.get("caffemodel_sha256") != now["caffemodel_sha256"] else (
        "deploy.prototxt" if built.get("deploy_sha256") != now["deploy_sha256"] else "mean")
    raise BadInputError(
        f"built by snapshot {built.get('snapshot')} of job {built.get('job_id')} "
        f"(caffemodel sha256 {str(built.get('caffemodel_sha256'))[:12]}), not by snapshot "
        f"{now['snapshot']} of job {now['job_id']} searching it ({what} differ); build a "
        "gallery with this snapshot", where=gallery.folder)


def majority(neighbours):
    """(label, votes) of the labelled neighbours' majority (ties: the nearest tied class),
    or (None, 0) when none is labelled."""
    labels = [n.label for n in neighbours if n.label is not None]
    if not labels:
        return None, 0
    winner = majority_vote(labels)
    return winner, labels.count(winner)


def _write(folder, info, embeddings, labels, paths, index, force):
    with staging.staged_folder(folder, force, kind=KIND) as work:
        np.save(os.path.join(work, FILES["embeddings"]), np.asarray(embeddings, np.float32))
        np.save(os.path.join(work, FILES["labels"]), np.asarray(labels, np.int64))
        with open(os.path.join(work, FILES["paths"]), "w") as f:
            json.dump(paths, f)
        gallery_index.write(index, os.path.join(work, FILES["index"]))
        atomic_files.write_json(os.path.join(work, MARKER), info)


def _read_info(folder):
    path = os.path.join(folder, MARKER)
    if not os.path.isdir(folder):
        raise BadInputError("no such gallery folder", where=folder)
    try:
        with open(path) as f:
            info = json.load(f)
    except FileNotFoundError:
        raise BadInputError(f"not a gallery (no {MARKER})", where=folder) from None
    except (OSError, ValueError) as err:
        raise BadInputError(f"unreadable ({err})", where=path) from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise BadInputError("not a gallery made by siamese-caffe", where=path)
    if info.get("version") != VERSION or not isinstance(info.get("identity"), dict) \
            or info.get("index", {}).get("kind") not in gallery_index.KINDS:
        raise BadInputError(f"gallery format version {info.get('version')!r} is not "
                            f"{VERSION} (made by another version?)", where=path)
    return info


def _label(value):
    return None if int(value) == UNLABELLED else int(value)
