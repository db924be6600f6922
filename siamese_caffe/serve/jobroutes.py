"""DIGITS 6.1.1's job routes for scripts (shared/DIGITS_API.md §2-§5).

    POST   /datasets/images/generic.json     create a dataset (prebuilt LMDBs, or method=list)
    POST   /models/images/generic.json       create a model (method=custom) and queue it
    GET    /datasets/<id>.json  /models/<id>.json
    GET    /index.json  /completed_jobs.json  /jobs/<id>/table_data.json
    GET    /datasets/<id>/status  /models/<id>/status  /jobs/<id>/status
    POST   /datasets/<id>/abort  /models/<id>/abort  /jobs/<id>/abort
    POST   /models/<id>/resume  /jobs/<id>/resume      (this project's; DIGITS had none)
    DELETE /datasets/<id>  /models/<id>  /jobs/<id>
    POST   /abort_jobs   DELETE /jobs                  (repeated job_ids[])
    GET    /jobs/<id>                                  302 to its page
    PUT    /jobs/<id>                                  job_name, job_notes
    POST   /login                                      username cookie (DIGITS' login)

The same create routes without `.json` answer a browser: 302 to the new job's
page, or the form again with each error beside its field (pages.py).
"""

import json

import flask
import werkzeug.exceptions as http

from .. import __version__
from . import creation, digits_api


def wants_json():
    """DIGITS' rule: a path ending in .json, or Accept ranking JSON above HTML."""
    request = flask.request
    if request.path.endswith(".json"):
        return True
    accept = request.accept_mimetypes
    return accept["application/json"] > accept["text/html"]


def field_errors_response(err):
    return flask.jsonify({"errors": err.errors}), 400


def _fields():
    """The create routes' fields: the form, or a JSON body's members (as Flask-WTF did)."""
    request = flask.request
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise http.BadRequest("the JSON body must be an object of fields")
        return {k: ("" if v is None else str(v)) for k, v in body.items()
                if k not in ("job_id", "username")}
    return request.form


def username():
    request = flask.request
    return creation.check_username(request.form, {**request.args,
                                                  **({"username": request.cookies["username"]}
                                                     if "username" in request.cookies else {})})


