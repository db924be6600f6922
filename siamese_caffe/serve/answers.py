"""What the routes answer, built without Flask: plain dicts (and lists) from a JobService.

The views in api.py and pages.py read the request (web.py), call one of these and send
what comes back; a JSON route and the page beside it share the same builder.

    inference          one_image_request, infer_one_answer, infer_many_answer
    job documents      model_document, dataset_document, index_answer,
                       completed_jobs_answer, table_data_answer, status_answer
    creating jobs      dataset_created, model_created (answer, HTTP status)
    page rows          model_row, dataset_row, progress_answer, many_rows, rows_csv
    model page extras  download_answer, infer_db_answer, lr_preview_answer

Field names and answer shapes are DIGITS 6.1.1's (docs/rest-api.md).
"""

import csv
import dataclasses
import io
import os
import re

import werkzeug.exceptions as http

from .. import __version__
from ..errors import BadInputError
from ..runtime import devices, prototxt
from ..data import datasets
from ..net import lr_schedule, solver as solvers
from ..train import jobsetup, trainlog
from ..infer import dbtest, embedding, predictions, visualize
from ..use import bundle
from . import creation, digits_api, inputs, registry

TEST_PICTURE = re.compile(r"(train|val)_test_(same|different)_class_\d+\.png")
RESUME_HINT = re.compile(r"continue with --resume \S+")
PREVIEW_ITERATIONS_PER_EPOCH = 100   # the LR preview's epoch before a dataset is chosen


# ---- inference ------------------------------------------------------------------------------

def one_image_request(service, form, files):
    """What an infer_one request names: (job, snapshot, the image decoded once ((H, W) or
    (H, W, 3) BGR uint8), its name for errors, the resize made or None), the image fitted
    to the job's size unless dont_resize (BadInputError when it cannot be read)."""
    job = inputs.find_job(service.jobs_dir, form)
    picture = (form.get("test_picture") or "").strip()
    if picture:
        source, where = dataset_picture(job, picture), picture
    else:
        source, where = inputs.image_source(service.roots, form, files)
    snapshot = inputs.pick_snapshot(job, form)
    source, resized = inputs.fit_image(source, where, job.image_shape,
                                       inputs.flag(form, "dont_resize"))
    return job, snapshot, source, where, resized


def test_pictures(job):
    """The names of the test pair pictures create-db wrote into the job's dataset folder."""
    try:
        names = os.listdir(job.dataset_folder)
    except OSError:
        return []
    return sorted(n for n in names if TEST_PICTURE.fullmatch(n))


def dataset_picture(job, name):
    """The path of one of the job's dataset test pictures, picked by name (404 otherwise)."""
    if not TEST_PICTURE.fullmatch(name) or name not in test_pictures(job):
        raise http.NotFound(f"the dataset has no test picture {name!r}")
    return os.path.join(job.dataset_folder, name)


def infer_one_answer(loaded, source, where, visualizations=False):
    """The infer_one answer for one image (path, file object or decoded image) through a
    netcache.LoadedNet: {"outputs": {blob: [[values]]}, "distance", "snapshot",
    "visualizations" (when asked)}."""
    pair, grayscale = loaded.embedder.load(source, where)   # before taking the net
    stats = None
    if visualizations:          # this image's own pass: the statistics are of its blobs
        with loaded.running() as embedder:
            left, right = embedder.embed(pair[None])
            net = embedder.net
            outputs = {name: net.blobs[name].data.tolist() for name in net.outputs}
            stats = visualize.net_statistics(net)
    else:                       # batched with concurrent requests when the server says so
        outputs, left, right = loaded.embed_one(pair, grayscale)
    embedder = loaded.embedder
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
    """DIGITS' answer to a new model: (its /index.json entry, 200) — a sweep's
    {"jobs": [entry, ...]} — or ({"errors"}, 400)."""
    try:
        made = service.create_model(fields, files, creation.check_username(*user_fields))
    except creation.FieldErrors as err:
        return {"errors": err.errors}, 400
    entries = [{**model_document(service, job, verbose=False),
                "status": digits_api.INITIALIZED} for job in made]
    return (entries[0] if len(entries) == 1 else {"jobs": entries}), 200


