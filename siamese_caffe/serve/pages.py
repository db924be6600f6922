"""The `pages` blueprint: DIGITS' web pages for this workflow (templates/, static/; the
route table is the package docstring, serve/__init__.py).

home; the New Dataset › Images › Other and New Model › Images › Other forms (a create
route answers 302 to the new job's page, the form again with each error beside its
field, or, asked for JSON, what the api route answers); a dataset's page (counts, mean
image, test pictures) and its PNGs; a model's page (loss chart polling progress.json,
snapshots, Test One / Test Many) and its files; Visualize for a custom_network; Test One
(with visualizations on request) and Test Many (table, cluster plot, CSV / JSON download).

Every script, style sheet and font comes from static/ (no CDN). Pictures made for a page
(pictures.py) are sent inline as data: URIs and never written to disk.
"""

import io
import os

import flask
import werkzeug.exceptions as http

from .. import __version__
from ..errors import BadInputError, SiameseCaffeError
from ..train import jobs
from . import answers, creation, digits_api, inputs, pictures, registry, web

MODEL_FILES = ("deploy.prototxt", "train_val.prototxt", "solver.prototxt", "original.prototxt",
               "network.png", "loss.png", "train_log.csv", "caffe_output.log")

bp = flask.Blueprint("pages", __name__)


@bp.app_context_processor
def common():
    """What every template (error pages included) may use."""
    return {"version": __version__, "css": digits_api.CSS}


@bp.get("/")
def home():
    service = web.service()
    models = [answers.model_row(service, job) for job in service.registry.models()]
    sets = [answers.dataset_row(service, d) for d in service.registry.datasets()]
    running = any(digits_api.is_running(row["status"]) for row in models + sets)
    return flask.render_template("home.html", models=models, datasets=sets,
                                 running=running, jobs_dir=service.jobs_dir)


def error_page(err):
    """An HTTP error as a page (for browsers; scripts get DIGITS' JSON)."""
    return flask.render_template("error.html", code=err.code or 500, name=err.name,
                                 description=err.description or ""), err.code or 500


# ---- datasets -------------------------------------------------------------------------------

@bp.get("/datasets/images/generic/new")
@bp.get("/datasets/new")
def new_dataset():
    return flask.render_template("new_dataset.html", form={}, errors={},
                                 roots=web.service().roots.roots)


@bp.post("/datasets/images/generic")
def create_dataset_page():
    service = web.service()
    if web.wants_json():
        return answers.dataset_created(service, web.create_fields(), web.user_fields())
    try:
        dataset = service.create_dataset(flask.request.form, web.username())
    except creation.FieldErrors as err:
        return flask.render_template("new_dataset.html", form=flask.request.form,
                                     errors=err.errors, roots=service.roots.roots), 400
    return flask.redirect(f"/datasets/{dataset.job_id}")


@bp.get("/datasets/<job_id>")
def dataset_page(job_id):
    service = web.service()
    dataset = service.dataset_or_404(job_id)
    manifest = dataset.manifest
    pictures_shown = {phase: (manifest.get(phase) or {}).get("test_images") or {}
                      for phase in ("train", "val")}
    users = [answers.model_row(service, j) for j in service.registry.models_using(job_id)]
    return flask.render_template("dataset.html", d=answers.dataset_row(service, dataset),
                                 dataset=dataset, manifest=manifest, pictures=pictures_shown,
                                 users=users)


@bp.get("/datasets/<job_id>/files/<name>")
def dataset_file(job_id, name):
    dataset = web.service().dataset_or_404(job_id)
    if not name.endswith(".png") or "/" in name or name.startswith("."):
        raise http.NotFound("no such file")
    return _send(dataset.folder, name)


# ---- models ---------------------------------------------------------------------------------

@bp.get("/models/images/generic/new")
@bp.get("/models/new")
def new_model():
    form = {"custom_network": creation.default_network_text(),
            "dataset": flask.request.args.get("dataset", "")}
    return _model_form(form, {})


def _model_form(form, errors, status=200):
    sets = [d for d in web.service().registry.datasets() if d.state == registry.D_DONE]
    return flask.render_template("new_model.html", form=form, errors=errors,
                                 datasets=sets), status


@bp.post("/models/images/generic")
def create_model_page():
    service, files = web.service(), flask.request.files
    if web.wants_json():
        return answers.model_created(service, web.create_fields(), files, web.user_fields())
    try:
        job = service.create_model(flask.request.form, files, web.username())
    except creation.FieldErrors as err:
        return _model_form(flask.request.form, err.errors, 400)
    return flask.redirect(f"/models/{job.job_id}")


