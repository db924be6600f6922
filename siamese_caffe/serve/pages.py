"""DIGITS' web pages for this workflow, rendered by the server (templates/, static/).

    GET  /                               home: datasets and models (refreshes while one runs)
    GET  /datasets/images/generic/new    New Dataset › Images › Other
    POST /datasets/images/generic        create it (302 to its page, or the form with errors)
    GET  /datasets/<id>                  counts, mean image, test pictures
    GET  /datasets/<id>/files/<name>     a PNG of the dataset folder
    GET  /models/images/generic/new      New Model › Images › Other
    POST /models/images/generic          create and queue it (302, or the form with errors)
    POST /models/visualize-network       the network picture of a custom_network (JSON)
    GET  /models/<id>                    loss chart, progress, snapshots, Test One / Test Many
    GET  /models/<id>/progress.json      what the model page polls
    GET  /models/<id>/files/<name>       deploy.prototxt, network.png, snapshots, ...
    POST /models/images/generic/infer_one   Test One (HTML), with visualizations on request
    POST /models/images/generic/infer_many  Test Many (HTML): table and cluster plot
    GET  /models/<id>/results/<rid>.csv|.json   a Test Many result for download

Every script, style sheet and font comes from static/ (no CDN). Pictures made for a
page (visualizations, cluster plot) are sent inline as data: URIs and never
written to disk.
"""

import base64
import collections
import io
import os
import secrets
import tempfile
import threading

import flask
import numpy as np
import werkzeug.exceptions as http

from .. import __version__
from ..errors import BadInputError, SiameseCaffeError
from ..train import jobs
from . import creation, digits_api, inputs, registry

MODEL_FILES = ("deploy.prototxt", "train_val.prototxt", "solver.prototxt", "original.prototxt",
               "network.png", "loss.png", "train_log.csv", "caffe_output.log")
RESULTS_KEPT = 32   # Test Many results kept in memory for their download links


