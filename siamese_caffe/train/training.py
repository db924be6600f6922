"""Training a job folder with pycaffe's solver.

`train_job(job)` builds the solver from the job's solver.prototxt, restores the
last .solverstate when resuming, and steps it one iteration at a time:

- every `display` iterations a "train" row (mean loss since the last row) goes
  to train_log.csv; every `test_interval` iterations (and at iteration 0 of a
  fresh run, and at the end) a validation pass over the whole validation set
  gives a "val" row (loss, mean same-class and different-class distances);
- every `snapshot` iterations, and at the end, the solver snapshots: Caffe writes
  the two files under a hidden temporary prefix (`.snapshot.tmp-<pid>_iter_N.*`),
  they are renamed to snapshot_iter_N.caffemodel / .solverstate once whole, and
  only then recorded in job.json with their sizes and SHA-256 — a run killed while
  Caffe writes leaves no partial snapshot that any later step takes for one;
- a NaN or infinite value stops training at once, without a snapshot, so the
  last snapshot keeps the last good weights (TrainingStoppedError). Values are
  checked after each forward pass, before its backward pass (a Net callback):
  Caffe's CPU MAX pooling backward writes out of bounds when its input holds NaN,
  which would corrupt the heap rather than stop cleanly (on a GPU, where that
  kernel is safe and reading every blob back would cost time, only the loss is
  checked). Weights are checked before each snapshot;
- a fine-tuned job (job.json `weights`) starts from weights.caffemodel, copied into
  the net by layer name before the first validation pass;
- Ctrl-C or SIGTERM finishes the iteration under way, snapshots and returns
  "interrupted"; `train_job(job, resume=True)` continues from there.

Caffe's own log goes to caffe_output.log (caffe_log.py); a tqdm bar with the
loss and the throughput (pairs/s) goes to the user's stderr.
"""

import contextlib
import math
import os
import time

import numpy as np

from ..errors import BadInputError, OutputError, SiameseCaffeError
from ..runtime import atomic_files, caffe_env, caffe_log, devices, interrupts, progress, prototxt
from ..data import datasets
from ..net import lr_schedule, solver
from . import jobfiles, jobs, lossplot, trainlog

from .jobs import DONE, DIVERGED, FAILED, INTERRUPTED, RUNNING  # noqa: F401 (re-exported)


LOCK_FILE = ".train.lock"      # held (flock) by the process training the job


class TrainingStoppedError(SiameseCaffeError):
    """Training stopped on its own (the loss diverged); the job folder stays usable."""

    exit_code = 1


class NonFiniteForward(Exception):
    """Raised from inside solver.step when a forward pass produced NaN or infinity."""


def all_finite(blobs):
    """Whether every value of these caffe Blobs' data is finite."""
    return all(np.isfinite(blob.data).all() for blob in blobs)


def stop_on_nonfinite_forward(net):
    """Make every backward pass of `net` (a caffe.Net) first check the forward pass: before
    the first layer's backward, a NaN or infinity in any blob raises NonFiniteForward (from
    solver.step), before the update could spread it into the weights. The training loop
    does this on the CPU, where Caffe's max pooling wrote out of bounds on NaN inputs (patch
    0003 stops that; builds without it are still in use)."""
    finite = forward_check(net)
    last_layer = len(net.layers) - 1

    def check(layer):
        if layer == last_layer and not finite():
            raise NonFiniteForward()
    net.before_backward(check)


def forward_check(net):
    """A function telling whether every blob of `net` holds finite values only: the net's
    own `_all_finite` (patch 0011: Caffe's OpenMP threads read the blobs), else all_finite
    over the blobs' NumPy views (on this thread alone: about twice the cost, ~8 % of a
    LeNet step at batch 64 against ~4 %)."""
    native = getattr(net, "_all_finite", None)
    if native is not None:
        return native
    blobs = list(net.blobs.values())
    return lambda: all_finite(blobs)


def train_job(job, resume=False, gpu=None, progress=True, out=None, probe=None):
    """Train `job` (jobs.Job) to its last iteration; returns its final status.

    resume: continue from the last snapshot with a .solverstate (from scratch
    when there is none). gpu: a --gpu value overriding the job's device.
    progress: show a tqdm bar (on a terminal). out: stream for progress lines
    (default: the user's stderr). probe: first run one iteration in a child Caffe
    (default: when resuming; create_job has just done so for a new job), so what Caffe
    would abort on stops here with one line. Raises TrainingStoppedError when the loss
    diverges. The job's lock (`job_lock`) is held throughout: one run per job at a time.
    """
    with job_lock(job):
        job.info = jobs.Job.load(job.path).info     # as it is now that the lock is held
        if job.notice_dead_trainer():
            job.save()
        return _train_locked(job, resume, gpu, progress, out,
                             resume if probe is None else probe)


