"""The jobs folder as the server sees it: model jobs and dataset jobs side by side, as DIGITS kept them.

    jobs_dir/<model id>/     a training job (train/jobs.py layout, job.json), made by
                             the server or by `siamese-caffe train --jobs-dir jobs_dir`;
                             the server adds serve.json {name, group, username, dataset_id}
    jobs_dir/<dataset id>/   a dataset job: dataset_job.json (below) and dataset/,
                             the create-db folder (or, for prebuilt LMDBs, a dataset.json
                             naming them and the mean computed from them)

dataset_job.json: {id, name, group, username, created (ISO), method ("list" |
"prebuilt"), request (the checked fields), state ("created" | "running" | "done" |
"failed"), message, started, finished (unix times)}.

Folders starting with "." (the staging helpers' temporary folders) are never jobs.
Everything is written through runtime/atomic_files; job.json only through jobs.Job.
"""

import datetime
import json
import os
import time

from ..errors import BadInputError
from ..runtime import atomic_files, staging
from ..train import jobs
from .inputs import JOB_ID_RE

MODEL_SIDECAR = "serve.json"
DATASET_FILE = "dataset_job.json"
DATASET_FOLDER = "dataset"
# dataset job states (the DIGITS word comes from digits_api.dataset_status)
D_CREATED, D_RUNNING, D_DONE, D_FAILED = "created", "running", "done", "failed"


def is_job_id(text):
    return isinstance(text, str) and bool(JOB_ID_RE.fullmatch(text))


def read_json(path):
    """A JSON file as a dict, or {} when missing or unreadable."""
    try:
        with open(path) as f:
            document = json.load(f)
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


class DatasetJob:
    """A dataset job folder and its dataset_job.json."""

    def __init__(self, path, info):
        self.path = os.path.abspath(path)
        self.info = info

    @classmethod
    def load(cls, path):
        info = read_json(os.path.join(path, DATASET_FILE))
        if not info:
            raise BadInputError("not a dataset job", where=path)
        return cls(path, info)

    @classmethod
    def create(cls, jobs_dir, name, method, request, group="", username=None):
        """A new dataset job folder (state created) under jobs_dir."""
        job_id = free_id(jobs_dir)
        path = os.path.join(jobs_dir, job_id)
        info = {"id": job_id, "name": name, "group": group, "username": username,
                         "created": datetime.datetime.now().isoformat(timespec="microseconds"),
                         "method": method, "request": request, "state": D_CREATED,
                         "message": None, "started": None, "finished": None}
        with staging.staged_folder(path) as work:
            cls(work, info).save()
        return cls(path, info)

    @property
    def job_id(self):
        return self.info["id"]

    @property
    def name(self):
        return self.info.get("name") or self.job_id

    @property
    def state(self):
        return self.info.get("state", D_CREATED)

    @property
    def message(self):
        return self.info.get("message")

    @property
    def folder(self):
        """The create-db folder (exists once the dataset is built)."""
        return os.path.join(self.path, DATASET_FOLDER)

    @property
    def manifest(self):
        """dataset.json of the built dataset ({} before)."""
        return read_json(os.path.join(self.folder, "dataset.json"))

    @property
    def created(self):
        """Creation time, ISO 8601 text (local time)."""
        return self.info.get("created")

    @property
    def started(self):
        """When the build began (Unix seconds), or None."""
        return self.info.get("started")

    @property
    def finished(self):
        """When the build ended (Unix seconds), or None."""
        return self.info.get("finished")

    @property
    def method(self):
        """How the dataset is made: "list" (create-db from image lists) or "prebuilt"."""
        return self.info.get("method")

    @property
    def group(self):
        return self.info.get("group", "")

    @property
    def request(self):
        """The form fields the dataset was asked for with (dict)."""
        return self.info["request"]

    def describe(self, name=None, notes=None):
        """DIGITS' PUT /jobs/<id>: a new name and/or notes, saved."""
        self.info.update(_description(name, notes))
        self.save()

    def set_state(self, state, message=None):
        now = time.time()
        self.info["state"] = state
        self.info["message"] = message
        if state == D_RUNNING:
            self.info["started"] = now
        if state in (D_DONE, D_FAILED):
            self.info["finished"] = now
        self.save()

    def save(self):
        atomic_files.write_json(os.path.join(self.path, DATASET_FILE), self.info)