def add_pages(app, service, state):
    reg = service.registry
    results = _Results()

    @app.context_processor
    def common():
        return {"version": __version__, "css": digits_api.CSS}

    @app.get("/")
    def home():
        models = [_model_row(job, service) for job in reg.models()]
        sets = [_dataset_row(d, service) for d in reg.datasets()]
        running = any(digits_api.is_running(row["status"]) for row in models + sets)
        return flask.render_template("home.html", models=models, datasets=sets,
                                     running=running, jobs_dir=service.jobs_dir)

    # ---- datasets
    @app.get("/datasets/images/generic/new")
    @app.get("/datasets/new")
    def new_dataset():
        return flask.render_template("new_dataset.html", form={}, errors={},
                                     roots=service.roots.roots)

    @app.post("/datasets/images/generic")
    def create_dataset_page():
        from .jobroutes import username, wants_json
        if wants_json():
            return app.view_functions["create_dataset_json"]()
        try:
            dataset = service.create_dataset(flask.request.form, username())
        except creation.FieldErrors as err:
            return flask.render_template("new_dataset.html", form=flask.request.form,
                                         errors=err.errors, roots=service.roots.roots), 400
        return flask.redirect(f"/datasets/{dataset.job_id}")

    @app.get("/datasets/<job_id>")
    def dataset_page(job_id):
        dataset = service.dataset_or_404(job_id)
        manifest = dataset.manifest
        pictures = {phase: (manifest.get(phase) or {}).get("test_images") or {}
                    for phase in ("train", "val")}
        return flask.render_template("dataset.html", d=_dataset_row(dataset, service),
                                     dataset=dataset, manifest=manifest, pictures=pictures,
                                     users=[_model_row(j, service)
                                            for j in reg.models_using(job_id)])

    @app.get("/datasets/<job_id>/files/<name>")
    def dataset_file(job_id, name):
        dataset = service.dataset_or_404(job_id)
        if not name.endswith(".png") or "/" in name or name.startswith("."):
            raise http.NotFound("no such file")
        return _send(dataset.folder, name)

    # ---- models
    @app.get("/models/images/generic/new")
    @app.get("/models/new")
    def new_model():
        form = {"custom_network": creation.default_network_text(),
                "dataset": flask.request.args.get("dataset", "")}
        return _model_form(form, {})

    def _model_form(form, errors, status=200):
        sets = [d for d in reg.datasets() if d.state == registry.D_DONE]
        return flask.render_template("new_model.html", form=form, errors=errors,
                                     datasets=sets), status

    @app.post("/models/images/generic")
    def create_model_page():
        from .jobroutes import username, wants_json
        if wants_json():
            return app.view_functions["create_model_json"]()
        try:
            job = service.create_model(flask.request.form, flask.request.files, username())
        except creation.FieldErrors as err:
            return _model_form(flask.request.form, err.errors, 400)
        return flask.redirect(f"/models/{job.job_id}")

    @app.post("/models/visualize-network")
    def visualize_network():
        text = flask.request.form.get("custom_network") or ""
        upload = flask.request.files.get("custom_network_file")
        if upload and upload.filename:
            text = upload.read().decode("utf-8", "replace")
        try:
            png = _draw_network(text)
        except BadInputError as err:
            message, line = creation.network_error(err, text, None)
            return {"error": message, "line": line}, 400
        except SiameseCaffeError as err:
            return {"error": str(err), "line": None}, 400
        return {"image": _data_uri(png)}

    @app.get("/models/<job_id>")
    def model_page(job_id):
        job = service.model_or_404(job_id)
        return flask.render_template("model.html", m=_model_row(job, service), job=job,
                                     snapshots=job.snapshots(),
                                     dataset=reg.dataset(reg.dataset_id_of(job) or ""),
                                     files=[f for f in MODEL_FILES
                                            if os.path.isfile(os.path.join(job.path, f))])

    @app.get("/models/<job_id>/progress.json")
    def model_progress(job_id):
        job = service.model_or_404(job_id)
        shown = digits_api.progress(job)
        shown["status"] = service.model_status(job)
        shown["message"] = job.message
        shown["snapshots"] = [{"epoch": s.epoch, "iteration": s.iteration,
                               "file": os.path.basename(s.caffemodel_path)}
                              for s in job.snapshots()]
        return shown

    @app.get("/models/<job_id>/files/<name>")
    def model_file(job_id, name):
        job = service.model_or_404(job_id)
        if name not in MODEL_FILES and not jobs.SNAPSHOT_RE.match(name) and \
                not (name.startswith("snapshot_iter_") and name.endswith(".solverstate")):
            raise http.NotFound("no such file")
        return _send(job.path, name, download=not name.endswith(".png"))

    @app.post("/models/images/generic/infer_one")
    def test_one():
        from .app import infer_one_answer, job_fields, one_image_request, _flag
        form = job_fields()
        job, snapshot, source, where, resized = one_image_request(state, form,
                                                                  flask.request.files)
        try:
            raw = source.getvalue() if hasattr(source, "getvalue") else _read(source)
        except OSError as err:
            raise BadInputError(f"cannot read image ({err.strerror or err})",
                                where=where) from None
        loaded = state.cache.get(job, snapshot)
        visual = _flag(form.get("show_visualizations"))
        answer = infer_one_answer(loaded, io.BytesIO(raw), where)
        images = _visualize(loaded, io.BytesIO(raw), where) if visual else {}
        left, right = (answer["outputs"][b][0] for b in job.feature_blobs)
        threshold = job.margin / 2
        return flask.render_template(
            "test_one.html", job=job, m=_model_row(job, service), answer=answer,
            plot_points=_two_points(left, right),
            input_image=_data_uri(raw), left=left, right=right, resized=resized,
            verdict="same class" if answer["distance"] < threshold else "different classes",
            threshold=threshold, where=where, images=images,
            stats=answer.get("visualizations") or images.get("stats"), visual=visual)

    @app.post("/models/images/generic/infer_many")
    def test_many():
        from .app import infer_many_answer, job_fields, _flag
        form, files = job_fields(), flask.request.files
        job = inputs.find_job(state.jobs_dir, form)
        listed = inputs.uploaded_list(state.roots, form, files)
        snapshot = inputs.pick_snapshot(job, form)
        inputs.fit_list(listed, job.image_shape, _flag(form.get("dont_resize")))
        answer = infer_many_answer(state.cache.get(job, snapshot), listed)
        labels = {key: entry.label for key, entry in zip(listed.keys, listed.entries)}
        left_blob, right_blob = job.feature_blobs
        rows = [{"path": path, "label": labels.get(path),
                 "left": blobs[left_blob], "right": blobs[right_blob],
                 "distance": answer["distances"][path]}
                for path, blobs in answer["outputs"].items()]
        plot = _cluster_plot(rows, job)
        result_id = results.add(job.job_id, rows, answer)
        return flask.render_template("test_many.html", job=job, m=_model_row(job, service),
                                     rows=rows, failed=answer["failed"], plot=plot,
                                     result_id=result_id, snapshot=answer["snapshot"])

    @app.get("/models/<job_id>/results/<result_id>.<kind>")
    def test_many_result(job_id, result_id, kind):
        found = results.get(job_id, result_id)
        if found is None or kind not in ("csv", "json"):
            raise http.NotFound("this result is no longer kept; run Test Many again")
        rows, answer = found
        if kind == "json":
            body = flask.json.dumps({k: answer[k] for k in ("outputs", "distances", "failed",
                                                            "snapshot")})
            mimetype = "application/json"
        else:
            body = _csv(rows)
            mimetype = "text/csv"
        response = flask.Response(body, mimetype=mimetype)
        response.headers["Content-Disposition"] = \
            f'attachment; filename="predictions-{job_id}.{kind}"'
        return response


def error_page(err):
    """An HTTP error as a page (for browsers; scripts get DIGITS' JSON)."""
    return flask.render_template("error.html", code=err.code or 500, name=err.name,
                                 description=err.description or ""), err.code or 500