@contextlib.contextmanager
def job_lock(job):
    """Hold the job's lock file (`<job>/.train.lock`, flock) while the block runs;
    BadInputError at once when another process holds it. The system drops the lock
    when its holder dies, however it dies."""
    import fcntl

    path = os.path.join(job.path, LOCK_FILE)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise BadInputError(f"is being trained by another process"
                                f"{f' (pid {holder})' if holder.isdigit() else ''}; "
                                "wait for it, or stop it first", where=job.path) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def _train_locked(job, resume, gpu, progress, out, probe):
    _check_can_run(job, resume)
    device = devices.choose_device(gpu) if gpu is not None else \
        devices.parse(job.device)
    atomic_files.remove_stale(job.path)          # temporary files of a killed run
    start = None
    if resume:
        check_dataset_unchanged(job)
        start = _resume_point(job)
        if start:
            jobfiles.check_resume_files(job, start)
    if probe:
        _probe_run(job, start)
    if resume:
        job.forget_snapshots_after(start.iteration if start else 0)
    trainlog.truncate_after(job.file("train_log"), start.iteration if start else -1)
    job.record(status=RUNNING, message=None, pid=os.getpid())
    job.device = devices.describe(device)
    job.save()
    status, message = FAILED, "training stopped by an unexpected error"
    try:
        status, message = _run(job, device, start, progress, out)
    except KeyboardInterrupt:
        status, message = INTERRUPTED, "stopped at once by a second Ctrl-C"
        raise
    except SiameseCaffeError as err:
        message = f"stopped: {err}"
        raise
    finally:
        _finish(job, status, message)
    if status == DIVERGED:
        raise TrainingStoppedError(message)
    return status


def _run(job, device, start, progress, out):
    """Build the solver and run the loop with Caffe's log captured; (status, message)."""
    header = (f"siamese-caffe train {job.job_id}: "
              + (f"resuming from iteration {start.iteration}" if start else "starting"))
    caffe = caffe_env.import_caffe()      # first: caffe_output_to finds its glog loaded
    with caffe_log.caffe_output_to(job.file("caffe_log"), header) as user_stream, \
            interrupts.stop_requests() as stop, \
            trainlog.TrainLog(job.file("train_log")) as log:
        devices.set_mode(caffe, device)
        caffe_solver = _make_solver(caffe, job)
        if start:
            _restore(caffe_solver, start, job.path)
        elif job.weights_path:
            _load_weights(caffe_solver, job)
        loop = TrainingLoop(job, caffe_solver, log, stop, out or user_stream, progress,
                            check_forward=device is None)
        return loop.run()


