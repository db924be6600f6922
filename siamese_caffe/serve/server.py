"""`serve`: DIGITS for this workflow, one Flask app run by waitress.

create_app builds the app from the two blueprints, api.py (DIGITS' JSON routes) and
pages.py (the web pages), and one service.JobService (registry, data roots, job queue,
loaded nets, kept Test Many results) that views reach through web.service(); the
package docstring (serve/__init__.py) lists every route and the view that answers it.
security.py (Host, Origin and token checks) runs before every route.

Errors are JSON as DIGITS' (an HTML page for a browser asking for text/html):
{"error": {"message": "400 Bad Request: ...", "type": "BadRequest", "description": "..."}}
with status 400 (bad field or image), 403 (a path outside the data roots, pathguard.py),
404 (unknown job or route), 409 (a job without snapshot), 413 (a request over the upload
limit) or 500 (a job whose net cannot be loaded, or a bug; the server keeps running).
Uploads are held in memory and never written to disk.
"""

import io
import logging
import os
import time

import flask
import werkzeug.exceptions as http

from ..errors import BadInputError, OutputError
from .settings import DEFAULT_MAX_UPLOAD_MB
from . import api, creation, dispatch, multipart, netcache, pages, pathguard, security, \
    settings, web
from .service import JobService

BODY_SLACK = 1 << 20         # waitress's own cap sits this far above Flask's, as a backstop
JSON_ONLY = ("/healthz",)

log = logging.getLogger("siamese_caffe.serve")


def create_app(jobs_dir, data_roots=(), cache=None, max_upload_bytes=None, guard=None,
               queue=None, default_gpu="auto"):
    """The Flask app. jobs_dir: folder of job folders (made when missing, as DIGITS made its
    jobs folder; BadInputError when it is a file or its parent folder is missing).
    data_roots: folders server paths may point into. cache: a netcache.NetCache
    (default: CPU). max_upload_bytes: the largest request body (413 above).
    guard: a security.Guard (default: loopback, no token). queue: a jobqueue.JobQueue.
    The app's JobService is app.extensions[web.EXTENSION] (web.service() in a request)."""
    _make_jobs_dir(jobs_dir)
    multipart.install()          # no pattern compiled per upload (serve/multipart.py)
    app = flask.Flask(__name__)
    app.request_class = MemoryRequest
    app.config["MAX_CONTENT_LENGTH"] = max_upload_bytes or DEFAULT_MAX_UPLOAD_MB << 20
    app.json.sort_keys = False   # keep the list's order in infer_many answers
    app.extensions[web.EXTENSION] = JobService(
        jobs_dir, pathguard.DataRoots(data_roots), cache or netcache.NetCache(), queue,
        default_gpu)
    (guard or security.Guard()).install(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)
    app.before_request(start_clock)
    app.after_request(log_request)
    app.register_error_handler(Exception, handle_error)
    return app


class MemoryRequest(flask.Request):
    """A request whose file uploads stay in memory (bounded by MAX_CONTENT_LENGTH), its
    plain multipart forms read by multipart.FormParser."""

    form_data_parser_class = multipart.FormParser

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


# ---- every request: one log line, every failure an HTTP error ---------------------------------

def start_clock():
    flask.g.started = time.perf_counter()


def log_request(response):
    took = (time.perf_counter() - flask.g.get("started", time.perf_counter())) * 1000
    log.info("%s %s %s %d %.1f ms", flask.request.remote_addr, flask.request.method,
             flask.request.path, response.status_code, took)
    return response


def handle_error(err):
    """Any exception as DIGITS' JSON error, or as a page for a browser."""
    err = as_http_error(err)
    browser = "text/html" in flask.request.headers.get("Accept", "")
    if browser and not web.wants_json() and not flask.request.path.startswith(JSON_ONLY):
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
    if isinstance(err, (BadInputError, creation.FieldErrors)):
        return http.BadRequest(str(err))
    if isinstance(err, OutputError):          # the server's disk: logged, and said
        log.error("cannot write on %s %s: %s", flask.request.method, flask.request.path, err)
        return http.InternalServerError(str(err))
    log.exception("unexpected error on %s %s", flask.request.method, flask.request.path)
    return http.InternalServerError(f"unexpected {type(err).__name__}; see the server's log")


def error_response(err):
    """DIGITS' JSON error body for an HTTPException, with its status code."""
    description = err.description or ""
    body = {"error": {"message": f"{err.code} {err.name}: {description}",
                      "type": type(err).__name__, "description": description}}
    return flask.jsonify(body), err.code or 500


# ---- waitress -------------------------------------------------------------------------------

def make_server(app, host="127.0.0.1", port=5000, threads=4, one_at_a_time=True):
    """A waitress server for `app` bound to host:port (port 0: any free port; see
    `addresses`), its `threads` request threads taking requests in turn
    (dispatch.TurnDispatcher; one_at_a_time False: any idle thread takes one at once,
    as micro-batching needs); BadInputError when the address cannot be bound. Idle
    connections are bounded and timed out (settings.CONNECTION_LIMIT, CHANNEL_TIMEOUT_S),
    so they cannot keep /healthz or anyone else from an answer."""
    import waitress

    # waitress warns "Task queue depth is N" for every request that waits for a free
    # thread: under load, a line per request on the user's terminal (and its cost). How
    # long requests took is in the per-request log line instead.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    limit = app.config["MAX_CONTENT_LENGTH"] + BODY_SLACK
    connections = _raise_file_limit(settings.CONNECTION_LIMIT + 64) - 64
    turns = dispatch.TurnDispatcher(settings.HELP_AFTER_S if one_at_a_time else 0)
    try:
        http_server = waitress.create_server(
            app, _dispatcher=turns, host=host, port=port, threads=threads,
            max_request_body_size=limit,
            ident="siamese-caffe", connection_limit=max(100, connections),
            channel_timeout=settings.CHANNEL_TIMEOUT_S,
            cleanup_interval=settings.CLEANUP_S, asyncore_use_poll=True,
            max_request_header_size=settings.MAX_HEADER_BYTES)
    except OSError as err:
        raise BadInputError(f"cannot listen on {host}:{port} ({err.strerror or err})",
                            where="--host/--port") from None
    turns.set_thread_count(threads)
    return http_server


def _raise_file_limit(wanted):
    """Raise this process's open-file limit towards `wanted` (up to the hard limit); the
    limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else min(soft, wanted)


def addresses(server):
    """[(host, port)] a waitress server listens on."""
    if hasattr(server, "effective_listen"):
        return list(server.effective_listen)
    return [(server.effective_host, server.effective_port)]
