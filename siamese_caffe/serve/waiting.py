"""A model asked for on a dataset still being built: its stand-in job folder.

POST /models/images/generic.json and the New Model form accept a dataset job that is
still queued or running, as DIGITS did (docs/rest-api.md). The form's own fields are
checked at once; what needs the dataset's files (image shape, mean, crop, the network
built in Caffe) waits for them. Until then the model is a stand-in job folder
jobs_dir/<id>/, made by this tool (staging's marker, kind "job"):

    job.json           status "created", name, group, and `waiting_for`:
                       {"dataset": dataset job id, "combination": index in its sweep}
    serve.json         the server's sidecar (name, group, username, dataset_id, form)
    original.prototxt  the network as sent

digits_api shows it as Waiting. When the dataset is Done, the service checks the form
again and makes the real job, with the same id, over the stand-in
(creation.create_model(job_id=...)), then queues it. When the dataset fails, is aborted
or is gone, or the job does not fit the dataset, the stand-in records status "failed"
and one line saying why (Error). `waiting_for` stays in a stand-in that never became a
job, so Resume knows to wait again.
"""

import datetime
import os

from ..runtime import atomic_files, staging
from ..train import jobs
from . import registry

WAITING_KEY = "waiting_for"


def create_stand_in(jobs_dir, dataset_id, combination, sidecar, network_text):
    """A new stand-in folder for one combination of a model request; its jobs.Job.
    sidecar: serve.json's facts (name, group, username, dataset_id, form)."""
    job_id = registry.free_id(jobs_dir)
    path = os.path.join(jobs_dir, job_id)
    info = {"job_id": job_id, "status": jobs.CREATED,
            "created": datetime.datetime.now().isoformat(timespec="seconds"),
            "name": sidecar.get("name"), "group": sidecar.get("group") or None,
            WAITING_KEY: {"dataset": dataset_id, "combination": combination},
            "plan": {"max_iter": 0}}
    with staging.staged_folder(path, kind="job") as work:
        jobs.Job(work, info).save()
        registry.write_model_sidecar(jobs.Job(work, info), sidecar)
        atomic_files.write_text(os.path.join(work, jobs.FILES["original"]), network_text)
    return jobs.Job.load(path)


def is_stand_in(job):
    """Whether `job` is a stand-in that never became a job (waiting, failed or aborted)."""
    return isinstance(job.info.get(WAITING_KEY), dict)


def is_waiting(job):
    """Whether `job` is a stand-in still waiting for its dataset."""
    return is_stand_in(job) and job.status == jobs.CREATED


def dataset_id(job):
    return job.info[WAITING_KEY].get("dataset")


def combination(job):
    """The index, in its request's sweep, of the combination the stand-in is for."""
    return int(job.info[WAITING_KEY].get("combination") or 0)


def form_of(job):
    """The new-model form to check again once the dataset is built: serve.json's form
    with the network as sent (original.prototxt)."""
    form = dict(registry.model_sidecar(job).get("form") or {})
    with open(os.path.join(job.path, jobs.FILES["original"])) as f:
        form["custom_network"] = f.read()
    return form


def dataset_failure(dataset_id_, dataset, word, restarted=False):
    """The one line a stand-in records when its dataset will never be Done: dataset
    (registry.DatasetJob or None when gone), word its DIGITS status; restarted: said at a
    server start, when a build still unfinished was cut off."""
    if dataset is None:
        return f"dataset {dataset_id_} is gone (deleted?)"
    if word == "Error" or dataset.state == registry.D_FAILED:
        return f"dataset {dataset_id_} failed: {dataset.message or 'its build was cut off'}"
    if restarted:
        return f"dataset {dataset_id_} was not built: the server stopped before it finished"
    return f"dataset {dataset_id_} is {word}, not Done"


def record(job, status, message):
    """Save a stand-in's new status (jobs.FAILED, INTERRUPTED or CREATED) and message."""
    job.record(status=status, message=message, pid=None)
    job.save()