# ---- what the pages show --------------------------------------------------------------------

def device_choices():
    """The New Model form's Device menu: [(select_gpu value, label)] — "next", then only
    the devices that exist here (runtime.devices.available)."""
    return [("next", "next available (auto)")] + [
        ("cpu" if device is None else str(device), name)
        for device, name in devices.available()]


def model_row(service, job):
    """A model as the pages show it: status word and its CSS class, progress (%), ..."""
    word = service.model_status(job)
    shown = digits_api.progress(job)
    return {"id": job.job_id, "name": registry.model_name(job), "status": word,
            "css": digits_api.CSS.get(word, "default"), "created": job.created,
            "progress": int(round(100 * shown["progress"])), "elapsed": duration(
                shown["elapsed_s"]), "message": page_message(job.message),
            "device": job.settings.get("device", "(once its dataset is built)"),
            "group": registry.model_sidecar(job).get("group", ""),
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
            "group": dataset.group,
            "method": dataset.method, "running": digits_api.is_running(word)}


def page_message(message):
    """A job's message for a web user: the command line's "--resume JOB" becomes the page's
    Resume button."""
    if not message:
        return message
    message = RESUME_HINT.sub("Resume continues from there", message)
    return message.replace("then --resume", "then Resume")


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
    """GET /models/<id>/progress.json: digits_api.progress plus status, message, snapshots
    and "rates" (the learning rate over training, trainlog.learning_rates)."""
    shown = digits_api.progress(job)
    shown["status"] = service.model_status(job)
    shown["message"] = page_message(job.message)
    shown["snapshots"] = [{"epoch": s.epoch, "iteration": s.iteration, "label": s.label,
                           "file": os.path.basename(s.caffemodel_path)}
                          for s in job.snapshots()]
    shown["rates"] = trainlog.learning_rates(job.file("train_log"))
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


# ---- the model page's extras: download, Test a DB, learning rates ---------------------------

def download_answer(service, job, extension, epoch_text):
    """DIGITS' model download: (archive bytes, file name). extension: one of
    bundle.FORMATS (400 otherwise); epoch_text: ?epoch= or snapshot_epoch ("" or -1: the
    last snapshot; 409 when there is none)."""
    if extension not in bundle.FORMATS:
        raise http.BadRequest(f"Invalid extension {extension!r} (have "
                              f"{', '.join(bundle.FORMATS)})")
    snapshot = inputs.pick_snapshot(job, {"snapshot_epoch": epoch_text or ""})
    data = bundle.bundle_bytes(job, extension, snapshot,
                               model_document(service, job, verbose=False))
    return data, f"{job.job_id}_epoch_{snapshot.epoch:g}.{extension}"


def infer_db_answer(service, form):
    """POST infer_db.json: DIGITS' {"outputs": {key: {blob: [values]}}} for `db_path` (a
    pair LMDB inside a data root, or `val` for the job's own validation pairs), plus
    "pairs" (key, distance, verdict, label), "accuracy" when `label_db_path` (or `val`)
    gives labels, "threshold" and "snapshot"."""
    job = inputs.find_job(service.jobs_dir, form)
    image_db, label_db = db_paths(service, job, form)
    snapshot = inputs.pick_snapshot(job, form)
    loaded = service.cache.get(job, snapshot)
    with loaded.running() as embedder:
        result = dbtest.infer_db(embedder, image_db, label_db)
    summary = result.as_dict()
    return {**result.outputs(), "pairs": summary["pairs"], "count": summary["count"],
            "same": summary["same"], "accuracy": summary["accuracy"],
            "threshold": summary["threshold"], "db_path": form.get("db_path"),
            "label_db_path": form.get("label_db_path") or None,
            "snapshot": snapshot_answer(embedder)}


