"""What the routes answer, built without Flask: plain dicts (and lists) from a JobService.

The views in api.py and pages.py read the request (web.py), call one of these and send
what comes back; a JSON route and the page beside it share the same builder.

    inference          one_image_request, infer_one_answer, infer_many_answer
    job documents      model_document, dataset_document, index_answer,
                       completed_jobs_answer, table_data_answer, status_answer
    creating jobs      dataset_created, model_created (answer, HTTP status)
    page rows          model_row, dataset_row, progress_answer, many_rows, rows_csv

Field names and answer shapes are DIGITS 6.1.1's (docs/rest-api.md).
"""

import csv
import dataclasses
import io
import os

import werkzeug.exceptions as http

from .. import __version__
from ..infer import embedding, predictions, visualize
from . import creation, digits_api, inputs, registry


# ---- inference ------------------------------------------------------------------------------

def one_image_request(service, form, files):
    """What an infer_one request names: (job, snapshot, image source, its name for errors,
    the resize made or None), the image fitted to the job's size unless dont_resize."""
    job = inputs.find_job(service.jobs_dir, form)
    source, where = inputs.image_source(service.roots, form, files)
    snapshot = inputs.pick_snapshot(job, form)
    source, resized = inputs.fit_image(source, where, job.image_shape,
                                       inputs.flag(form, "dont_resize"))
    return job, snapshot, source, where, resized


def infer_one_answer(loaded, source, where, visualizations=False):
    """The infer_one answer for one image (path or file object) through a netcache.LoadedNet:
    {"outputs": {blob: [[values]]}, "distance", "snapshot", "visualizations" (when asked)}."""
    pair, _ = loaded.embedder.load(source, where)   # decoded before taking the net
    with loaded.running() as embedder:
        left, right = embedder.embed(pair[None])
        net = embedder.net
        outputs = {name: net.blobs[name].data.tolist() for name in net.outputs}
        stats = visualize.net_statistics(net) if visualizations else None
    left_name, right_name = embedder.feature_blobs
    outputs.update({left_name: left.tolist(), right_name: right.tolist()})
    answer = {"outputs": outputs,
              "distance": float(embedding.distance(left, right)[0]),
              "snapshot": snapshot_answer(embedder)}
    if stats is not None:
        answer["visualizations"] = stats
    return answer


def infer_many_answer(loaded, listed):
    """The infer_many answer for an inputs.ImageList (400 when no image could be read):
    {"outputs": {key: {blob: [values]}}, "distances", "failed", "snapshot"}."""
    with loaded.running() as embedder:
        result = predictions.infer_list(embedder, listed.entries)
    reasons = dict(result.skipped)
    kept_keys, failed = [], []
    for entry, key, line in zip(listed.entries, listed.keys, listed.lines):
        if entry.where in reasons:
            reason = reasons[entry.where].removeprefix(f"{entry.resolved}: ")
            failed.append({"path": key, "line": line, "reason": reason})
        else:
            kept_keys.append(key)
    if not kept_keys:
        raise http.BadRequest(f"none of the {len(failed)} images could be read (first: "
                              f"{failed[0]['path']}: {failed[0]['reason']})")
    keyed = dataclasses.replace(result, paths=kept_keys)
    answer = predictions.digits_json(keyed)
    answer["distances"] = dict(zip(kept_keys, map(float, keyed.distances)))
    answer["failed"] = failed
    answer["snapshot"] = snapshot_answer(embedder)
    return answer


def snapshot_answer(embedder):
    return {"iteration": embedder.snapshot.iteration, "epoch": embedder.snapshot.epoch}


def health_answer(service):
    return {"status": "ok", "version": __version__, "nets_loaded": len(service.cache)}


# ---- job documents --------------------------------------------------------------------------

def model_document(service, job, verbose=True):
    """GET /models/<id>.json (verbose) or a model's entry in /index.json."""
    document = digits_api.model_dict(job, service.registry, service.queue.state(job.job_id),
                                     verbose)
    if verbose:
        document.update(digits_api.model_extras(job))
    return document


def dataset_document(service, dataset, verbose=True):
    """GET /datasets/<id>.json (verbose) or a dataset's entry in /index.json."""
    return digits_api.dataset_dict(dataset, service.queue.state(dataset.job_id), verbose)


def index_answer(service):
    """GET /index.json: every job, the running ones first."""
    reg = service.registry
    models = [model_document(service, job, verbose=False) for job in reg.models()]
    sets = [dataset_document(service, d, verbose=False) for d in reg.datasets()]
    running_first = (lambda doc: not digits_api.is_running(doc["status"]))
    return {"version": __version__, "jobs_dir": service.jobs_dir,
            "datasets": sorted(sets, key=running_first),
            "models": sorted(models, key=running_first)}


def completed_jobs_answer(service):
    """GET /completed_jobs.json: DIGITS' home-page table, running jobs apart."""
    reg = service.registry
    models = [digits_api.model_item(job, reg, service.queue.state(job.job_id))
              for job in reg.models()]
    sets = [digits_api.dataset_item(d, service.queue.state(d.job_id)) for d in reg.datasets()]
    running = [item for item in models + sets if digits_api.is_running(item["status"])]
    fields = sorted({key for item in models for key in item if key.startswith("loss (")})
    return {"running": running,
            "datasets": [i for i in sets if not digits_api.is_running(i["status"])],
            "models": [i for i in models if not digits_api.is_running(i["status"])],
            "pretrained_models": [], "model_output_fields": fields}