def model_sidecar(job):
    """serve.json of a model job ({} for a job made by the command line)."""
    return read_json(os.path.join(job.path, MODEL_SIDECAR))


def write_model_sidecar(job, facts):
    atomic_files.write_json(os.path.join(job.path, MODEL_SIDECAR), facts)


def describe_model(job, name=None, notes=None):
    """DIGITS' PUT /jobs/<id> for a model job: a new name and/or notes in serve.json."""
    write_model_sidecar(job, {**model_sidecar(job), **_description(name, notes)})


def _description(name, notes):
    """The facts a rename sets: {"name", "notes"} without those not given (None)."""
    return {k: v for k, v in (("name", name), ("notes", notes)) if v is not None}


def model_name(job):
    return model_sidecar(job).get("name") or job.job_id


class Registry:
    """Lists and finds the jobs of one folder."""

    def __init__(self, jobs_dir):
        self.jobs_dir = os.path.abspath(jobs_dir)

    def _folders(self):
        try:
            names = sorted(os.listdir(self.jobs_dir))
        except OSError:
            return []
        return [name for name in names if not name.startswith(".") and is_job_id(name)]

    def models(self):
        """Every model job (jobs.Job), newest first; unreadable ones are left out."""
        found = []
        for name in self._folders():
            if os.path.isfile(os.path.join(self.jobs_dir, name, jobs.JOB_FILE)):
                try:
                    found.append(jobs.Job.load(os.path.join(self.jobs_dir, name)))
                except BadInputError:
                    continue
        return sorted(found, key=lambda job: job.created or "", reverse=True)

    def datasets(self):
        """Every dataset job, newest first."""
        found = []
        for name in self._folders():
            path = os.path.join(self.jobs_dir, name)
            if os.path.isfile(os.path.join(path, DATASET_FILE)):
                try:
                    found.append(DatasetJob.load(path))
                except BadInputError:
                    continue
        return sorted(found, key=lambda d: d.created or "", reverse=True)

    def model(self, job_id):
        """The model job `job_id`, or None."""
        if not is_job_id(job_id):
            return None
        path = os.path.join(self.jobs_dir, job_id)
        if not os.path.isfile(os.path.join(path, jobs.JOB_FILE)):
            return None
        try:
            return jobs.Job.load(path)
        except BadInputError:
            return None

    def dataset(self, job_id):
        """The dataset job `job_id`, or None."""
        if not is_job_id(job_id):
            return None
        path = os.path.join(self.jobs_dir, job_id)
        try:
            return DatasetJob.load(path) if os.path.isfile(os.path.join(path, DATASET_FILE)) \
                else None
        except BadInputError:
            return None

    def dataset_id_of(self, job):
        """The id of the dataset job a model trains on, or None (a dataset made elsewhere)."""
        known = model_sidecar(job).get("dataset_id")
        if known:
            return known
        folder = os.path.realpath(job.dataset_folder)
        parent = os.path.dirname(folder)
        if os.path.dirname(parent) == os.path.realpath(self.jobs_dir) and \
                os.path.basename(folder) == DATASET_FOLDER:
            return os.path.basename(parent)
        return None

    def models_using(self, dataset_id):
        return [job for job in self.models() if self.dataset_id_of(job) == dataset_id]


def free_id(jobs_dir):
    """A new job id no folder of jobs_dir has."""
    while True:
        job_id = jobs.new_job_id()
        if not os.path.lexists(os.path.join(jobs_dir, job_id)):
            return job_id
