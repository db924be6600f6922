"""DIGITS 6.1.1's view of a job: its status words and the JSON documents scripts read.

The status words are DIGITS' (docs/rest-api.md), and this module is the one
place that maps this project's states onto them:

    job.json created                         Initialized
    queued in the server, not started yet    Waiting
    waiting for its dataset to be built      Waiting (serve/waiting.py)
    running (its process alive)              Running
    done                                     Done
    interrupted (Ctrl-C, SIGTERM, Abort)     Aborted
    running, but its process is gone         Aborted (a server or machine stopped it;
                                             resumable from its last snapshot)
    failed, diverged                         Error

Dataset jobs: created Initialized, queued Waiting, running Running, done Done,
failed Error.
"""

import datetime
import math
import os

from .. import __version__
from ..train import jobs, trainlog
from . import registry, waiting

INITIALIZED, WAITING, RUNNING, DONE, ABORTED, ERROR = (
    "Initialized", "Waiting", "Running", "Done", "Aborted", "Error")
RUNNING_WORDS = (INITIALIZED, WAITING, RUNNING)
CSS = {INITIALIZED: "warning", WAITING: "warning", RUNNING: "info", DONE: "success",
       ABORTED: "warning", ERROR: "danger"}
_MODEL_WORDS = {jobs.CREATED: INITIALIZED, jobs.RUNNING: RUNNING, jobs.DONE: DONE,
                jobs.INTERRUPTED: ABORTED, jobs.DIVERGED: ERROR, jobs.FAILED: ERROR}
_DATASET_WORDS = {registry.D_CREATED: INITIALIZED, registry.D_RUNNING: RUNNING,
                  registry.D_DONE: DONE, registry.D_FAILED: ERROR}
MODEL_TYPE, DATASET_TYPE = "Generic Image Model", "Generic Image Dataset"


def process_alive(pid):
    """Whether a process with this id exists."""
    if not pid:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def model_status(job, queue_state=None):
    """DIGITS' word for a model job (jobs.Job); queue_state: JobQueue.state(job id)."""
    if queue_state == "waiting" or waiting.is_waiting(job):
        return WAITING     # queued, or waiting for its dataset
    if queue_state == "running" and job.status != jobs.DONE:
        return RUNNING     # (a starting child may not have written job.json yet)
    if job.status == jobs.RUNNING and not process_alive(job.pid):
        return ABORTED
    return _MODEL_WORDS.get(job.status, "?")


def dataset_status(dataset, queue_state=None):
    """DIGITS' word for a dataset job (registry.DatasetJob)."""
    if queue_state == "waiting":
        return WAITING
    if queue_state == "running":
        return RUNNING
    if dataset.state == registry.D_RUNNING and queue_state is None and \
            dataset.method == "list":
        return ERROR       # its build was cut off by a server stop
    return _DATASET_WORDS.get(dataset.state, "?")


def is_running(word):
    return word in RUNNING_WORDS


def digits_time(iso_text):
    """DIGITS' "creation time" text (YYYY-MM-DD HH:MM:SS.ffffff) from an ISO time."""
    try:
        return datetime.datetime.fromisoformat(iso_text).strftime("%Y-%m-%d %H:%M:%S.%f")
    except (TypeError, ValueError):
        return None


def unix_time(iso_text):
    try:
        return datetime.datetime.fromisoformat(iso_text).timestamp()
    except (TypeError, ValueError):
        return None


# ---- training progress, from train_log.csv --------------------------------------------------

def progress(job, rows=None):
    """What the model page shows: {iteration, max_iter, progress (0-1), epoch,
    learning_rate, elapsed_s, pairs_per_s, eta_s, train: {epoch, loss}, val: {epoch, loss}}."""
    rows = trainlog.read_rows(job.file("train_log")) if rows is None else rows
    max_iter = job.max_iter
    iteration = max([r["iteration"] for r in rows], default=0)
    if job.status == jobs.DONE:
        iteration = max(iteration, max_iter)
    train = [r for r in rows if r["phase"] == "train"]
    val = [r for r in rows if r["phase"] == "val"]
    elapsed = rows[-1]["elapsed_s"] if rows else 0.0
    rate = None
    timed = [r for r in rows if r["elapsed_s"] is not None]
    if len(timed) >= 2 and timed[-1]["elapsed_s"] > timed[0]["elapsed_s"]:
        window = timed[-min(len(timed), 20):]
        span = window[-1]["elapsed_s"] - window[0]["elapsed_s"]
        done = window[-1]["iteration"] - window[0]["iteration"]
        rate = done / span if span > 0 and done > 0 else None
    batch = job.plan.get("batch_size") or 0
    return {
        "iteration": iteration, "max_iter": max_iter,
        "progress": min(1.0, iteration / max_iter) if max_iter else 0.0,
        "epoch": iteration / (job.plan.get("iterations_per_epoch") or 1),
        "epochs": job.plan.get("epochs"),
        "learning_rate": train[-1]["learning_rate"] if train else None,
        "elapsed_s": elapsed,
        "pairs_per_s": rate * batch if rate else None,
        "eta_s": (max_iter - iteration) / rate if rate and iteration < max_iter else None,
        "train": {"epoch": [r["epoch"] for r in train], "loss": [r["loss"] for r in train]},
        "val": {"epoch": [r["epoch"] for r in val], "loss": [r["loss"] for r in val]},
    }