class TrainingLoop:
    """One run of the training loop over a built (and maybe restored) solver."""

    def __init__(self, job, caffe_solver, log, stop, stream, progress, check_forward=True):
        self.job = job
        self.solver = caffe_solver
        self.log = log
        self.stop = stop
        self.stream = stream
        self.plan = solver.Plan(**job.plan)
        self.solver_param = prototxt.read_solver(job.solver_path)   # its lr fields, for the log
        self.loss_top = job.loss_top
        self.features = list(job.feature_blobs)
        self.label = job.label_blob
        self.elapsed0 = trainlog.last_elapsed(job.file("train_log"))
        self.started = time.perf_counter()
        self.step_seconds = 0.0
        self.steps = 0
        self.window = []
        self.bar = None
        self.progress = progress and getattr(stream, "isatty", lambda: False)()
        if check_forward:
            stop_on_nonfinite_forward(caffe_solver.net)

    def run(self):
        """Train to max_iter or until stopped; returns (status, message)."""
        plan = self.plan
        if self.solver.iter == 0 and not self._validate():
            return self._diverged(0, "validation loss")
        with progress.bar(total=plan.max_iter, initial=self.solver.iter, unit="it",
                          file=self.stream, disable=not self.progress, desc=self.job.job_id,
                          dynamic_ncols=True) as bar:
            self.bar = bar
            while self.solver.iter < plan.max_iter:
                if self.stop.requested:
                    return self._interrupted()
                try:
                    loss = self._step()
                except NonFiniteForward:
                    return self._diverged(self.solver.iter + 1, "forward pass")
                iteration = self.solver.iter
                if not math.isfinite(loss):
                    return self._diverged(iteration, "training loss")
                if iteration % plan.display == 0 or iteration == plan.max_iter:
                    self._train_row(iteration)
                if iteration % plan.test_interval == 0 or iteration == plan.max_iter:
                    if not self._validate():
                        return self._diverged(iteration, "validation loss")
                if iteration % plan.snapshot == 0 or iteration == plan.max_iter:
                    if not all_finite(self._weights()):
                        return self._diverged(iteration, "weights")
                    self._snapshot()
                bar.set_postfix(loss=f"{loss:.4f}", pairs_s=f"{self.pairs_per_second():.0f}",
                                epoch=f"{plan.epoch(iteration):.2f}", refresh=False)
                bar.update(1)
        return DONE, f"trained {plan.max_iter} iterations ({plan.epochs:g} epochs)"

    def pairs_per_second(self):
        """Training throughput of this run: pairs through forward + backward + update per second."""
        if not self.step_seconds:
            return 0.0
        return self.plan.pairs_per_iteration * self.steps / self.step_seconds

    def _step(self):
        """One solver iteration; its training loss."""
        began = time.perf_counter()
        self.solver.step(1)
        self.step_seconds += time.perf_counter() - began
        self.steps += 1
        loss = float(self.solver.net.blobs[self.loss_top].data)
        self.window.append(loss)
        return loss

    def _weights(self):
        return [blob for blobs in self.solver.net.params.values() for blob in blobs]

    def _elapsed(self):
        return self.elapsed0 + time.perf_counter() - self.started

    def _train_row(self, iteration):
        if not self.window:
            return
        self.log.write(iteration=iteration, epoch=self.plan.epoch(iteration), phase="train",
                       loss=float(np.mean(self.window)),
                       learning_rate=lr_schedule.rate(self.solver_param, iteration - 1),
                       elapsed_s=self._elapsed())
        self.window = []

    def _validate(self):
        """A full validation pass, logged; False when its loss is not finite."""
        iteration = self.solver.iter
        loss, same, different = validation_pass(self.solver, self.plan, self.loss_top,
                                                self.features, self.label)
        self.log.write(iteration=iteration, epoch=self.plan.epoch(iteration), phase="val",
                       loss=loss, same_distance=same, different_distance=different,
                       elapsed_s=self._elapsed())
        self._say(f"iteration {iteration}/{self.plan.max_iter} "
                  f"(epoch {self.plan.epoch(iteration):.2f}): val loss {loss:.4f}, mean distance "
                  f"same {_fmt(same)} / different {_fmt(different)}"
                  + (f", {self.pairs_per_second():.0f} pairs/s" if self.steps else ""))
        lossplot.plot_loss(self.job.file("train_log"), self.job.file("loss_plot"),
                           title=f"job {self.job.job_id}")
        return math.isfinite(loss)

    def _snapshot(self):
        self._check_free_space()
        self.solver.snapshot()
        snapshot = publish_snapshot(self.job, self.solver.iter)
        self.job.add_snapshot(snapshot)
        self.job.record(iteration=snapshot.iteration)
        self.job.save()

    def _check_free_space(self):
        """OutputError when the job's disk cannot hold another snapshot: Caffe aborts the
        process when a snapshot's write fails. A snapshot takes about what the last one
        took (the first: every layer's blobs, and at most as much again of solver history)."""
        import shutil

        last = self.job.snapshots()
        need = (sum(d.get("bytes", 0) for d in (last[-1].digests or {}).values())
                if last else 0)
        if not need:
            values = sum(blob.count for blob in self._all_layer_blobs())
            need = 4 * values * 2     # the .caffemodel, and up to as much of history
        need = int(need * 1.1) + (1 << 20)
        free = shutil.disk_usage(self.job.path).free
        if free < need:
            raise OutputError(f"only {free / 1e6:.1f} MB free, a snapshot needs about "
                              f"{need / 1e6:.1f} MB: training stopped before writing it "
                              f"(free some space, then --resume)", where=self.job.path)

    def _all_layer_blobs(self):
        return [blob for layer in self.solver.net.layers for blob in layer.blobs]

    def _interrupted(self):
        iteration = self.solver.iter
        self._train_row(iteration)
        if not any(s.iteration == iteration for s in self.job.snapshots()):
            self._snapshot()
        return INTERRUPTED, (f"stopped by {self.stop.signal_name} at iteration {iteration} "
                             f"(snapshot saved); continue with --resume {self.job.path}")

    def _diverged(self, iteration, what):
        kept = [s for s in self.job.snapshots() if s.iteration <= iteration]
        last = (f"the last good snapshot is {os.path.basename(kept[-1].caffemodel_path)}"
                if kept else "no snapshot had been taken yet")
        return DIVERGED, (f"the {what} gave NaN or infinite values at iteration {iteration}; "
                          f"training stopped and {last}; try a lower --base-lr")

    def _say(self, line):
        if self.bar is not None and self.progress:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)


