"""evaluate: how well a trained job's embedding tells digits apart, as a report folder.

Two measurements, with one loaded net (inference.Embedder):

- pairs: the dataset's validation pairs (val_images / val_labels LMDBs) → the
  distance of each pair's two features → accuracy at the threshold (default half
  the margin) and at the best threshold, ROC AUC, equal error rate;
- images: a labelled set of digits (the validation images by default) embedded
  one digit at a time (grayscale, both branches alike) → k-nearest-neighbour
  class accuracy with the training images as reference, per-class accuracy,
  centroid and spread.

`write_report` puts report.json, report.md and its plots (roc.png,
distances.png, clusters.png, loss.png) into a folder built beside the target.
`record_calibration` keeps in job.json what `verify` needs of it: the EER threshold
and where the validation pairs' distances lie (percentiles of each kind).
"""

import datetime
import os
import shutil

import numpy as np

from ..runtime import staging
from ..data import datasets, pair_lmdb
from ..infer import clusters
from ..infer.embedding import distance
from . import plots, metrics
from .report_markdown import report_markdown
from .settings import DEFAULT_K

KIND = "report"    # the output guard's name for an evaluation report folder (staging.py)
PERCENTILES = 101    # job.json keeps the 0th, 1st, ..., 100th percentile of pair distances




def pair_metrics(distances, same, threshold):
    """The pair verification numbers of report.json's "pairs" section."""
    best, best_accuracy = metrics.best_threshold(distances, same)
    eer, eer_threshold = metrics.equal_error_rate(distances, same)
    return {"count": int(len(same)), "same_class": int(same.sum()),
            "positive_fraction": float(same.mean()),
            "threshold": float(threshold),
            "accuracy": metrics.accuracy_at(distances, same, threshold),
            "best_threshold": best, "best_accuracy": best_accuracy,
            "roc_auc": _finite_or_none(metrics.roc_auc(distances, same)),
            "equal_error_rate": eer, "eer_threshold": eer_threshold,
            "mean_distance_same": float(distances[same].mean()) if same.any() else None,
            "mean_distance_different": float(distances[~same].mean()) if (~same).any() else None}


def image_metrics(reference, reference_labels, queries, query_labels, k=DEFAULT_K):
    """The k-NN and per-class numbers of report.json's "images" section."""
    predicted = metrics.knn_predict(reference, reference_labels, queries, k)
    correct = predicted == query_labels
    per_class = metrics.class_spreads(queries, query_labels)
    for cls, entry in per_class.items():
        entry["knn_accuracy"] = float(correct[query_labels == cls].mean())
    return {"k": int(min(k, len(reference))), "reference_images": int(len(reference)),
            "query_images": int(len(queries)), "knn_accuracy": float(correct.mean()),
            "classes": {str(c): v for c, v in per_class.items()}}


def evaluate(embedder, reference_set, query_set, threshold=None, k=DEFAULT_K, log=None):
    """Measure `embedder`'s job: (report dict, arrays for the plots).

    reference_set / query_set: image_sources.ImageSets (training / evaluated digits).
    threshold: pair threshold (None: half the margin). log: callable(str) for progress.
    """
    log = log or (lambda line: None)
    job = embedder.job
    dataset = datasets.load_dataset(job.dataset_folder, walk=("val",))
    threshold = embedder.default_threshold if threshold is None else float(threshold)
    log(f"embedding {dataset.counts['val']} validation pairs")
    _, pairs, same = pair_lmdb.read_pair_records(*dataset.dbs["val"])
    distances = distance(*embedder.embed_pairs(pairs))
    log(f"embedding {len(reference_set)} reference and {len(query_set)} evaluated digits")
    reference = embedder.embed_digits(reference_set.images)
    queries = embedder.embed_digits(query_set.images)
    report = {
        "job_id": job.job_id, "job": job.path, "snapshot": embedder.snapshot.iteration,
        "epoch": round(embedder.snapshot.epoch, 4), "margin": embedder.margin,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "dataset": dataset.folder,
        "pairs": {"source": dataset.dbs["val"][0], **pair_metrics(distances, same, threshold)},
        "images": {"reference": reference_set.description, "evaluated": query_set.description,
                   "images_also_in_reference": _shared(reference_set, query_set),
                   **image_metrics(reference, reference_set.labels, queries,
                                   query_set.labels, k)},
    }
    arrays = {"distances": distances, "same": same, "queries": queries,
              "query_labels": query_set.labels}
    return report, arrays


def write_report(folder, report, arrays, loss_png=None, force=False):
    """report.json, report.md, roc.png, distances.png, clusters.png (and a copy of the job's
    loss.png when given) in `folder`, which appears whole at the end; returns its path."""
    import json

    with staging.staged_folder(folder, force, kind=KIND) as work:
        pairs = report["pairs"]
        plots.plot_roc(arrays["distances"], arrays["same"], pairs,
                                  os.path.join(work, "roc.png"))
        plots.plot_distances(arrays["distances"], arrays["same"], pairs,
                                        os.path.join(work, "distances.png"))
        note = clusters.plot_clusters(arrays["queries"], arrays["query_labels"],
                                      os.path.join(work, "clusters.png"),
                                      title=f"evaluated digits, job {report['job_id']}")
        report["images"]["projection"] = note
        if loss_png and os.path.isfile(loss_png):
            shutil.copyfile(loss_png, os.path.join(work, "loss.png"))
        with open(os.path.join(work, "report.json"), "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        with open(os.path.join(work, "report.md"), "w") as f:
            f.write(report_markdown(report, has_loss=bool(loss_png and os.path.isfile(loss_png))))
    return os.path.abspath(folder)


def calibration(report, arrays, caffemodel_digest=None):
    """job.json's record of one evaluation (train.jobs.Job.record_evaluation): the EER
    threshold and rate on the validation pairs, their counts, the 0th..100th percentiles
    of the same-class and of the different-class pair distances (lists of PERCENTILES
    floats, [] when there is no such pair), the report folder and the snapshot's digest."""
    distances, same = arrays["distances"], arrays["same"]
    steps = np.linspace(0, 100, PERCENTILES)

    def percentiles(values):
        return [float(v) for v in np.percentile(values, steps)] if len(values) else []

    pairs = report["pairs"]
    return {"eer_threshold": pairs["eer_threshold"], "equal_error_rate": pairs["equal_error_rate"],
            "pairs": pairs["count"], "same_class": pairs["same_class"],
            "same_class_percentiles": percentiles(distances[same]),
            "different_class_percentiles": percentiles(distances[~same]),
            "report": report.get("report_folder"), "created": report["created"],
            "caffemodel": caffemodel_digest}


def record_calibration(job, embedder, report, arrays, folder):
    """Record the evaluation of `embedder`'s snapshot in `job`'s job.json (see calibration);
    folder: where its report was written."""
    snapshot = embedder.snapshot
    digest = snapshot.digest(snapshot.caffemodel_path)
    facts = calibration({**report, "report_folder": os.path.abspath(folder)}, arrays,
                        digest["sha256"] if digest else None)
    job.record_evaluation(snapshot.iteration, facts)
    return facts


def _finite_or_none(value):
    """value, or None when it is NaN (no ROC without both kinds of pair)."""
    return None if np.isnan(value) else value


def _shared(reference_set, query_set):
    """How many evaluated digits have exactly the pixels of a reference digit."""
    from ..data.image_sources import count_shared_images

    return int(count_shared_images(reference_set.images, query_set.images))
