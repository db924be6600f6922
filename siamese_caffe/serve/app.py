"""`serve`: DIGITS for this workflow, one Flask app run by waitress.

This module builds the app and answers DIGITS' two inference routes; the others live
beside it: jobroutes.py (DIGITS' job routes for scripts), pages.py (the web pages),
service.py and jobqueue.py (creating jobs, training them in child processes),
digits_api.py (status words and DIGITS' JSON documents), security.py (Host,
Origin and token checks, run before every route), creation.py (the create forms).

Inference routes (answers are JSON; field names and answer shapes as DIGITS'):

    POST /models/images/generic/infer_one.json
        job_id (query string first, then form); image_file (upload) or image_path (a
        server path inside a data root); optional snapshot_epoch (default: the last
        snapshot), show_visualizations, dont_resize (an image of another size is
        resized to the net's input, and the answer has "resized": {"from", "to"}).
        -> {"outputs": {blob: [[values]]}, "distance": L2 distance of the two features,
            "snapshot": {"iteration", "epoch"}, "visualizations": per-blob and per-layer
            statistics (only when asked)}
    POST /models/images/generic/infer_many.json
        job_id; image_list (upload, `path [label]` per line); optional image_folder,
        num_test_images, snapshot_epoch, dont_resize ("resized": [paths resized]).
        -> {"outputs": {path: {blob: [values]}}, "distances": {path: float},
            "failed": [{"path", "line", "reason"}], "snapshot": {...}}
    GET  /healthz                {"status": "ok", "nets_loaded": n}

`outputs` hold the two feature blobs (job.json network.feature_blobs, e.g.
feat_left / feat_right); infer_one also every other output of the deploy net.
An infer_many path is keyed as written in the list (joined to image_folder when
relative, as DIGITS did); images that cannot be read are listed in `failed`.

Errors are JSON as DIGITS' (HTML pages for a browser asking for text/html): {"error": {"message": "400 Bad Request: ...", "type":
"BadRequest", "description": "..."}} with status 400 (bad field or image), 403
(a path outside the data roots, pathguard.py), 404 (unknown job or route), 409
(a job without snapshot), 413 (a request over the upload limit) or 500 (a job
whose net cannot be loaded, or a bug; the server keeps running). Uploads are
held in memory and never written to disk.
"""

import dataclasses
import io
import logging
import os
import time

import flask
import werkzeug.exceptions as http

from .. import __version__
from ..errors import BadInputError
from .settings import DEFAULT_MAX_UPLOAD_MB
from ..infer import embedding, predictions, visualize
from . import netcache, pathguard, inputs, jobroutes, pages, security
from .service import JobService

BODY_SLACK = 1 << 20         # waitress's own cap sits this far above Flask's, as a backstop
INFER_ONE = "/models/images/generic/infer_one.json"
INFER_MANY = "/models/images/generic/infer_many.json"
FALSE_WORDS = {"0", "false", "no", "off"}
JSON_ONLY = ("/healthz",)

log = logging.getLogger("siamese_caffe.server")


class MemoryRequest(flask.Request):
    """A request whose file uploads stay in memory (bounded by MAX_CONTENT_LENGTH)."""

    def _get_file_stream(self, total_content_length, content_type, filename=None,
                         content_length=None):
        return io.BytesIO()


def _make_jobs_dir(jobs_dir):
    """The jobs folder, made when it does not exist yet (its parent must)."""
    if os.path.isdir(jobs_dir):
        return
    if os.path.lexists(jobs_dir):
        raise BadInputError("not a folder", where=jobs_dir)
    parent = os.path.dirname(os.path.abspath(jobs_dir))
    if not os.path.isdir(parent):
        raise BadInputError(f"cannot make the jobs folder: {parent} does not exist",
                            where=jobs_dir)
    os.mkdir(jobs_dir)


def create_app(jobs_dir, data_roots=(), cache=None, max_upload_bytes=None, guard=None,
               queue=None, default_gpu="auto"):
    """The Flask app. jobs_dir: folder of job folders (made when missing, as DIGITS made its
    jobs folder; BadInputError when it is a file or its parent folder is missing).
    data_roots: folders server paths may point into. cache: a netcache.NetCache
    (default: CPU). max_upload_bytes: the largest request body (413 above).
    guard: a security.Guard (default: loopback, no token). queue: a jobqueue.JobQueue.
    The app's job service (queue and all) is app.extensions["siamese_service"]."""
    _make_jobs_dir(jobs_dir)
    app = flask.Flask(__name__)
    app.request_class = MemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes or DEFAULT_MAX_UPLOAD_MB << 20
    app.json.sort_keys = False   # keep the list's order in infer_many answers
    roots = pathguard.DataRoots(data_roots)
    state = _State(os.path.abspath(jobs_dir), roots, cache or netcache.NetCache())
    service = JobService(jobs_dir, roots, queue, default_gpu)
    app.extensions["siamese_service"] = service
    app.extensions["siamese_state"] = state
    (guard or security.Guard()).install(app)
    _add_routes(app, state)
    jobroutes.add_job_routes(app, service)
    pages.add_pages(app, service, state)
    _add_error_handling(app)
    return app


