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
from . import creation, digits_api, galleries, jobqueue, registry, results, waiting

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
        self._settling = threading.RLock()  # one change at a time to waiting models
        self._settle_later([job.job_id for job in self.registry.models()
                            if waiting.is_waiting(job)], restarted=True)

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
            self._dataset_settled(dataset.job_id)
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
        self._dataset_settled(dataset.job_id)

    # ---- models
    def create_model(self, form, files, username=None):
        """Check a new-model form and queue its job; the jobs.Job list (one per combination
        of a sweep's comma lists, all in one group). When one is refused, none is kept.
        On a dataset not built yet, each job is a stand-in that waits (waiting.py)."""
        request = creation.model_request(form, files, self.registry, self.default_gpu,
                                         self.roots)
        word = self.dataset_status(request.dataset)   # its build cut off: Error
        if word != digits_api.DONE and not digits_api.is_running(word):
            raise creation.FieldErrors({"dataset": ["Not a valid choice"]})
        sweep = len(request.combinations) > 1
        group = request.group or (request.name if sweep else "")
        made = []
        ready = request.dataset.state == registry.D_DONE
        if not ready:
            creation.check_network(request)
        try:
            for index, (name, settings) in enumerate(request.combinations):
                sidecar = {"name": name, "group": group, "username": username,
                           "dataset_id": request.dataset.job_id,
                           "form": creation.clone_fields(form)}
                if ready:
                    job = creation.create_model(request, self.jobs_dir, name, settings,
                                                group or None)
                    registry.write_model_sidecar(job, sidecar)
                else:
                    job = waiting.create_stand_in(self.jobs_dir, request.dataset.job_id,
                                                  index, sidecar, request.network_text)
                made.append(job)
        except BaseException:
            for job in made:                   # made by this request, never queued
                shutil.rmtree(job.path, ignore_errors=True)
            raise
        for job in made:
            self.start(job)
        return made

    def start(self, job):
        """Queue a model job for training (or to continue from its last snapshot); a
        waiting one is made and queued once its dataset is Done (settle)."""
        if waiting.is_waiting(job):
            self.settle(job.job_id)
            return
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
        if waiting.is_stand_in(job):       # never made: wait for the dataset again
            waiting.record(job, jobs.CREATED, None)
        self.start(job)
        return job

    def abort(self, job_id):
        """DIGITS' abort: 403 "Job not aborted" unless it is waiting or running."""
        job = self.registry.model(job_id) or self.dataset_or_404(job_id)
        if self._drop_waiting(job, delete=False):
            return job
        where = self.queue.abort(job_id)
        if where == "waiting" and isinstance(job, jobs.Job) and job.status == jobs.CREATED:
            job.record(status=jobs.INTERRUPTED, message="aborted before it started")
            job.save()
        elif where == "waiting" and isinstance(job, registry.DatasetJob):
            job.set_state(registry.D_FAILED, "aborted before it started")
            self._dataset_settled(job_id)
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
        if self._drop_waiting(job, delete=True):
            return
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

    # ---- models waiting for their dataset (waiting.py)
    def settle(self, job_id, restarted=False):
        """A waiting model's next step: made and queued once its dataset is Done; Error,
        with the reason, when the dataset will never be (failed, aborted, gone, or cut off
        by a server stop: `restarted`); nothing while the dataset is still being built."""
        with self._settling:
            job = self.registry.model(job_id)
            if job is None or not waiting.is_waiting(job):
                return
            wanted = waiting.dataset_id(job)
            dataset = self.registry.dataset(wanted)
            word = self.dataset_status(dataset) if dataset else None
            # a dataset that ended: its recorded word (the queue still holds its task
            # while the finished callback that settles this model runs)
            if dataset is not None and dataset.state in (registry.D_DONE, registry.D_FAILED):
                word = digits_api.dataset_status(dataset)
            if digits_api.is_running(word) and not restarted:
                return
            if word != digits_api.DONE:
                waiting.record(job, jobs.FAILED,
                               waiting.dataset_failure(wanted, dataset, word, restarted))
                return
            made = self._make_waiting(job)
        if made is not None:
            self.start(made)

    def _make_waiting(self, job):
        """The real job over a stand-in whose dataset is Done, after the checks that need
        the dataset's files; None, with the stand-in's Error recorded, when one fails."""
        sidecar = registry.model_sidecar(job)
        where = f"dataset {waiting.dataset_id(job)} is built, but the model does not fit it"
        try:
            request = creation.model_request(waiting.form_of(job), None, self.registry,
                                             self.default_gpu, self.roots)
            name, settings = request.combinations[waiting.combination(job)]
            made = creation.create_model(request, self.jobs_dir, name, settings,
                                         sidecar.get("group") or None, job_id=job.job_id)
        except SiameseCaffeError as err:      # creation.FieldErrors among them
            waiting.record(job, jobs.FAILED, f"{where}: {err}")
            return None
        except Exception as err:   # noqa: BLE001 - reported as the job's error
            log.exception("making %s", job.job_id)
            waiting.record(job, jobs.FAILED, f"{where}: unexpected {type(err).__name__}")
            return None
        registry.write_model_sidecar(made, sidecar)
        return made

    def _dataset_settled(self, dataset_id):
        """After a dataset job ended (Done or Error): settle the models waiting for it."""
        self._settle_later([job.job_id for job in self.registry.models()
                            if waiting.is_waiting(job) and
                            waiting.dataset_id(job) == dataset_id])

    def _settle_later(self, job_ids, restarted=False):
        """settle() each job in a thread of its own (making a job builds its net in Caffe)."""
        def run():
            for job_id in job_ids:
                try:
                    self.settle(job_id, restarted)
                except Exception:   # noqa: BLE001 - (the server stopping, say) logged
                    log.exception("settling %s", job_id)
        if job_ids:
            threading.Thread(target=run, daemon=True, name="settle-waiting").start()

    def _drop_waiting(self, job, delete):
        """Abort (or delete) a model waiting for its dataset; False when `job` is not one."""
        if not isinstance(job, jobs.Job) or not waiting.is_waiting(job):
            return False
        with self._settling:
            job = self.registry.model(job.job_id)
            if job is None or not waiting.is_waiting(job):
                return False
            if delete:
                staging.remove_folder(job.path)
            else:
                waiting.record(job, jobs.INTERRUPTED, "aborted while waiting for dataset "
                                                      f"{waiting.dataset_id(job)}")
        return True


def _last_error(tail, code):
    """The one line that says why a child failed."""
    for line in reversed(tail):
        if ": error: " in line:
            return line.split(": error: ", 1)[1]
    for line in reversed(tail):
        if line.strip():
            return f"stopped with exit status {code}: {line.strip()[:300]}"
    return f"stopped with exit status {code}"
