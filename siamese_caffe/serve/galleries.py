"""Verify and galleries in the server, built without Flask (docs/rest-api.md).

A model's galleries live in its job folder, `JOB/galleries/<gallery id>/` (use.gallery's
folder). Building one is a task in the job queue (lane GALLERY_LANE): the child runs
`siamese-caffe gallery build`, the code the command line runs; until it finishes the
gallery's state is the queue's ("waiting", "running"), then "done", or "failed" with the
child's error line (kept by GalleryBuilds, in memory and in `JOB/galleries/<id>.failed.txt`,
so that a server started later still lists the gallery and says why).

    build_request   POST /models/<id>/galleries.json: image_list (a server path inside a
                    data root, every listed image inside one too), image_folder, index
                    (exact | hnsw | ivf), snapshot_epoch -> the queued gallery's document
    gallery_answer  GET /galleries/<id>.json: {id, model_id, status, count, index, ...}
    search_answer   POST /galleries/<id>/search.json: image_file or image_path, k ->
                    the k nearest references (labels, distances, picture URLs), majority
                    label, whether the nearest passes the verify threshold
    verify_answer   POST /models/<id>/verify.json: image_file_a / image_file_b or
                    image_path_a / image_path_b -> distance, verdict, threshold, placement
"""

import io
import logging
import os
import sys
import threading

import werkzeug.exceptions as http

from ..errors import BadInputError, OutputError
from ..runtime import atomic_files
from ..train import jobs
from ..use import digits, gallery, verify
from . import creation, inputs, jobqueue, registry

GALLERIES = "galleries"          # the folder of a model's galleries in its job folder
FAILED_SUFFIX = ".failed.txt"    # beside a gallery's folder: why its build failed
GALLERY_LANE = "galleries"       # the queue lane gallery builds run in
INDEX_KINDS = ("exact", "hnsw", "ivf")
MAX_K = 100                      # neighbours a search may ask for

log = logging.getLogger("siamese_caffe.serve")


class GalleryBuilds:
    """Why gallery builds failed: the error line, kept in memory and beside the gallery's
    folder (`<id>` + FAILED_SUFFIX in the model's galleries folder), so that a server
    started later still says why."""

    def __init__(self):
        self._failed, self._lock = {}, threading.Lock()

    def failed(self, folder):
        """The error line of the gallery whose folder this is (None: not failed)."""
        with self._lock:
            reason = self._failed.get(os.path.basename(folder))
        if reason is None:
            try:
                with open(folder + FAILED_SUFFIX, encoding="utf-8") as f:
                    reason = f.read().strip() or None
            except OSError:
                pass
        return reason

    def finished(self, gallery_id, folder):
        """The queue's callback for one build."""
        def done(code, tail, aborted):
            if code != 0 or not os.path.isfile(os.path.join(folder, gallery.MARKER)):
                reason = "aborted" if aborted else _error_line(tail, code)
                with self._lock:
                    self._failed[gallery_id] = reason
                try:
                    atomic_files.write_text(folder + FAILED_SUFFIX, reason + "\n")
                except OutputError as err:     # said in memory still, until a restart
                    log.error("cannot keep why gallery %s failed: %s", gallery_id, err)
        return done


def gallery_folder(job, gallery_id):
    return os.path.join(job.path, GALLERIES, gallery_id)


def find_gallery(service, gallery_id):
    """(model job, gallery folder) of `gallery_id`: one this server queued, else one found
    in a model's galleries folder (404 for anything else)."""
    if not registry.is_job_id(gallery_id):
        raise http.NotFound("Gallery not found")
    owner = service.gallery_owners.get(gallery_id)
    if owner and service.registry.model(owner):
        job = service.registry.model(owner)
        return job, gallery_folder(job, gallery_id)
    for job in service.registry.models():
        folder = gallery_folder(job, gallery_id)
        if os.path.isdir(folder) or os.path.isfile(folder + FAILED_SUFFIX):
            return job, folder
    raise http.NotFound("Gallery not found")


def build_request(service, job, form):
    """Queue the build of a gallery of `job` from the form's server list; its document."""
    errors = {}
    list_path = creation._server_path(form, "image_list", service.roots, errors, False,
                                      required=True)
    folder = creation._server_path(form, "image_folder", service.roots, errors, True)
    kind = (form.get("index") or "exact").strip()
    if kind not in INDEX_KINDS:
        errors["index"] = [f"one of {', '.join(INDEX_KINDS)}, not {kind!r}"]
    if list_path and "image_list" not in errors:
        _check_listed(list_path, folder, service.roots, errors)
    if errors:
        raise creation.FieldErrors(errors)
    snapshot = inputs.pick_snapshot(job, form)
    gallery_id = jobs.new_job_id()
    while os.path.exists(gallery_folder(job, gallery_id)):
        gallery_id = jobs.new_job_id()
    target = gallery_folder(job, gallery_id)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    argv = [sys.executable, "-m", "siamese_caffe.cli", "gallery", "build", "--job", job.path,
            "--snapshot", str(snapshot.iteration), list_path, "-o", target, "--index", kind]
    if folder:
        argv += ["--image-folder", folder]
    service.gallery_owners[gallery_id] = job.job_id
    service.queue.submit(jobqueue.Task(gallery_id, GALLERY_LANE, argv,
                                       service.gallery_builds.finished(gallery_id, target)))
    return gallery_answer(service, job, target)