def validation_pass(caffe_solver, plan, loss_top, features, label):
    """Run the test net over the whole validation set with the current weights.

    Returns (mean loss over the test_iter batches — Caffe's test output — , mean
    distance between the two features of same-class pairs, same for
    different-class pairs); a distance is None when the pass had no such pair.
    Only the first val_pairs records of the pass count for the distances (the
    last batch wraps around to the start of the LMDB).
    """
    net = caffe_solver.test_nets[0]
    net.share_with(caffe_solver.net)
    losses, distances, labels = [], [], []
    for _ in range(plan.test_iter):
        net.forward()
        losses.append(float(net.blobs[loss_top].data))
        left, right = (net.blobs[name].data.reshape(net.blobs[name].data.shape[0], -1)
                       for name in features)
        distances.append(np.linalg.norm(left - right, axis=1))
        labels.append(net.blobs[label].data.reshape(-1).copy())
    distances = np.concatenate(distances)[:plan.val_pairs]
    same = np.concatenate(labels)[:plan.val_pairs] > 0.5
    return (float(np.mean(losses)),
            float(distances[same].mean()) if same.any() else None,
            float(distances[~same].mean()) if (~same).any() else None)


def _make_solver(caffe, job):
    """pycaffe's solver for the job, from an absolute-path copy of solver.prototxt that
    snapshots under this process's temporary prefix (see publish_snapshot)."""
    runtime = solver.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
    runtime.snapshot_prefix = snapshot_temp_prefix(job)
    runtime.snapshot_format = runtime.BINARYPROTO
    return solver.load_caffe_solver(caffe, runtime, job.path)


def _load_weights(caffe_solver, job):
    """Copy a fine-tuned job's weights.caffemodel into the net before its first iteration
    (checked against its recorded digest first: Caffe aborts on a damaged file). The test
    net shares the train net's params at each validation pass."""
    jobfiles.check_recorded(job.weights_path, job.weights["digest"])
    caffe_solver.net.copy_from(job.weights_path)


def snapshot_temp_prefix(job):
    """Where Caffe writes a snapshot before it is whole: `<job>/.snapshot.tmp-<pid>`
    (atomic_files' naming, so a killed run's leftovers are recognised and removed)."""
    return os.path.join(job.path, f".snapshot{atomic_files.TMP_MARK}{os.getpid()}")


def publish_snapshot(job, iteration):
    """Move the snapshot Caffe just wrote under the temporary prefix into place; its
    jobs.Snapshot with the files' digests (not yet recorded: the caller saves job.json).

    The .caffemodel is renamed; the .solverstate is rewritten with `learned_net` naming
    the final .caffemodel (Caffe's tool reads it from there) and renamed too."""
    prefix = snapshot_temp_prefix(job)
    names = {ext: f"snapshot_iter_{iteration}.{ext}" for ext in ("caffemodel", "solverstate")}
    model_tmp, state_tmp = (f"{prefix}_iter_{iteration}.{ext}"
                            for ext in ("caffemodel", "solverstate"))
    model = os.path.join(job.path, names["caffemodel"])
    state_path = os.path.join(job.path, names["solverstate"])
    state = prototxt.caffe_pb2().SolverState()
    with open(state_tmp, "rb") as f:
        state.ParseFromString(f.read())
    state.learned_net = model
    digests = {names["caffemodel"]: jobfiles.file_digest(model_tmp)}
    atomic_files.publish(model_tmp, model)
    atomic_files.write_bytes(state_path, state.SerializeToString())
    os.remove(state_tmp)
    digests[names["solverstate"]] = jobfiles.file_digest(state_path)
    return jobs.Snapshot(iteration, iteration / job.plan["iterations_per_epoch"], model,
                         state_path, digests)