@bp.post("/models/visualize-network")
def visualize_network():
    text = flask.request.form.get("custom_network") or ""
    upload = flask.request.files.get("custom_network_file")
    if upload and upload.filename:
        text = upload.read().decode("utf-8", "replace")
    try:
        png = pictures.draw_network(text)
    except BadInputError as err:
        message, line = creation.network_error(err, text, None)
        return {"error": message, "line": line}, 400
    except SiameseCaffeError as err:
        return {"error": str(err), "line": None}, 400
    return {"image": pictures.data_uri(png)}


@bp.get("/models/<job_id>")
def model_page(job_id):
    service = web.service()
    job = service.model_or_404(job_id)
    reg = service.registry
    return flask.render_template("model.html", m=answers.model_row(service, job), job=job,
                                 snapshots=job.snapshots(),
                                 dataset=reg.dataset(reg.dataset_id_of(job) or ""),
                                 files=[f for f in MODEL_FILES
                                        if os.path.isfile(os.path.join(job.path, f))])


@bp.get("/models/<job_id>/progress.json")
def model_progress(job_id):
    service = web.service()
    return answers.progress_answer(service, service.model_or_404(job_id))


@bp.get("/models/<job_id>/files/<name>")
def model_file(job_id, name):
    job = web.service().model_or_404(job_id)
    if name not in MODEL_FILES and not jobs.SNAPSHOT_RE.match(name) and \
            not (name.startswith("snapshot_iter_") and name.endswith(".solverstate")):
        raise http.NotFound("no such file")
    return _send(job.path, name, download=not name.endswith(".png"))


def _send(folder, name, download=False):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise http.NotFound("no such file")
    return flask.send_file(path, as_attachment=download, download_name=name, max_age=0)


# ---- Test One, Test Many --------------------------------------------------------------------

@bp.post("/models/images/generic/infer_one")
def test_one():
    service, form = web.service(), web.job_fields()
    job, snapshot, source, where, resized = answers.one_image_request(service, form,
                                                                      flask.request.files)
    try:
        raw = source.getvalue() if hasattr(source, "getvalue") else pictures.read_bytes(source)
    except OSError as err:
        raise BadInputError(f"cannot read image ({err.strerror or err})",
                            where=where) from None
    loaded = service.cache.get(job, snapshot)
    visual = inputs.flag(form, "show_visualizations")
    answer = answers.infer_one_answer(loaded, io.BytesIO(raw), where)
    images = pictures.visualize(loaded, io.BytesIO(raw), where) if visual else {}
    left, right = (answer["outputs"][b][0] for b in job.feature_blobs)
    threshold = job.margin / 2
    return flask.render_template(
        "test_one.html", job=job, m=answers.model_row(service, job), answer=answer,
        plot_points=pictures.two_points(left, right),
        input_image=pictures.data_uri(raw), left=left, right=right, resized=resized,
        verdict="same class" if answer["distance"] < threshold else "different classes",
        threshold=threshold, where=where, images=images,
        stats=answer.get("visualizations") or images.get("stats"), visual=visual)


@bp.post("/models/images/generic/infer_many")
def test_many():
    service, form, files = web.service(), web.job_fields(), flask.request.files
    job = inputs.find_job(service.jobs_dir, form)
    listed = inputs.uploaded_list(service.roots, form, files)
    snapshot = inputs.pick_snapshot(job, form)
    inputs.fit_list(listed, job.image_shape, inputs.flag(form, "dont_resize"))
    answer = answers.infer_many_answer(service.cache.get(job, snapshot), listed)
    rows = answers.many_rows(job, listed, answer)
    plot = pictures.cluster_plot(rows, job)
    result_id = service.results.add(job.job_id, rows, answer)
    return flask.render_template("test_many.html", job=job,
                                 m=answers.model_row(service, job), rows=rows,
                                 failed=answer["failed"], plot=plot,
                                 result_id=result_id, snapshot=answer["snapshot"])


@bp.get("/models/<job_id>/results/<result_id>.<kind>")
def test_many_result(job_id, result_id, kind):
    found = web.service().results.get(job_id, result_id)
    if found is None or kind not in ("csv", "json"):
        raise http.NotFound("this result is no longer kept; run Test Many again")
    rows, answer = found
    if kind == "json":
        body = flask.json.dumps({k: answer[k] for k in ("outputs", "distances", "failed",
                                                        "snapshot")})
        mimetype = "application/json"
    else:
        body = answers.rows_csv(rows)
        mimetype = "text/csv"
    response = flask.Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = \
        f'attachment; filename="predictions-{job_id}.{kind}"'
    return response