def gallery_answer(service, job, folder):
    """A gallery's document: id, model_id, status (waiting, running, done, failed), and
    once done its count, index and snapshot."""
    gallery_id = os.path.basename(folder)
    state = service.queue.state(gallery_id)
    answer = {"id": gallery_id, "model_id": job.job_id,
              "search_url": f"/galleries/{gallery_id}/search.json"}
    if state:
        return {**answer, "status": state}
    failure = service.gallery_builds.failed(folder)
    if failure or not os.path.isfile(os.path.join(folder, gallery.MARKER)):
        return {**answer, "status": "failed", "error": failure or "not built"}
    info = gallery.load(folder).info
    return {**answer, "status": "done", "count": info["count"], "index": info["index"],
            "snapshot": info["identity"]["snapshot"], "created": info["created"],
            "sources": info.get("sources", [])}


def model_galleries(service, job):
    """The documents of a model's galleries (newest first): those in its galleries folder
    and those this server queued (waiting, running, or failed before a folder was made)."""
    parent = os.path.join(job.path, GALLERIES)
    names = {name.removesuffix(FAILED_SUFFIX) for name in
             (os.listdir(parent) if os.path.isdir(parent) else [])}
    names |= {gallery_id for gallery_id, owner in list(service.gallery_owners.items())
              if owner == job.job_id}
    return [gallery_answer(service, job, os.path.join(parent, name))
            for name in sorted(names, reverse=True) if registry.is_job_id(name)]


def search_answer(service, folder, form, files):
    """The nearest references of one image (image_file or image_path) in a done gallery."""
    found = gallery.load(folder)
    k = _k(form)
    source, where = inputs.image_source(service.roots, form, files)
    owner = found.job()
    snapshot = owner.snapshot(found.identity["snapshot"])
    with service.cache.get(owner, snapshot).running() as embedder:
        gallery.check_embedder(found, embedder)
        image = digits.read_digit(source, embedder.image_shape, where)
        features = embedder.embed_digits(image[None])
        threshold = verify.job_threshold(embedder)
    neighbours = found.search(features, k)[0]
    winner, votes = gallery.majority(neighbours)
    gallery_id = os.path.basename(found.folder)
    return {"gallery": gallery_id, "image": where, "k": len(neighbours),
            "feature": features[0].tolist(),
            "neighbours": [{**n.as_dict(), "path": os.path.basename(n.path),
                            "image_url": f"/galleries/{gallery_id}/images/{n.position}"}
                           for n in neighbours],
            "majority_label": winner, "majority_votes": votes,
            "nearest_passes_threshold": bool(neighbours and
                                             neighbours[0].distance < threshold.value),
            "threshold": threshold.as_dict(), "snapshot": snapshot.iteration}


def reference_picture(folder, position):
    """PNG bytes of the reference image at `position` of a gallery (404 when none)."""
    from ..data import image_io

    found = gallery.load(folder)
    if not 0 <= position < len(found):
        raise http.NotFound("no such reference")
    gray, _ = image_io.read_gray(found.paths[position])
    return image_io.encode_png(gray)


def verify_answer(service, job, form, files):
    """Verify two images (uploads image_file_a/_b, or server paths image_path_a/_b)."""
    (first, first_name), (second, second_name) = (_image(service, form, files, side)
                                                  for side in ("a", "b"))
    snapshot = inputs.pick_snapshot(job, form)
    with service.cache.get(job, snapshot).running() as embedder:
        result = verify.verify(embedder, first, second, first_name, second_name)
    return {"model_id": job.job_id, "snapshot": snapshot.iteration, **result.as_dict()}


def _image(service, form, files, side):
    """(source, name) of one of verify's two images."""
    path = (form.get(f"image_path_{side}") or "").strip()
    if path:
        return service.roots.resolve(path), path
    upload = files.get(f"image_file_{side}")
    if upload:
        return io.BytesIO(upload.read()), f"image_file_{side} {upload.filename!r}"
    raise http.BadRequest(f"must provide image_path_{side} or image_file_{side}")


def _k(form):
    text = (form.get("k") or "5").strip()
    try:
        k = int(text)
    except ValueError:
        k = 0
    if not 1 <= k <= MAX_K:
        raise http.BadRequest(f"k must be an integer from 1 to {MAX_K}, got {text!r}")
    return k


def _check_listed(list_path, folder, roots, errors):
    """Every image the list names must lie inside a data root (before anything is read)."""
    from ..data import image_list

    try:
        lines = image_list.list_lines(image_list.read_lines(list_path), list_path)
    except BadInputError as err:             # unreadable or empty
        errors["image_list"] = [str(err)]
        return
    base = image_list.list_folder(list_path, folder)
    for line in lines:
        path = image_list.resolve(line.written, base)
        if ".." in path.replace("\\", "/").split("/") or \
                not roots.contains(os.path.realpath(path)):
            errors["image_list"] = [f"line {line.number}: {line.written!r} is outside the "
                                    "server's data roots"]
            return


def _error_line(tail, code):
    for line in reversed(tail):
        if ": error: " in line:
            return line.split(": error: ", 1)[1]
    return f"stopped with exit status {code}"