def check_dataset_unchanged(job):
    """Check the job's dataset (every LMDB walked, the mean read) and that it is still the
    one the job was made on; BadInputError otherwise (Caffe would abort, or silently
    train on other data)."""
    dataset = datasets.load_dataset(job.dataset_folder)
    change = datasets.identity_change(job.dataset_identity, dataset.manifest)
    if change:
        raise BadInputError(f"the dataset was replaced since this job was made ({change}); "
                            "resuming would train on other data — train a new job on it",
                            where=job.dataset_folder)
    return dataset


def _restore(caffe_solver, snapshot, job_dir):
    """Restore `snapshot`'s solver state, pointing it at the snapshot's weights where they are now."""
    path = atomic_files.temporary_path(os.path.join(job_dir, "resume.solverstate"))
    _write_restorable(snapshot, path)
    try:
        caffe_solver.restore(path)
    finally:
        os.remove(path)


def _probe_run(job, start):
    """One iteration of the job's solver (restored from `start`, a jobs.Snapshot or None)
    in a child Caffe (runtime.netprobe); when Caffe refuses, the job is recorded FAILED
    with the reason and BadInputError names the solver or network file and line."""
    from ..runtime import netprobe

    runtime = solver.runtime_copy(prototxt.read_solver(job.solver_path), job.path)
    path = atomic_files.temporary_path(os.path.join(job.path, "probe-solver.prototxt"))
    state = atomic_files.temporary_path(os.path.join(job.path, "probe.solverstate"))
    options = {"step": True}
    try:
        prototxt.write_text(path, runtime)
        if start:
            _write_restorable(start, state)
            options["restore"] = state
        netprobe.probe([("solver", path, options)])
    except netprobe.CaffeRejectedError as err:
        named = job.solver_path if err.about_solver else job.train_val_path
        line = (solver.field_line(named, err.reason) if err.about_solver else
                err.layer and netprobe.prototxt_line_of_layer(named, err.layer))
        refused = netprobe.CaffeRejectedError(err.reason, where=f"{named}:{line}" if line
                                              else named, about_solver=err.about_solver,
                                              layer=err.layer)
        job.record(status=FAILED, pid=None, message=f"cannot continue: {refused}")
        job.save()
        raise refused from None
    finally:
        for temporary in (path, state):
            if os.path.lexists(temporary):
                os.remove(temporary)


def _write_restorable(snapshot, path):
    """Write `snapshot`'s solver state to `path` with `learned_net` naming its weights
    where they are now (Caffe's restore reads them from there)."""
    state = prototxt.caffe_pb2().SolverState()
    with open(snapshot.solverstate_path, "rb") as f:
        state.ParseFromString(f.read())
    state.learned_net = snapshot.caffemodel_path
    with open(path, "wb") as f:
        f.write(state.SerializeToString())


def _resume_point(job):
    """The snapshot to resume from, or None (start again) when there is none.

    Only snapshots job.json recorded count (Job.snapshots): a snapshot is recorded once
    both its files are whole.
    """
    resumable = [s for s in job.snapshots() if s.solverstate_path]
    return resumable[-1] if resumable else None


def _check_can_run(job, resume):
    pid = job.pid
    if job.status == RUNNING and pid and pid != os.getpid() and atomic_files.pid_alive(pid):
        raise BadInputError(f"is being trained by process {pid}", where=job.path)
    if not resume and job.status != jobs.CREATED:
        raise BadInputError(f"has already been trained (status {job.status}); "
                            "use --resume to continue it", where=job.path)
    if resume and job.status == DONE:
        raise BadInputError(f"is already trained to its last iteration "
                            f"({job.max_iter})", where=job.path)


def _finish(job, status, message):
    """Record how the run ended in job.json and redraw loss.png."""
    snapshots = job.snapshots()
    job.record(status=status, message=message, pid=None,
               iteration=snapshots[-1].iteration if snapshots else 0)
    job.save()
    if os.path.exists(job.file("train_log")):
        lossplot.plot_loss(job.file("train_log"), job.file("loss_plot"),
                           title=f"job {job.job_id}")


def _fmt(value):
    return "n/a" if value is None else f"{value:.3f}"