def table_data_answer(service, job_id):
    """GET /jobs/<id>/table_data.json (404 when no such job)."""
    job = service.registry.model(job_id)
    if job is not None:
        return {"job": digits_api.model_item(job, service.registry,
                                             service.queue.state(job_id))}
    dataset = service.dataset_or_404(job_id)
    return {"job": digits_api.dataset_item(dataset, service.queue.state(job_id))}


def status_answer(service, job_id, models=True, datasets=True):
    """GET /<kind>/<id>/status: the job among the models and/or datasets asked for, or
    DIGITS' {"error": "Job not found."}."""
    model = service.registry.model(job_id) if models else None
    if model is not None:
        return digits_api.status_document("model", service.model_status(model),
                                          registry.model_name(model))
    dataset = service.registry.dataset(job_id) if datasets else None
    if dataset is not None:
        return digits_api.status_document("dataset", service.dataset_status(dataset),
                                          dataset.name)
    return {"error": "Job not found."}


# ---- creating jobs --------------------------------------------------------------------------

def dataset_created(service, fields, user_fields):
    """DIGITS' answer to a new dataset: ({"id", "name", "status"}, 200), or
    ({"errors": {field: [message]}}, 400) with nothing made. user_fields: the two
    places a username may come from (web.user_fields)."""
    try:
        dataset = service.create_dataset(fields, creation.check_username(*user_fields))
    except creation.FieldErrors as err:
        return {"errors": err.errors}, 400
    # DIGITS answered a new job's status as it was made: Initialized (then Waiting...)
    return {"id": dataset.job_id, "name": dataset.name, "status": digits_api.INITIALIZED}, 200


def model_created(service, fields, files, user_fields):
    """DIGITS' answer to a new model: (its /index.json entry, 200) or ({"errors"}, 400)."""
    try:
        job = service.create_model(fields, files, creation.check_username(*user_fields))
    except creation.FieldErrors as err:
        return {"errors": err.errors}, 400
    return {**model_document(service, job, verbose=False), "status": digits_api.INITIALIZED}, 200


# ---- what the pages show --------------------------------------------------------------------

def model_row(service, job):
    """A model as the pages show it: status word and its CSS class, progress (%), ..."""
    word = service.model_status(job)
    shown = digits_api.progress(job)
    return {"id": job.job_id, "name": registry.model_name(job), "status": word,
            "css": digits_api.CSS.get(word, "default"), "created": job.created,
            "progress": int(round(100 * shown["progress"])), "elapsed": duration(
                shown["elapsed_s"]), "message": job.message, "device": job.device,
            "dataset_id": service.registry.dataset_id_of(job),
            "running": digits_api.is_running(word), "plan": job.plan,
            "settings": job.settings}


def dataset_row(service, dataset):
    """A dataset as the pages show it."""
    word = service.dataset_status(dataset)
    item = digits_api.dataset_item(dataset, service.queue.state(dataset.job_id))
    return {"id": dataset.job_id, "name": dataset.name, "status": word,
            "css": digits_api.CSS.get(word, "default"),
            "created": (dataset.created or "")[:19].replace("T", " "),
            "progress": item["progress"],
            "elapsed": duration(item["elapsed"]), "message": dataset.message,
            "method": dataset.method, "running": digits_api.is_running(word)}


def duration(seconds):
    """'1h 02m 03s', '2m 03s' or '3s' ('' for None)."""
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else \
        (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")


def progress_answer(service, job):
    """GET /models/<id>/progress.json: digits_api.progress plus status, message, snapshots."""
    shown = digits_api.progress(job)
    shown["status"] = service.model_status(job)
    shown["message"] = job.message
    shown["snapshots"] = [{"epoch": s.epoch, "iteration": s.iteration,
                           "file": os.path.basename(s.caffemodel_path)}
                          for s in job.snapshots()]
    return shown


def many_rows(job, listed, answer):
    """The Test Many table: [{"path", "label", "left", "right", "distance"}] per image read."""
    labels = {key: entry.label for key, entry in zip(listed.keys, listed.entries)}
    left_blob, right_blob = job.feature_blobs
    return [{"path": path, "label": labels.get(path),
             "left": blobs[left_blob], "right": blobs[right_blob],
             "distance": answer["distances"][path]}
            for path, blobs in answer["outputs"].items()]


def rows_csv(rows):
    """The Test Many table as CSV text: path, label, distance, left_k..., right_k..."""
    out = io.StringIO()
    writer = csv.writer(out)
    dim = len(rows[0]["left"]) if rows else 0
    writer.writerow(["path", "label", "distance"] + [f"left_{k}" for k in range(dim)]
                    + [f"right_{k}" for k in range(dim)])
    for row in rows:
        writer.writerow([row["path"], "" if row["label"] is None else row["label"],
                         f"{row['distance']:.6g}"] + [f"{v:.6g}" for v in row["left"]]
                        + [f"{v:.6g}" for v in row["right"]])
    return out.getvalue()
