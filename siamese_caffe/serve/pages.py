"""The `pages` blueprint: DIGITS' web pages for this workflow (templates/, static/; the
route table is the package docstring, serve/__init__.py).

home; the New Dataset › Images › Other and New Model › Images › Other forms (a create
route answers 302 to the new job's page, the form again with each error beside its
field, or, asked for JSON, what the api route answers); a dataset's page (counts, mean
image, test pictures) and its PNGs; a model's page (loss chart polling progress.json,
snapshots, Test One / Test Many) and its files; Visualize for a custom_network; Test One
(with visualizations on request) and Test Many (table, cluster plot, CSV / JSON download);
Test a DB (a pair LMDB's verdicts and accuracy); the model Download (DIGITS' bundle);
Clone (a job's form filled in); the New Model form's learning-rate preview.

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
from . import answers, creation, digits_api, galleries, inputs, pictures, registry, web

MODEL_FILES = ("deploy.prototxt", "train_val.prototxt", "solver.prototxt", "original.prototxt",
               "network.png", "loss.png", "train_log.csv", "caffe_output.log")

# a dataset folder's files anyone may fetch: pictures, the means, dataset.json
DATASET_FILE_ENDINGS = (".png", ".binaryproto", "dataset.json")

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
    service = web.service()
    clone = flask.request.args.get("clone")
    form = answers.dataset_clone_fields(service.dataset_or_404(clone)) if clone else {}
    return flask.render_template("new_dataset.html", form=form, errors={},
                                 roots=service.roots.roots)


@bp.get("/clone/<job_id>")
def clone_job(job_id):
    """DIGITS' Clone: the job's New Dataset or New Model form, every field filled in."""
    service = web.service()
    if service.registry.model(job_id) is not None:
        return flask.redirect(f"/models/images/generic/new?clone={job_id}")
    service.dataset_or_404(job_id)
    return flask.redirect(f"/datasets/images/generic/new?clone={job_id}")


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
    if not name.endswith(DATASET_FILE_ENDINGS) or "/" in name or name.startswith("."):
        raise http.NotFound("no such file")
    return _send(dataset.folder, name, download=not name.endswith(".png"))


# ---- models ---------------------------------------------------------------------------------

@bp.get("/models/images/generic/new")
@bp.get("/models/new")
def new_model():
    service, clone = web.service(), flask.request.args.get("clone")
    if clone:
        form = answers.model_clone_fields(service, service.model_or_404(clone))
    else:
        form = {"custom_network": creation.default_network_text(),
                "dataset": flask.request.args.get("dataset", "")}
    return _model_form(form, {})


def _model_form(form, errors, status=200):
    service = web.service()
    # DIGITS listed the datasets Done or still being built: a model on one waits for it
    words = {d.job_id: service.dataset_status(d) for d in service.registry.datasets()}
    sets = [d for d in service.registry.datasets()
            if words[d.job_id] == digits_api.DONE or digits_api.is_running(words[d.job_id])]
    running = {d.job_id for d in sets if words[d.job_id] != digits_api.DONE}
    return flask.render_template("new_model.html", form=form, errors=errors, datasets=sets,
                                 running=running,
                                 models=service.registry.models(),
                                 devices=answers.device_choices(), pathsep=os.pathsep), status


@bp.post("/models/images/generic")
def create_model_page():
    service, files = web.service(), flask.request.files
    if web.wants_json():
        return answers.model_created(service, web.create_fields(), files, web.user_fields())
    try:
        made = service.create_model(flask.request.form, files, web.username())
    except creation.FieldErrors as err:
        return _model_form(flask.request.form, err.errors, 400)
    return flask.redirect(f"/models/{made[0].job_id}" if len(made) == 1 else "/")


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


@bp.post("/models/visualize-lr")
def visualize_lr():
    """The learning-rate schedule of the New Model form's fields (JSON, as DIGITS')."""
    return answers.lr_preview_answer(web.service(), flask.request.form)


@bp.route("/models/<job_id>/download", methods=["GET", "POST"],
          defaults={"extension": "tar.gz"})
@bp.route("/models/<job_id>/download.<extension>", methods=["GET", "POST"])
def download_model(job_id, extension):
    """DIGITS' Download Model: ?epoch=N (or a form's snapshot_epoch), default the last."""
    service = web.service()
    job = service.model_or_404(job_id)
    epoch = flask.request.args.get("epoch") or flask.request.form.get("snapshot_epoch", "")
    data, name = answers.download_answer(service, job, extension, epoch)
    return flask.send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                           mimetype="application/zip" if extension == "zip"
                           else "application/x-tar", max_age=0)


@bp.get("/models/<job_id>")
def model_page(job_id):
    service = web.service()
    return _model_page(service, service.model_or_404(job_id))


def _model_page(service, job, gallery_form=None, errors=None):
    """The model page; gallery_form and errors: the Build a gallery form sent back with
    its field errors."""
    reg = service.registry
    return flask.render_template("model.html", m=answers.model_row(service, job), job=job,
                                 snapshots=job.snapshots(),
                                 dataset=reg.dataset(reg.dataset_id_of(job) or ""),
                                 test_pictures=answers.test_pictures(job),
                                 files=[f for f in MODEL_FILES
                                        if os.path.isfile(os.path.join(job.path, f))],
                                 galleries=galleries.model_galleries(service, job),
                                 index_kinds=galleries.INDEX_KINDS,
                                 gallery_form=gallery_form or {}, errors=errors or {})


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
    job, snapshot, image, where, resized = answers.one_image_request(service, form,
                                                                     flask.request.files)
    from ..data import image_io

    raw = image_io.encode_png(image)          # the picture as the net reads it
    loaded = service.cache.get(job, snapshot)
    visual = inputs.flag(form, "show_visualizations")
    answer = answers.infer_one_answer(loaded, image, where)
    images = pictures.visualize(loaded, image, where) if visual else {}
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
                                 result_id=result_id, snapshot=answer["snapshot"],
                                 snapshot_label=snapshot.label)


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


@bp.post("/models/images/generic/infer_db")
def test_db():
    service = web.service()
    form = web.job_fields()
    answer = answers.infer_db_answer(service, form)
    job = inputs.find_job(service.jobs_dir, form)
    return flask.render_template("test_db.html", job=job, m=answers.model_row(service, job),
                                 answer=answer)


# ---- Verify and Search (serve/galleries.py) -------------------------------------------------

@bp.post("/models/<job_id>/verify")
def verify_page(job_id):
    service = web.service()
    job = service.model_or_404(job_id)
    files = flask.request.files
    raw = {side: files[f"image_file_{side}"].read() if files.get(f"image_file_{side}") else None
           for side in ("a", "b")}
    uploads = {f"image_file_{side}": _Upload(data, files[f"image_file_{side}"].filename)
               for side, data in raw.items() if data is not None}
    answer = galleries.verify_answer(service, job, web.job_fields(), uploads)
    return flask.render_template("verify.html", job=job, m=answers.model_row(service, job),
                                 answer=answer, pictures=[pictures.data_uri(data) if data
                                                          else None for data in raw.values()])


@bp.post("/models/<job_id>/search")
def search_page(job_id):
    service = web.service()
    job = service.model_or_404(job_id)
    gallery_id = (flask.request.form.get("gallery_id") or "").strip()
    owner, folder = galleries.find_gallery(service, gallery_id)
    if owner.job_id != job.job_id:
        raise http.NotFound("Gallery not found")
    upload = flask.request.files.get("image_file")
    data = upload.read() if upload else None
    files = {"image_file": _Upload(data, upload.filename)} if data else {}
    answer = galleries.search_answer(service, folder, flask.request.form, files)
    return flask.render_template("search.html", job=job, m=answers.model_row(service, job),
                                 answer=answer, picture=pictures.data_uri(data) if data else None)


@bp.post("/models/<job_id>/galleries")
def build_gallery_page(job_id):
    """The model page's Build a gallery form: the build is queued and the page shows its
    status (the form again, with what is wrong, when a field is)."""
    service = web.service()
    job = service.model_or_404(job_id)
    try:
        galleries.build_request(service, job, flask.request.form)
    except creation.FieldErrors as err:
        return _model_page(service, job, flask.request.form, err.errors), 400
    return flask.redirect(f"/models/{job.job_id}#galleries", 303)


@bp.get("/galleries/<gallery_id>/images/<int:position>")
def gallery_image(gallery_id, position):
    _, folder = galleries.find_gallery(web.service(), gallery_id)
    return flask.Response(galleries.reference_picture(folder, position), mimetype="image/png")


class _Upload:
    """An upload already read: what galleries' builders read (read(), filename)."""

    def __init__(self, data, filename):
        self.data, self.filename = data, filename

    def read(self):
        return self.data
