"""The `api` blueprint: DIGITS 6.1.1's JSON routes for scripts (docs/rest-api.md; the
route table is the package docstring, serve/__init__.py).

Each view reads the request (web.py) and sends what an answers.py builder makes.

Inference fields: job_id (query string first, then form); infer_one takes image_file
(upload) or image_path (a server path inside a data root), infer_many an image_list
upload (`path [label]` per line) with optional image_folder and num_test_images; both
take snapshot_epoch (default: the last snapshot) and dont_resize (an image of another size
is resized to the net's input, and the answer says so under "resized"); infer_one also
show_visualizations.

    infer_one  -> {"outputs": {blob: [[values]]}, "distance": L2 distance of the two
                   features, "snapshot": {"iteration", "epoch"}, "visualizations": ...}
    infer_many -> {"outputs": {path: {blob: [values]}}, "distances": {path: float},
                   "failed": [{"path", "line", "reason"}], "snapshot": {...}}
    healthz    -> {"status": "ok", "version", "nets_loaded": n}

`outputs` hold the two feature blobs (job.json network.feature_blobs, e.g. feat_left /
feat_right); infer_one also every other output of the deploy net. An infer_many path is
keyed as written in the list (joined to image_folder when relative, as DIGITS did).
The job routes answer DIGITS' documents (answers.py), its status JSON sent as text/html,
and its plain-text sentences ("Job aborted."). Errors are server.py's: DIGITS' JSON
{"error": {...}} with the status.
"""

import json

import flask
import werkzeug.exceptions as http

from . import answers, creation, inputs, web

INFER_ONE = "/models/images/generic/infer_one.json"
INFER_MANY = "/models/images/generic/infer_many.json"

bp = flask.Blueprint("api", __name__)


# ---- inference ------------------------------------------------------------------------------

@bp.post(INFER_ONE)
def infer_one():
    service, form = web.service(), web.job_fields()
    job, snapshot, source, where, resized = answers.one_image_request(service, form,
                                                                      flask.request.files)
    answer = answers.infer_one_answer(service.cache.get(job, snapshot), source, where,
                                      inputs.flag(form, "show_visualizations"))
    if resized:
        answer["resized"] = resized
    return answer


@bp.post(INFER_MANY)
def infer_many():
    service, form, files = web.service(), web.job_fields(), flask.request.files
    job = inputs.find_job(service.jobs_dir, form)
    listed = inputs.uploaded_list(service.roots, form, files)
    snapshot = inputs.pick_snapshot(job, form)
    resized = inputs.fit_list(listed, job.image_shape, inputs.flag(form, "dont_resize"))
    answer = answers.infer_many_answer(service.cache.get(job, snapshot), listed)
    if resized:
        answer["resized"] = resized
    return answer


@bp.get("/healthz")
def healthz():
    return answers.health_answer(web.service())


# ---- creating and reading jobs --------------------------------------------------------------

@bp.post("/datasets/images/generic.json")
def create_dataset_json():
    return answers.dataset_created(web.service(), web.create_fields(), web.user_fields())


@bp.post("/models/images/generic.json")
def create_model_json():
    return answers.model_created(web.service(), web.create_fields(), flask.request.files,
                                 web.user_fields())


@bp.get("/models/<job_id>.json")
def show_model(job_id):
    service = web.service()
    return answers.model_document(service, service.model_or_404(job_id))


@bp.get("/datasets/<job_id>.json")
def show_dataset(job_id):
    service = web.service()
    return answers.dataset_document(service, service.dataset_or_404(job_id))


@bp.get("/index.json")
def index_json():
    return answers.index_answer(web.service())


@bp.get("/completed_jobs.json")
def completed_jobs():
    return answers.completed_jobs_answer(web.service())


@bp.get("/jobs/<job_id>/table_data.json")
def table_data(job_id):
    return answers.table_data_answer(web.service(), job_id)


# ---- status words (DIGITS sends this JSON as text/html) ---------------------------------------

@bp.get("/datasets/<job_id>/status")
def dataset_status(job_id):
    return _status(answers.status_answer(web.service(), job_id, models=False))


@bp.get("/models/<job_id>/status")
def model_status(job_id):
    return _status(answers.status_answer(web.service(), job_id, datasets=False))


@bp.get("/jobs/<job_id>/status")
def job_status(job_id):
    return _status(answers.status_answer(web.service(), job_id))


def _status(body):
    return flask.Response(json.dumps(body), 200, mimetype="text/html")


# ---- changing jobs (DIGITS answers a plain-text sentence) -------------------------------------

@bp.post("/datasets/<job_id>/abort")
@bp.post("/models/<job_id>/abort")
@bp.post("/jobs/<job_id>/abort")
def abort_job(job_id):
    return _act(web.service().abort, job_id, "Job aborted.")


@bp.post("/models/<job_id>/resume")
@bp.post("/jobs/<job_id>/resume")
def resume_job(job_id):
    return _act(web.service().resume, job_id, "Job resumed.")


@bp.delete("/datasets/<job_id>")
@bp.delete("/models/<job_id>")
@bp.delete("/jobs/<job_id>")
def delete_job(job_id):
    return _act(web.service().delete, job_id, "Job deleted.")


def _act(action, job_id, done_text):
    """Run `action(job_id)` (the service raises the HTTP error when it refuses)."""
    web.username()
    action(job_id)
    return _text(done_text)


@bp.post("/abort_jobs")
def abort_jobs():
    return _many(web.service().abort, "aborted")


@bp.delete("/jobs")
def delete_jobs():
    return _many(web.service().delete, "deleted")


def _many(action, done_word):
    ids = flask.request.form.getlist("job_ids[]") or flask.request.form.getlist("job_ids")
    failed = 0
    for job_id in ids:
        try:
            action(job_id)
        except http.HTTPException:
            failed += 1
    if failed:
        raise http.BadRequest(f"{failed} of {len(ids)} jobs were not {done_word}")
    return _text(f"Jobs {done_word}.")


@bp.put("/jobs/<job_id>")
def edit_job(job_id):
    web.username()
    name = (flask.request.form.get("job_name") or "").strip()
    notes = flask.request.form.get("job_notes")
    kind = web.service().rename(job_id, name or None, notes)
    return _text(f"{kind} updated.")


def _text(sentence):
    return flask.Response(sentence, 200, mimetype="text/plain")


@bp.post("/login")
def login():
    name = creation.check_username(flask.request.form, {})
    if not name:
        raise http.BadRequest("username is a required field")
    response = flask.redirect(flask.request.args.get("next") or "/")
    if not response.location.startswith("/") or response.location.startswith("//"):
        response = flask.redirect("/")
    response.set_cookie("username", name, samesite="Strict")
    return response


@bp.get("/jobs/<job_id>")
def job_page(job_id):
    service = web.service()
    kind = "models" if service.registry.model(job_id) else "datasets"
    service.any_or_404(job_id)
    return flask.redirect(f"/{kind}/{job_id}")