@dataclasses.dataclass
class _State:
    jobs_dir: str
    roots: pathguard.DataRoots
    cache: netcache.NetCache


def job_fields():
    """The form, with `job_id` taken from the query string first, as DIGITS did."""
    form = flask.request.form.copy()
    if "job_id" in flask.request.args:
        form["job_id"] = flask.request.args["job_id"]
    return form


def one_image_request(state, form, files):
    """What an infer_one request names: (job, snapshot, image source, its name for errors,
    the resize made or None), the image fitted to the job's size unless dont_resize."""
    job = inputs.find_job(state.jobs_dir, form)
    source, where = inputs.image_source(state.roots, form, files)
    snapshot = inputs.pick_snapshot(job, form)
    source, resized = inputs.fit_image(source, where, job.image_shape,
                                       _flag(form.get("dont_resize")))
    return job, snapshot, source, where, resized


def _add_routes(app, state):
    @app.post(INFER_ONE)
    def infer_one():
        form = job_fields()
        job, snapshot, source, where, resized = one_image_request(state, form,
                                                                  flask.request.files)
        answer = infer_one_answer(state.cache.get(job, snapshot), source, where,
                                  _flag(form.get("show_visualizations")))
        if resized:
            answer["resized"] = resized
        return answer

    @app.post(INFER_MANY)
    def infer_many():
        form, files = job_fields(), flask.request.files
        job = inputs.find_job(state.jobs_dir, form)
        listed = inputs.uploaded_list(state.roots, form, files)
        snapshot = inputs.pick_snapshot(job, form)
        resized = inputs.fit_list(listed, job.image_shape, _flag(form.get("dont_resize")))
        answer = infer_many_answer(state.cache.get(job, snapshot), listed)
        if resized:
            answer["resized"] = resized
        return answer

    @app.get("/healthz")
    def healthz():
        return {"status": "ok", "version": __version__, "nets_loaded": len(state.cache)}


def infer_one_answer(loaded, source, where, visualizations=False):
    """The infer_one answer for one image (path or file object) through a netcache.LoadedNet."""
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
              "snapshot": _snapshot(embedder)}
    if stats is not None:
        answer["visualizations"] = stats
    return answer


def infer_many_answer(loaded, listed):
    """The infer_many answer for a inputs.ImageList (400 when no image could be read)."""
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
    answer["snapshot"] = _snapshot(embedder)
    return answer


def _snapshot(embedder):
    return {"iteration": embedder.snapshot.iteration, "epoch": embedder.snapshot.epoch}


def _flag(text):
    """A form checkbox: set when non-empty (as DIGITS), unless it says 0/false/no/off."""
    return bool(text) and text.strip().lower() not in FALSE_WORDS


def _add_error_handling(app):
    """Every failure becomes a JSON error with the right status; one log line per request."""

    @app.before_request
    def start_clock():
        flask.g.started = time.perf_counter()

    @app.after_request
    def log_request(response):
        took = (time.perf_counter() - flask.g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %s %d %.1f ms", flask.request.remote_addr, flask.request.method,
                 flask.request.path, response.status_code, took)
        return response

    @app.errorhandler(Exception)
    def handle_error(err):
        err = as_http_error(err)
        browser = "text/html" in flask.request.headers.get("Accept", "")
        if browser and not jobroutes.wants_json() and \
                not flask.request.path.startswith(JSON_ONLY):
            return pages.error_page(err)
        return error_response(err)


def as_http_error(err):
    """The werkzeug HTTPException reporting `err` (an unexpected one is logged, and only
    its type is told to the client)."""
    if isinstance(err, http.HTTPException):
        return err
    if isinstance(err, pathguard.ForbiddenPathError):
        return http.Forbidden(str(err))
    if isinstance(err, netcache.JobNotLoadableError):
        return http.InternalServerError(str(err))
    if isinstance(err, BadInputError):
        return http.BadRequest(str(err))
    log.exception("unexpected error on %s %s", flask.request.method, flask.request.path)
    return http.InternalServerError(f"unexpected {type(err).__name__}; see the server's log")


def error_response(err):
    """DIGITS' JSON error body for an HTTPException, with its status code."""
    description = err.description or ""
    body = {"error": {"message": f"{err.code} {err.name}: {description}",
                      "type": type(err).__name__, "description": description}}
    return flask.jsonify(body), err.code or 500


def make_server(app, host="127.0.0.1", port=5000, threads=4):
    """A waitress server for `app` bound to host:port (port 0: any free port; see
    `addresses`); BadInputError when the address cannot be bound."""
    import waitress

    limit = app.config["MAX_CONTENT_LENGTH"] + BODY_SLACK
    try:
        return waitress.create_server(app, host=host, port=port, threads=threads,
                                      max_request_body_size=limit, ident="siamese-caffe")
    except OSError as err:
        raise BadInputError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                            where="--host/--port") from None


def addresses(server):
    """[(host, port)] a waitress server listens on."""
    if hasattr(server, "effective_listen"):
        return list(server.effective_listen)
    return [(server.effective_host, server.effective_port)]