def add_job_routes(app, service):
    reg = service.registry

    def model_doc(job, verbose=True):
        document = digits_api.model_dict(job, reg, service.queue.state(job.job_id), verbose)
        if verbose:
            document.update(digits_api.model_extras(job))
        return document

    def dataset_doc(dataset, verbose=True):
        return digits_api.dataset_dict(dataset, service.queue.state(dataset.job_id), verbose)

    app.extensions["siamese_model_doc"] = model_doc
    app.extensions["siamese_dataset_doc"] = dataset_doc

    @app.post("/datasets/images/generic.json")
    def create_dataset_json():
        try:
            dataset = service.create_dataset(_fields(), username())
        except creation.FieldErrors as err:
            return field_errors_response(err)
        # DIGITS answered a new job's status as it was made: Initialized (then Waiting...)
        return {"id": dataset.job_id, "name": dataset.name, "status": digits_api.INITIALIZED}

    @app.post("/models/images/generic.json")
    def create_model_json():
        try:
            job = service.create_model(_fields(), flask.request.files, username())
        except creation.FieldErrors as err:
            return field_errors_response(err)
        return {**model_doc(job, verbose=False), "status": digits_api.INITIALIZED}

    @app.get("/models/<job_id>.json")
    def show_model(job_id):
        return model_doc(service.model_or_404(job_id))

    @app.get("/datasets/<job_id>.json")
    def show_dataset(job_id):
        return dataset_doc(service.dataset_or_404(job_id))

    @app.get("/index.json")
    def index_json():
        models = [model_doc(job, verbose=False) for job in reg.models()]
        sets = [dataset_doc(d, verbose=False) for d in reg.datasets()]
        running_first = (lambda doc: not digits_api.is_running(doc["status"]))
        return {"version": __version__, "jobs_dir": service.jobs_dir,
                "datasets": sorted(sets, key=running_first),
                "models": sorted(models, key=running_first)}

    @app.get("/completed_jobs.json")
    def completed_jobs():
        models = [digits_api.model_item(job, reg, service.queue.state(job.job_id))
                  for job in reg.models()]
        sets = [digits_api.dataset_item(d, service.queue.state(d.job_id))
                for d in reg.datasets()]
        running = [item for item in models + sets if digits_api.is_running(item["status"])]
        fields = sorted({key for item in models for key in item if key.startswith("loss (")})
        return {"running": running,
                "datasets": [i for i in sets if not digits_api.is_running(i["status"])],
                "models": [i for i in models if not digits_api.is_running(i["status"])],
                "pretrained_models": [], "model_output_fields": fields}

    @app.get("/jobs/<job_id>/table_data.json")
    def table_data(job_id):
        job = reg.model(job_id)
        if job is not None:
            return {"job": digits_api.model_item(job, reg, service.queue.state(job_id))}
        dataset = service.dataset_or_404(job_id)
        return {"job": digits_api.dataset_item(dataset, service.queue.state(job_id))}

    def status_route(kind):
        def status(job_id):
            job = reg.model(job_id) if kind != "dataset" else None
            if job is None and kind != "model":
                job = reg.dataset(job_id)
            if job is None:
                body = {"error": "Job not found."}
            else:
                is_model = not hasattr(job, "state")
                name = (digits_api.model_dict(job, reg)["name"] if is_model else job.name)
                body = digits_api.status_document("model" if is_model else "dataset",
                                                  service.status_of(job), name)
            return flask.Response(json.dumps(body), 200, mimetype="text/html")
        return status

    for prefix, kind in (("/datasets", "dataset"), ("/models", "model"), ("/jobs", "job")):
        app.add_url_rule(f"{prefix}/<job_id>/status", f"status_{kind}", status_route(kind))
        app.add_url_rule(f"{prefix}/<job_id>/abort", f"abort_{kind}", _abort(service),
                         methods=["POST"])
        app.add_url_rule(f"{prefix}/<job_id>", f"delete_{kind}", _delete(service),
                         methods=["DELETE"])
    for prefix in ("/models", "/jobs"):
        app.add_url_rule(f"{prefix}/<job_id>/resume", f"resume_{prefix[1:]}", _resume(service),
                         methods=["POST"])

    @app.post("/abort_jobs")
    def abort_jobs():
        return _many(service.abort, "aborted")

    @app.delete("/jobs")
    def delete_jobs():
        return _many(service.delete, "deleted")

    @app.put("/jobs/<job_id>")
    def edit_job(job_id):
        username()
        name = (flask.request.form.get("job_name") or "").strip()
        notes = flask.request.form.get("job_notes")
        kind = service.rename(job_id, name or None, notes)
        return flask.Response(f"{kind} updated.", 200, mimetype="text/plain")

    @app.post("/login")
    def login():
        name = creation.check_username(flask.request.form, {})
        if not name:
            raise http.BadRequest("username is a required field")
        response = flask.redirect(flask.request.args.get("next") or "/")
        if not response.location.startswith("/") or response.location.startswith("//"):
            response = flask.redirect("/")
        response.set_cookie("username", name, samesite="Strict")
        return response

    @app.get("/jobs/<job_id>")
    def job_page(job_id):
        kind = "models" if reg.model(job_id) else "datasets"
        service.any_or_404(job_id)
        return flask.redirect(f"/{kind}/{job_id}")


def _job_action(action, done_text):
    """A view for POST/DELETE .../<job_id>/...: run `action(job_id)` (the service raises the
    HTTP error when it refuses), answer DIGITS' plain-text sentence."""
    def view(job_id):
        username()
        action(job_id)
        return flask.Response(done_text, 200, mimetype="text/plain")
    return view


def _abort(service):
    return _job_action(service.abort, "Job aborted.")


def _resume(service):
    return _job_action(service.resume, "Job resumed.")


def _delete(service):
    return _job_action(service.delete, "Job deleted.")


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
    return flask.Response(f"Jobs {done_word}.", 200, mimetype="text/plain")