def db_paths(service, job, form):
    """(image LMDB, label LMDB or None) a Test a DB form names: `db_path` "val" is the
    job's validation pairs with their labels; any other path must lie in a data root."""
    text = (form.get("db_path") or "").strip()
    if not text:
        raise http.BadRequest("db_path is a required field")
    if text == "val":
        folder = job.dataset_folder
        entry = datasets.read_manifest(folder).get("val") or {}
        return datasets.phase_dbs(folder, entry, "val")
    image_db = service.roots.resolve(text)
    if not os.path.isdir(image_db):
        raise http.BadRequest(f'DB "{text}" does not exist')
    labels = (form.get("label_db_path") or "").strip()
    label_db = service.roots.resolve(labels) if labels else None
    if label_db and not os.path.isdir(label_db):
        raise http.BadRequest(f'DB "{labels}" does not exist')
    return image_db, label_db


def lr_preview_answer(service, form):
    """POST /models/visualize-lr: the schedule the New Model form's fields give, before a
    job exists: DIGITS' {"data": {"columns": [["Learning Rate", 101 values]]}} over 0-100 %
    of training, plus "epoch", "iteration" and "learning_rate" lists (errors: 400 with
    {"errors": {field: [message]}})."""
    errors = {}
    settings, facts = creation.solver_settings(form, errors, service.default_gpu)
    if errors:
        return {"errors": errors}, 400
    dataset = service.registry.dataset((form.get("dataset") or "").strip())
    pairs = (dataset.manifest.get("train") or {}).get("pairs") if dataset else None
    plan = solvers.make_plan(pairs or settings.batch_size * PREVIEW_ITERATIONS_PER_EPOCH,
                             settings.batch_size, epochs=settings.epochs,
                             batch_size=settings.batch_size)
    template = prototxt.read_solver(jobsetup.default_file(jobsetup.DEFAULT_SOLVER))
    try:
        curve = lr_schedule.preview(template, plan, base_lr=settings.base_lr,
                                    lr_policy=settings.lr_policy, lr_steps=settings.lr_steps,
                                    facts=facts, points=101)
    except BadInputError as err:
        return {"errors": {"lr_policy": [str(err)]}}, 400
    return {"data": {"columns": [["Learning Rate", *curve["learning_rate"]]]}, **curve,
            "max_iter": plan.max_iter, "iterations_per_epoch": plan.iterations_per_epoch}, 200


# ---- Clone: a job's form, filled in ---------------------------------------------------------

def dataset_clone_fields(dataset):
    """The New Dataset form's fields of `dataset` as it was asked for (registry.DatasetJob):
    its method, paths, counts, seed, name and group."""
    fields = {key: ("" if value is None else
                    ("1" if value is True else "0" if value is False else str(value)))
              for key, value in (dataset.request or {}).items()}
    fields.update({"method": dataset.method or "prebuilt", "dataset_name": dataset.name,
                   "group_name": dataset.group})
    return fields


def model_clone_fields(service, job):
    """The New Model form's fields of `job`: the form it was made with (serve.json "form")
    or, for a job made by `train`, what job.json records; always with its network text as
    given (original.prototxt)."""
    sidecar = registry.model_sidecar(job)
    fields = dict(sidecar.get("form") or {}) or _fields_from_job(job)
    fields.update({"model_name": sidecar.get("name") or job.job_id,
                   "group_name": sidecar.get("group", ""),
                   "dataset": service.registry.dataset_id_of(job) or "",
                   "method": "custom"})
    try:
        with open(job.file("original"), encoding="utf-8") as f:
            fields["custom_network"] = f.read()
    except (OSError, UnicodeDecodeError):
        fields.setdefault("custom_network", "")
    return fields


def _fields_from_job(job):
    """New Model fields read back from job.json's plan and settings (jobs made by `train`)."""
    plan, settings = job.plan, job.settings
    fields = {"train_epochs": plan.get("epochs"), "batch_size": plan.get("batch_size"),
              "learning_rate": settings.get("base_lr"), "lr_policy": settings.get("lr_policy"),
              "solver_type": (settings.get("solver_type") or "").upper(),
              "random_seed": settings.get("seed")}
    per_epoch = plan.get("iterations_per_epoch") or 0
    for field, key in (("snapshot_interval", "snapshot"), ("val_interval", "test_interval")):
        if per_epoch and plan.get(key):
            fields[field] = plan[key] / per_epoch
    return {k: f"{v:g}" if isinstance(v, float) else str(v)
            for k, v in fields.items() if v not in (None, "")}