# ---- rows the templates show ------------------------------------------------------------------

def _model_row(job, service):
    word = service.model_status(job)
    shown = digits_api.progress(job)
    return {"id": job.job_id, "name": registry.model_name(job), "status": word,
            "css": digits_api.CSS.get(word, "default"), "created": job.created,
            "progress": int(round(100 * shown["progress"])), "elapsed": _duration(
                shown["elapsed_s"]), "message": job.message, "device": job.device,
            "dataset_id": service.registry.dataset_id_of(job),
            "running": digits_api.is_running(word), "plan": job.plan,
            "settings": job.settings}


def _dataset_row(dataset, service):
    word = service.dataset_status(dataset)
    item = digits_api.dataset_item(dataset, service.queue.state(dataset.job_id))
    return {"id": dataset.job_id, "name": dataset.name, "status": word,
            "css": digits_api.CSS.get(word, "default"),
            "created": (dataset.created or "")[:19].replace("T", " "),
            "progress": item["progress"],
            "elapsed": _duration(item["elapsed"]), "message": dataset.message,
            "method": dataset.method, "running": digits_api.is_running(word)}


def _duration(seconds):
    if seconds is None:
        return ""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else \
        (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")


# ---- pictures ---------------------------------------------------------------------------------

def _data_uri(png_bytes, kind="image/png"):
    return f"data:{kind};base64,{base64.b64encode(png_bytes).decode('ascii')}"


def _png(array):
    from ..data import image_io
    return image_io.encode_png(array)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _draw_network(text):
    """PNG bytes of a custom_network's picture (checked as the form checks it first)."""
    from ..net import drawnet, netcheck

    net = creation.check_network_text(text)
    netcheck.check_structure(net, creation.NETWORK_FIELD)
    with tempfile.TemporaryDirectory(prefix="siamese-draw-") as tmp:
        path = os.path.join(tmp, "network.png")
        drawnet.draw_net(net, path, phase="all")
        return _read(path)


def _visualize(loaded, source, where):
    """{"blobs": [(name, shape, data URI)], "filters": (layer, URI) or None, "stats": dict}:
    what `infer --visualize` writes, for one image, kept in memory."""
    from ..infer import visualize

    net_input, _ = loaded.embedder.load(source, where)
    with loaded.running() as embedder:
        net = embedder.forward(net_input[None])
        blobs = [(name, list(blob.data.shape),
                  _data_uri(_png(visualize.channel_grid(visualize.item_channels(blob.data)))))
                 for name, blob in net.blobs.items()]
        conv = visualize.first_convolution(net)
        filters = None if conv is None else (
            conv, _data_uri(_png(visualize.filter_grid(net.params[conv][0].data))))
        stats = visualize.net_statistics(net)
    return {"blobs": blobs, "filters": filters, "stats": stats}


def _two_points(left, right, half=100, pad=10):
    """SVG coordinates of the two features (their first two components) on one square
    plot centred on the origin: {"left": (x, y), "right": (x, y), "size", "centre"}."""
    flat = [list(left) + [0.0] * (2 - len(left)), list(right) + [0.0] * (2 - len(right))]
    reach = max(max(abs(v) for v in point[:2]) for point in flat) * 1.25 or 1.0
    centre = half + pad

    def place(point):
        return (round(centre + point[0] / reach * half, 1),
                round(centre - point[1] / reach * half, 1))
    return {"left": place(flat[0]), "right": place(flat[1]), "size": 2 * centre,
            "centre": centre, "reach": reach}


def _cluster_plot(rows, job):
    """The Test Many cluster plot (infer.clusters) as a data URI, or None without rows."""
    from ..data.image_list import UNLABELLED
    from ..infer import clusters

    if not rows:
        return None
    points = np.asarray([row["left"] for row in rows], np.float64)
    labels = np.asarray([UNLABELLED if row["label"] is None else row["label"]
                         for row in rows], np.int64)
    with tempfile.TemporaryDirectory(prefix="siamese-clusters-") as tmp:
        path = os.path.join(tmp, "clusters.png")
        clusters.plot_clusters(points, labels, path, title=f"feature clusters, job {job.job_id}")
        return _data_uri(_read(path))


def _csv(rows):
    import csv
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


def _send(folder, name, download=False):
    path = os.path.join(folder, name)
    if not os.path.isfile(path):
        raise http.NotFound("no such file")
    return flask.send_file(path, as_attachment=download, download_name=name, max_age=0)


class _Results:
    """The last RESULTS_KEPT Test Many results, for their CSV / JSON links."""

    def __init__(self):
        self._lock = threading.Lock()
        self._kept = collections.OrderedDict()

    def add(self, job_id, rows, answer):
        result_id = secrets.token_hex(8)
        with self._lock:
            self._kept[(job_id, result_id)] = (rows, answer)
            while len(self._kept) > RESULTS_KEPT:
                self._kept.popitem(last=False)
        return result_id

    def get(self, job_id, result_id):
        with self._lock:
            return self._kept.get((job_id, result_id))
