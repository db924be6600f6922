"""The fields of DIGITS' inference requests, checked and turned into what the nets need.

Each function takes the request's form / files (werkzeug MultiDicts) and raises
werkzeug HTTP errors carrying DIGITS' messages where DIGITS had one:

    job_id missing            400 "job_id is a required field"
    job_id not a job          404 "Job not found"
    no image_path/image_file  400 "must provide image_path or image_file"
    no image_list upload      400 "image_list is a required field"

Server paths go through pathguard.DataRoots (403 outside the data roots).
Uploads are read from memory; nothing is written to disk.
"""

import io
import math
import os
import re
import stat
import threading
from dataclasses import dataclass

import werkzeug.exceptions as http

from ..errors import BadInputError
from ..runtime import input_files
from ..data import image_list
from ..train import jobs
from ..infer import predictions

JOB_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")   # a folder name, never a path
LATEST_EPOCHS = (0.0, -1.0)   # DIGITS: snapshot_epoch 0 or -1 means the last snapshot
FALSE_WORDS = ("0", "false", "no", "off")


def flag(form, name):
    """A checkbox or boolean field, as DIGITS read them: set when non-empty, unless it
    says 0 / false / no / off (any case, spaces around ignored)."""
    text = (form.get(name) or "").strip().lower()
    return bool(text) and text not in FALSE_WORDS


def find_job(jobs_dir, form):
    """The jobs.Job named by the `job_id` field, looked up only among jobs_dir's folders."""
    job_id = form.get("job_id")
    if job_id is None:
        raise http.BadRequest("job_id is a required field")
    return job_by_id(jobs_dir, job_id)


def job_by_id(jobs_dir, job_id):
    """The job folder `job_id` directly under jobs_dir (404 for anything else), for reading.

    Its job.json is parsed again only when the file changed (another inode, size or
    modification time: the job's writers replace it whole, runtime/atomic_files), so a
    request does not pay for the parse; callers read the Job and never change it."""
    path = os.path.join(jobs_dir, job_id)
    if not JOB_ID_RE.fullmatch(job_id):
        raise http.NotFound("Job not found")
    try:
        info = os.stat(os.path.join(path, jobs.JOB_FILE))
    except (OSError, ValueError):
        raise http.NotFound("Job not found") from None
    if not stat.S_ISREG(info.st_mode):
        raise http.NotFound("Job not found")
    stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
    key = os.path.abspath(path)
    cached = _parsed_jobs.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    try:
        job = jobs.Job.load(path)
    except BadInputError as err:
        raise http.InternalServerError(f"job {job_id} is unreadable ({err})") from None
    with _parsed_lock:
        _parsed_jobs[key] = (stamp, job)
        while len(_parsed_jobs) > PARSED_JOBS:
            _parsed_jobs.pop(next(iter(_parsed_jobs)))
    return job


PARSED_JOBS = 256                   # job.json files kept parsed (a few kB each)
_parsed_jobs = {}                   # job folder -> ((inode, size, mtime), jobs.Job)
_parsed_lock = threading.Lock()


def pick_snapshot(job, form):
    """The jobs.Snapshot asked for by `snapshot_epoch` (the last one when absent, 0 or -1)."""
    text = (form.get("snapshot_epoch") or "").strip()
    latest = job.newest_snapshot()
    if latest is None:
        raise http.Conflict(f"job {job.job_id} has no snapshot yet")
    if not text:
        return latest
    try:
        epoch = float(text)
    except ValueError:
        raise http.BadRequest(f"snapshot_epoch must be a number, got {text!r}") from None
    if epoch in LATEST_EPOCHS:
        return latest
    snapshots = job.snapshots()
    for snapshot in snapshots:
        if math.isclose(snapshot.epoch, epoch, rel_tol=1e-9, abs_tol=1e-6):
            return snapshot
    have = ", ".join(f"{s.epoch:g}" for s in snapshots)
    raise http.BadRequest(f"job {job.job_id} has no snapshot at epoch {epoch:g} (have: {have})")


def image_source(roots, form, files):
    """(file name or in-memory file, name for messages) from `image_path` (a server path,
    checked by `roots`) or the `image_file` upload, `image_path` first as in DIGITS."""
    path = form.get("image_path")
    if path:
        return roots.resolve(path), path
    upload = files.get("image_file")
    if upload:
        return io.BytesIO(upload.read()), f"image_file {upload.filename!r}"
    raise http.BadRequest("must provide image_path or image_file")


@dataclass
class ImageList:
    """An uploaded image list: entries (predictions.ListEntry, resolved to real paths
    inside the data roots), the key each answer is given under (the path as written,
    joined to image_folder as DIGITS did) and each entry's line number in the list."""

    entries: list
    keys: list
    lines: list


def uploaded_list(roots, form, files):
    """The ImageList of the `image_list` upload, honouring `image_folder` and
    `num_test_images`. Every path is checked before any image is read."""
    upload = files.get("image_list")
    if not upload:
        raise http.BadRequest("image_list is a required field")
    try:
        lines = input_files.decode_text(upload.read(), "image_list", "image list").splitlines()
    except BadInputError as err:
        raise http.BadRequest(str(err)) from None
    folder_text = (form.get("image_folder") or "").strip()
    folder = _image_folder(roots, folder_text)
    limit = _count(form, "num_test_images")
    found = image_list.list_lines(lines, "image_list")[:limit]
    entries, keys = [], []
    for line in found:
        entries.append(predictions.ListEntry(line.written,
                                             roots.resolve(line.written, base=folder),
                                             line.label, f"image_list:{line.number}"))
        relative = folder_text and not os.path.isabs(line.written)
        keys.append(os.path.join(folder_text, line.written) if relative else line.written)
    return ImageList(entries, keys, [line.number for line in found])


def _image_folder(roots, text):
    """The real folder named by `image_folder` (None when empty)."""
    if not text:
        return None
    try:
        return roots.resolve_folder(text)
    except BadInputError:
        raise http.BadRequest(f'image_folder "{text}" does not exist') from None


def _count(form, name):
    """A positive integer field, or None when absent or empty."""
    text = (form.get(name) or "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise http.BadRequest(f"{name} must be a positive integer, got {text!r}")
    return value



def fit_image(source, where, image_shape, dont_resize=False):
    """(image, resized): the picture at `source` (a path or file object) decoded once
    (data/image_io.read: (H, W) or (H, W, 3) BGR uint8) and, as DIGITS did, scaled to the
    net's input size when it has another (data/image_io.resize) unless dont_resize;
    resized is {"from": [w, h], "to": [w, h]} or None. BadInputError naming `where` when
    it cannot be read (the size is checked by whoever reads the image next)."""
    from ..data import image_io

    height, width = int(image_shape[1]), int(image_shape[2])
    image = image_io.read(source, where)
    if dont_resize or image.shape[:2] == (height, width):
        return image, None
    return (image_io.resize(image, height, width),
            {"from": [image.shape[1], image.shape[0]], "to": [width, height]})


def fit_list(listed, image_shape, dont_resize=False):
    """Resize the images of an ImageList that are of another size (in memory, in place of
    their paths); the keys of those resized ([] when none or dont_resize)."""
    if dont_resize:
        return []
    resized = []
    for entry, key in zip(listed.entries, listed.keys):
        try:
            fitted, changed = fit_image(entry.resolved, entry.where, image_shape)
        except BadInputError:
            continue                      # reading it again gives the list's usual reason
        if changed:
            entry.resolved = fitted       # the decoded picture, at the net's size
            resized.append(key)
    return resized