# ---- documents ------------------------------------------------------------------------------

def model_dict(job, reg, queue_state=None, verbose=True):
    """GET /models/<id>.json: DIGITS' keys (docs/rest-api.md), plus this project's facts."""
    sidecar = registry.model_sidecar(job)
    snapshots = job.snapshots()
    info = job.dataset_info
    shape = info.get("image_shape") or [3, 0, 0]
    document = {
        "id": job.job_id, "name": sidecar.get("name") or job.job_id,
        "status": model_status(job, queue_state),
        "dataset_id": reg.dataset_id_of(job),
        "job id": job.job_id, "creation time": digits_time(job.created),
        "username": sidecar.get("username"),
        "image dimensions": [shape[1], shape[2], shape[0]],
        "mean file": os.path.basename(info.get("mean_file") or ""),
        "snapshot file": (os.path.basename(snapshots[-1].caffemodel_path) if snapshots
                          else "no snapshots"),
        "framework": "caffe", "image resize mode": None, "digits version": __version__,
        "solver file": jobs.FILES["solver"], "train_val file": jobs.FILES["train_val"],
        "deploy file": jobs.FILES["deploy"], "model file": jobs.FILES["original"],
        "mean subtraction": job.transform.mean if "image_shape" in info else None, "caffe flavor": "BVLC", "caffe version": "1.0.0",
    }
    if job.weights:          # this project's: where a fine-tuned job's weights came from
        document["weights"] = job.weights["sources"]
    if verbose:
        document["directory"] = job.path
        document["snapshots"] = [s.epoch for s in snapshots]
    return document


def model_extras(job):
    """This project's additions to /models/<id>.json (never replacing DIGITS' keys)."""
    snapshots = job.snapshots()
    return {"message": job.message, "snapshot_iterations": [s.iteration for s in snapshots],
            "dataset": job.dataset_info, "network": job.network_info, "plan": job.plan,
            "settings": job.settings,
            "last_losses": last_losses(trainlog.read_rows(job.file("train_log")))}


def dataset_dict(dataset, queue_state=None, verbose=True):
    """GET /datasets/<id>.json: {id, name, status, directory} (+ this project's facts)."""
    document = {"id": dataset.job_id, "name": dataset.name,
                "status": dataset_status(dataset, queue_state)}
    if verbose:
        document["directory"] = dataset.path
        manifest = dataset.manifest
        document.update({
            "message": dataset.message, "method": dataset.method,
            "creation time": digits_time(dataset.created),
            "train_pairs": (manifest.get("train") or {}).get("pairs"),
            "val_pairs": (manifest.get("val") or {}).get("pairs"),
            "positive_fraction": {phase: (manifest.get(phase) or {}).get("positive_fraction")
                                  for phase in ("train", "val")},
            "seed": manifest.get("seed")})
    return document


def status_document(kind, word, name):
    """GET /<kind>/<id>/status."""
    return {"error": None, "status": word, "name": name,
            "type": MODEL_TYPE if kind == "model" else DATASET_TYPE}


def table_item(kind, job_id, name, word, submitted, elapsed, fraction, group="", extra=None):
    """One /completed_jobs.json item."""
    item = {"id": job_id, "name": name, "group": group, "status": word,
            "status_css": CSS.get(word, "default"), "submitted": submitted,
            "elapsed": elapsed, "progress": int(round(100 * (fraction or 0))), "type": kind}
    item.update(extra or {})
    return item


def model_item(job, reg, queue_state=None):
    word = model_status(job, queue_state)
    shown = progress(job)
    sidecar = registry.model_sidecar(job)
    extra = {"framework": "caffe", "dataset_id": reg.dataset_id_of(job)}
    for phase in ("train", "val"):
        losses = [v for v in shown[phase]["loss"] if v is not None]
        if losses:
            extra.update({f"loss ({phase}) last": losses[-1], f"loss ({phase}) min": min(losses),
                          f"loss ({phase}) max": max(losses)})
    return table_item("model", job.job_id, sidecar.get("name") or job.job_id, word,
                      unix_time(job.created), shown["elapsed_s"], shown["progress"],
                      sidecar.get("group", ""), extra)


def dataset_item(dataset, queue_state=None):
    word = dataset_status(dataset, queue_state)
    started, finished = dataset.started, dataset.finished
    import time
    elapsed = ((finished or time.time()) - started) if started else 0.0
    return table_item("dataset", dataset.job_id, dataset.name, word,
                      unix_time(dataset.created), elapsed,
                      1.0 if word == DONE else 0.0, dataset.group)


def last_losses(rows):
    """{"train": {...} | None, "val": {...} | None}: the last row of each phase of a
    train_log (trainlog.read_rows), non-finite numbers as None."""
    columns = {"train": ("iteration", "epoch", "loss", "learning_rate"),
               "val": ("iteration", "epoch", "loss", "same_distance", "different_distance")}
    found = {"train": None, "val": None}
    for row in rows:
        if row.get("phase") in columns:
            found[row["phase"]] = {name: _finite(row.get(name))
                                   for name in columns[row["phase"]]}
    return found


def _finite(value):
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None
