"""The server's one service object: what it holds, and what it does to jobs.

A JobService holds the registry of the jobs folder, the data roots, the job queue, the
loaded nets (netcache) and the kept Test Many results; it creates, queues, aborts,
resumes, deletes and renames jobs. The views (api.py, pages.py) reach it through
web.service(); answers.py reads from it.
"""

import logging
import os
import shutil
import threading

import werkzeug.exceptions as http

from ..errors import SiameseCaffeError
from ..runtime import staging
from ..train import jobs
from . import creation, digits_api, galleries, jobqueue, registry, results

log = logging.getLogger("siamese_caffe.serve")


class JobService:
    """jobs_dir: the jobs folder. roots: pathguard.DataRoots. cache: netcache.NetCache.
    queue: jobqueue.JobQueue (a new one when None). default_gpu: the device of a new
    model whose form says 'next'."""

    def __init__(self, jobs_dir, roots, cache, queue=None, default_gpu="auto"):
        self.registry = registry.Registry(jobs_dir)
        self.roots = roots
        self.cache = cache
        self.queue = queue or jobqueue.JobQueue()
        self.default_gpu = default_gpu
        self.results = results.Results()
        self.gallery_builds = galleries.GalleryBuilds()
        self.gallery_owners = {}        # gallery id -> model id, for builds queued here

    @property
    def jobs_dir(self):
        return self.registry.jobs_dir

    # ---- looking up
    def model_or_404(self, job_id):
        job = self.registry.model(job_id)
        if job is None:
            raise http.NotFound("Job not found")
        return job

    def dataset_or_404(self, job_id):
        dataset = self.registry.dataset(job_id)
        if dataset is None:
            raise http.NotFound("Job not found")
        return dataset

    def any_or_404(self, job_id):
        return self.registry.model(job_id) or self.dataset_or_404(job_id)

    def model_status(self, job):
        return digits_api.model_status(job, self.queue.state(job.job_id))

    def dataset_status(self, dataset):
        return digits_api.dataset_status(dataset, self.queue.state(dataset.job_id))

    def status_of(self, job):
        if isinstance(job, jobs.Job):
            return self.model_status(job)
        return self.dataset_status(job)

    # ---- datasets
    def create_dataset(self, form, username=None):
        name, method, request = creation.dataset_request(form, self.roots)
        dataset = registry.DatasetJob.create(self.jobs_dir, name, method, request,
                                             group=(form.get("group_name") or "").strip(),
                                             username=username)
        if method == "list":
            path = dataset.path
            self.queue.submit(jobqueue.Task(
                dataset.job_id, jobqueue.DATASETS_LANE, creation.create_db_argv(dataset),
                self._dataset_finished(path),
                started=lambda: registry.DatasetJob.load(path).set_state(registry.D_RUNNING)))
        else:
            threading.Thread(target=self._register_prebuilt, args=(dataset,), daemon=True,
                             name=f"prebuilt-{dataset.job_id}").start()
        return dataset

    def _dataset_finished(self, path):
        def finished(code, tail, aborted):
            dataset = registry.DatasetJob.load(path)
            if code == 0 and os.path.isfile(os.path.join(dataset.folder, "dataset.json")):
                dataset.set_state(registry.D_DONE, None)
            else:
                dataset.set_state(registry.D_FAILED, "aborted" if aborted
                                  else _last_error(tail, code))
        return finished

    def _register_prebuilt(self, dataset):
        dataset.set_state(registry.D_RUNNING)
        try:
            creation.register_prebuilt(dataset)
        except SiameseCaffeError as err:
            dataset.set_state(registry.D_FAILED, str(err))
        except Exception as err:   # noqa: BLE001 - reported as the job's error
            log.exception("registering %s", dataset.job_id)
            dataset.set_state(registry.D_FAILED, f"unexpected {type(err).__name__}")
        else:
            dataset.set_state(registry.D_DONE)

    # ---- models
    def create_model(self, form, files, username=None):
        """Check a new-model form and queue its job; the jobs.Job list (one per combination
        of a sweep's comma lists, all in one group). When one is refused, none is kept."""
        request = creation.model_request(form, files, self.registry, self.default_gpu,
                                         self.roots)
        sweep = len(request.combinations) > 1
        group = request.group or (request.name if sweep else "")
        made = []
        try:
            for name, settings in request.combinations:
                job = creation.create_model(request, self.jobs_dir, name, settings,
                                            group or None)
                made.append(job)
                registry.write_model_sidecar(job, {"name": name, "group": group,
                                                   "username": username,
                                                   "dataset_id": request.dataset.job_id,
                                                   "form": creation.clone_fields(form)})
        except BaseException:
            for job in made:                   # made by this request, never queued
                shutil.rmtree(job.path, ignore_errors=True)
            raise
        for job in made:
            self.start(job)
        return made

    def start(self, job):
        """Queue a model job for training (or to continue from its last snapshot)."""
        self.queue.submit(jobqueue.Task(job.job_id, job.device or "cpu",
                                        jobqueue.train_argv(job.path),
                                        self._training_finished(job.path)))

    def _training_finished(self, path):
        def finished(code, tail, aborted):
            job = jobs.Job.load(path)
            cut_off = job.status == jobs.RUNNING and not digits_api.process_alive(job.pid)
            if cut_off or (job.status == jobs.CREATED and code != 0):
                if aborted:
                    job.record(status=jobs.INTERRUPTED, pid=None,
                               message="aborted before training began")
                elif cut_off or code < 0:       # the trainer died: say of what, and why
                    job.record(status=jobs.RUNNING)
                    job.notice_dead_trainer(-code if code < 0 else None)
                else:
                    job.record(status=jobs.FAILED, message=_last_error(tail, code), pid=None)
                job.save()
        return finished

    def resume(self, job_id):
        job = self.model_or_404(job_id)
        word = self.model_status(job)
        if digits_api.is_running(word) and word != digits_api.INITIALIZED:
            raise http.Forbidden("Job not resumed: it is running")
        if job.status == jobs.DONE:
            raise http.Forbidden("Job not resumed: it is trained to its last iteration")
        self.start(job)
        return job

    def abort(self, job_id):
        """DIGITS' abort: 403 "Job not aborted" unless it is waiting or running."""
        job = self.registry.model(job_id) or self.dataset_or_404(job_id)
        where = self.queue.abort(job_id)
        if where == "waiting" and isinstance(job, jobs.Job) and job.status == jobs.CREATED:
            job.record(status=jobs.INTERRUPTED, message="aborted before it started")
            job.save()
        elif where == "waiting" and isinstance(job, registry.DatasetJob):
            job.set_state(registry.D_FAILED, "aborted before it started")
        if where is None and isinstance(job, jobs.Job) and job.status == jobs.RUNNING \
                and digits_api.process_alive(job.pid):
            # trained by a `siamese-caffe train` of its own: stop it as Ctrl-C would
            import signal
            os.kill(job.pid, signal.SIGTERM)
            where = "running"
        if where is None:
            raise http.Forbidden("Job not aborted")
        return job

    def delete(self, job_id):
        job = self.registry.model(job_id) or self.dataset_or_404(job_id)
        if digits_api.is_running(self.status_of(job)) and \
                self.status_of(job) != digits_api.INITIALIZED or self.queue.state(job_id):
            raise http.Forbidden("Job not deleted: it is running (abort it first)")
        if isinstance(job, registry.DatasetJob):
            users = self.registry.models_using(job_id)
            if users:
                names = ", ".join(registry.model_name(m) for m in users)
                raise http.Forbidden(f'Cannot delete "{job.name}" because {len(users)} '
                                     f'model(s) depend(s) on it: {names}')
        staging.remove_folder(job.path)

    def rename(self, job_id, name=None, notes=None):
        """DIGITS' PUT /jobs/<id>: a new name and/or notes; the job's type word."""
        job = self.registry.model(job_id)
        if job is not None:
            registry.describe_model(job, name, notes)
            return digits_api.MODEL_TYPE
        dataset = self.dataset_or_404(job_id)
        dataset.describe(name=name, notes=notes)
        return digits_api.DATASET_TYPE

    def close(self):
        self.queue.close()


def _last_error(tail, code):
    """The one line that says why a child failed."""
    for line in reversed(tail):
        if ": error: " in line:
            return line.split(": error: ", 1)[1]
    for line in reversed(tail):
        if line.strip():
            return f"stopped with exit status {code}: {line.strip()[:300]}"
    return f"stopped with exit status {code}"
