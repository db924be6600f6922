"""Training job folders: their layout, their ids, and a loader for later steps.

A job lives in ``jobs/<job_id>/`` (job ids as DIGITS made them,
``20151203-082705-7ad6``: date, time, 4 hex digits) and holds:

    original.prototxt        the user's network, byte for byte as given
    train_val.prototxt       it behind the Data layers of both phases (wrap.py)
    deploy.prototxt          it for inference: Input `data` 1 x 3 x H x W, no label, no loss
    solver.prototxt          the solver; `net` and `snapshot_prefix` relative to the job folder
    snapshot_iter_N.caffemodel / .solverstate   weights and solver state after N iterations
    weights.caffemodel       (fine-tuned jobs) the layers training starts from (weights.py)
    caffe_output.log         Caffe's own log (glog) of the training
    train_log.csv            one row per display interval (phase "train") and per
                             validation pass (phase "val"), see trainlog.py
    loss.png                 train and val loss against epochs
    network.png              the picture of train_val.prototxt (TRAIN phase)
    job.json                 the facts below

job.json (JSON object):

    job_id, created (ISO time), status (one of STATUSES below), message (why it
    stopped, or null), pid (of the training process while it runs), name and
    group (null unless given; a sweep's jobs share a group),
    dataset   {folder, mean_file, image_shape [3, H, W], train_pairs, val_pairs,
               identity (datasets.identity: seed, created, counts, content SHA-256s)}
    network   {source (path given), feature_blobs [left, right], feature_dim,
               margin, legacy_loss, loss_layer, loss_top, input_blob "data",
               label_blob "label", shared_layers [[left, right], ...],
               param_shapes {layer: [[dims] per blob]} of the deploy net}
    transform {mean "image"|"pixel"|"none", mean_values [B, G, R] or null, crop_size or
              null, input_shape [3, h, w] the deploy net reads} (net/transform.py)
    weights   (fine-tuned jobs only) {file "weights.caffemodel", digest, sources [{path,
              sha256, bytes, job_id, snapshot_iteration, snapshot_epoch, loaded, refused}],
              fresh [layers], report [lines]} (weights.py)
    plan      solver.Plan as a dict (epochs, batch sizes, iterations_per_epoch, max_iter, ...)
    settings  the options training ran with (solver type, base_lr, lr_policy, seed, mode, ...)
    snapshots [{iteration, epoch, caffemodel, solverstate, files}] (file names in the job
              folder; files: {name: {bytes, sha256}} of both, as training wrote them).
              A snapshot exists for every later step only once it is recorded here:
              training writes it under a temporary name and renames it whole first.
    iteration the iteration of the last snapshot (where --resume continues)
    files     {name: {bytes, sha256}} of deploy/train_val/solver.prototxt as written
              (a changed file is built in a child Caffe before use, see jobfiles.py)
    evaluations {iteration: {eer_threshold, equal_error_rate, pairs, same_class,
              same/different distance percentiles, report}}: what `evaluate` found on
              the validation pairs for that snapshot (verify's calibrated threshold)

Paths in `dataset` are absolute; everything else is relative to the job folder.
`Job.load` reads a job for infer / evaluate / plot steps: `Job.load("jobs/<id>")`
or `Job.load("<id>", jobs_dir="jobs")`, then `job.deploy_path`, `job.mean_file`,
`job.last_snapshot().caffemodel_path`, ... job.json is read through Job's properties
only; `info` is the raw dict, for jobs.py and the code that writes a new job.
"""

import datetime
import json
import os
import re
import secrets
from dataclasses import dataclass

from ..errors import BadInputError
from ..runtime import atomic_files, input_files

JOB_FILE = "job.json"
FILES = {"original": "original.prototxt", "train_val": "train_val.prototxt",
         "deploy": "deploy.prototxt", "solver": "solver.prototxt",
         "caffe_log": "caffe_output.log", "train_log": "train_log.csv",
         "loss_plot": "loss.png", "network_plot": "network.png"}
SNAPSHOT_RE = re.compile(r"^snapshot_iter_(\d+)\.caffemodel$")
DEFAULT_JOBS_DIR = "jobs"

# job.json "status": what became of the job
CREATED = "created"            # written by create_job, never trained
RUNNING = "running"            # a training process (pid) is at work on it
DONE = "done"                  # trained to its last iteration
INTERRUPTED = "interrupted"    # stopped by Ctrl-C / SIGTERM after a snapshot: resumable
DIVERGED = "diverged"          # stopped at a NaN or infinite value; the last good snapshot kept
FAILED = "failed"              # stopped by an error (message says which)
STATUSES = (CREATED, RUNNING, DONE, INTERRUPTED, DIVERGED, FAILED)


def new_job_id(now=None):
    """A DIGITS-style job id, e.g. '20151203-082705-7ad6' (local time + 4 random hex digits)."""
    now = now or datetime.datetime.now()
    return f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class Snapshot:
    """One saved state: after `iteration` iterations (`epoch` epochs).

    caffemodel_path: absolute path of the weights. solverstate_path: absolute
    path of the solver state, or None when that file is absent. digests: {file name:
    {"bytes", "sha256"}} as training wrote them (empty for snapshots recorded before
    digests were kept).
    """

    iteration: int
    epoch: float
    caffemodel_path: str
    solverstate_path: str
    digests: dict = None

    def as_record(self):
        """The job.json entry (file names relative to the job folder)."""
        return {"iteration": self.iteration, "epoch": round(self.epoch, 6),
                "caffemodel": os.path.basename(self.caffemodel_path),
                "solverstate": (os.path.basename(self.solverstate_path)
                                if self.solverstate_path else None),
                "files": dict(self.digests or {})}

    @property
    def label(self):
        """For people: "epoch 0.36 (iteration 17)" (epoch_text's rounding)."""
        return f"epoch {epoch_text(self.epoch)} (iteration {self.iteration})"

    def digest(self, path):
        """The recorded {"bytes", "sha256"} of one of its two files, or None."""
        return (self.digests or {}).get(os.path.basename(path))


def epoch_text(epoch):
    """An epoch for people: two decimals at most, trailing zeros dropped
    (0.3617021 -> "0.36", 2.0 -> "2", 0.004 -> "0.004": a nonzero epoch never reads 0)."""
    value = float(epoch)
    if value != 0 and abs(value) < 0.01:
        return f"{value:.1g}"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


class Job:
    """A job folder and its job.json (`info`, a dict)."""

    def __init__(self, path, info):
        self.path = os.path.abspath(path)
        self.info = info

    @classmethod
    def load(cls, where, jobs_dir=DEFAULT_JOBS_DIR):
        """The job at folder `where`, or with id `where` under `jobs_dir` (BadInputError)."""
        path = where if os.path.isdir(where) else os.path.join(jobs_dir, where)
        job_file = os.path.join(path, JOB_FILE)
        if not os.path.lexists(job_file):
            raise BadInputError("not a training job (no job.json)", where=where)
        text = input_files.read_text(job_file, input_files.TEXT_LIMIT, what="job.json")
        try:
            info = json.loads(text)
        except ValueError as err:
            raise BadInputError(f"unreadable ({err})", where=job_file) from None
        _check_info(info, job_file)
        return cls(path, info)

    def notice_dead_trainer(self, signum=None):
        """When job.json says RUNNING but its training process is gone (killed by signal
        `signum` when known, or Caffe aborted it), record FAILED with the reason — Caffe's
        last error from caffe_output.log when there is one — in memory (the next save
        writes it); whether it did."""
        pid = self.pid if isinstance(self.pid, int) else None
        if self.status != RUNNING or pid == os.getpid():
            return False
        if pid and atomic_files.pid_alive(pid):
            return False
        self.record(status=FAILED, pid=None, message=death_message(self, pid, signum))
        return True

    @property
    def job_id(self):
        return self.info.get("job_id", os.path.basename(self.path))

    @property
    def status(self):
        """One of STATUSES."""
        return self.info.get("status", CREATED)

    @property
    def message(self):
        """Why the job stopped (str), or None."""
        return self.info.get("message")

    @property
    def pid(self):
        """The training process's id while status is RUNNING, else None."""
        return self.info.get("pid")

    @property
    def created(self):
        """Creation time, ISO 8601 text (local time, seconds)."""
        return self.info.get("created")

    @property
    def name(self):
        """The name given to the job (str), or None."""
        return self.info.get("name")

    @property
    def group(self):
        """The group the job belongs to (str; a sweep's jobs share one), or None."""
        return self.info.get("group")

    @property
    def iteration(self):
        """Iteration of the last snapshot (0 before the first)."""
        return int(self.info.get("iteration") or 0)

    def record(self, **facts):
        """Set top-level job.json facts (status, message, pid, iteration, ...) in memory;
        save() writes them."""
        unknown = set(facts) - {"status", "message", "pid", "iteration", "finished"}
        if unknown:
            raise KeyError(f"not a job.json fact: {', '.join(sorted(unknown))}")
        if facts.get("status", CREATED) not in STATUSES:
            raise ValueError(f"unknown job status {facts['status']!r}")
        self.info.update(facts)

    def _fact(self, section, key):
        """job.json's info[section][key]; BadInputError naming job.json when it is missing."""
        try:
            return self.info[section][key]
        except (KeyError, TypeError):
            raise BadInputError(f"lacks {section}.{key} (damaged or not made by this "
                                "version?)", where=os.path.join(self.path, JOB_FILE)) from None

    # ---- the dataset
    @property
    def dataset_info(self):
        """job.json's `dataset` facts (dict: folder, mean_file, image_shape, pair counts)."""
        return dict(self.info.get("dataset", {}))

    @property
    def dataset_folder(self):
        """Absolute path of the create-db folder the job trains on."""
        return self._fact("dataset", "folder")

    def dataset_change(self):
        """None while the dataset folder still holds the dataset this job was made on (or
        when there is nothing to compare: an older job, the folder gone), else a sentence
        saying what changed."""
        from ..data import datasets

        if not os.path.isdir(self.dataset_folder):
            return None                    # the steps that need its files name them
        try:
            with open(os.path.join(self.dataset_folder, "dataset.json")) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            manifest = None
        if not isinstance(manifest, dict):
            return ("its dataset.json is missing or damaged: cannot tell whether it is still "
                    "the dataset this job trained on")
        change = datasets.identity_change(self.dataset_identity, manifest)
        return (f"it was replaced since this job was made ({change}): its mean and "
                "validation pairs are the new dataset's" if change else None)

    def file(self, key):
        """Absolute path of one of FILES ('deploy', 'train_log', ...)."""
        return os.path.join(self.path, FILES[key])

    @property
    def deploy_path(self):
        return self.file("deploy")

    @property
    def train_val_path(self):
        return self.file("train_val")

    @property
    def solver_path(self):
        return self.file("solver")

    @property
    def mean_file(self):
        """Absolute path of the training mean (BlobProto 1 x 3 x H x W) inference subtracts."""
        return self._fact("dataset", "mean_file")

    @property
    def image_shape(self):
        """(3, H, W) of the pairs the net reads."""
        return tuple(self._fact("dataset", "image_shape"))

    @property
    def transform(self):
        """The job's input transform (net.transform.Transform: mean mode, crop); a job made
        before it was recorded subtracted the mean image and did not crop."""
        from ..net.transform import Transform

        return Transform.from_dict(self.info.get("transform"), self.image_shape)

    @property
    def input_shape(self):
        """(3, h, w) the deploy net reads: the crop's size, else the image_shape."""
        return self.transform.input_shape

    @property
    def weights(self):
        """job.json's `weights` section (dict) of a fine-tuned job, or None."""
        return self.info.get("weights")

    @property
    def weights_path(self):
        """Absolute path of weights.caffemodel training starts from, or None."""
        record = self.weights
        return os.path.join(self.path, record["file"]) if record else None

    @property
    def feature_blobs(self):
        """(left, right) names of the deploy net's embedding blobs.

        Read them as net.blobs[name].data after net.forward(): they are usually, but not
        always, outputs (a user's extra layer may consume them).
        """
        return tuple(self._fact("network", "feature_blobs"))

    @property
    def feature_dim(self):
        """Length of one branch's feature vector (2 for the DIGITS network)."""
        return int(self._fact("network", "feature_dim"))

    @property
    def margin(self):
        return float(self._fact("network", "margin"))

    @property
    def network_info(self):
        """job.json's `network` facts (dict: feature_blobs, loss_layer, loss_top, ...)."""
        return dict(self.info.get("network", {}))

    @property
    def input_blob(self):
        return self.info.get("network", {}).get("input_blob", "data")

    @property
    def label_blob(self):
        return self.info.get("network", {}).get("label_blob", "label")

    @property
    def loss_top(self):
        """The blob the ContrastiveLoss layer writes (the loss training reports)."""
        return self._fact("network", "loss_top")

    # ---- the plan and settings
    @property
    def plan(self):
        """The training plan, solver.Plan as a dict (epochs, max_iter, iterations_per_epoch, ...)."""
        return dict(self.info.get("plan", {}))

    @property
    def max_iter(self):
        return int(self._fact("plan", "max_iter"))

    @property
    def settings(self):
        """The options training runs with (dict: solver_type, base_lr, seed, device, notes, ...)."""
        return self.info.get("settings", {})

    @property
    def device(self):
        """Where the job trains, as devices.describe wrote it ("cpu" or "gpu N")."""
        return self._fact("settings", "device")

    @device.setter
    def device(self, description):
        self.info["settings"]["device"] = description

    @property
    def notes(self):
        """What create_job adjusted or warned about (list of str)."""
        return list(self.info.get("settings", {}).get("notes", []))

    @property
    def snapshot_records(self):
        """job.json's snapshot entries [{iteration, epoch, caffemodel, solverstate}]."""
        return list(self.info.get("snapshots", []))

    @property
    def file_digests(self):
        """{file name: {"bytes", "sha256"}} of the prototxt files as create_job wrote them."""
        return dict(self.info.get("files") or {})

    @property
    def param_shapes(self):
        """{layer name: [[dims] per blob]} of the deploy net as Caffe built it at creation
        (every layer, [] for those without params), or None for older jobs."""
        return self.info.get("network", {}).get("param_shapes")

    @property
    def dataset_identity(self):
        """What identified the dataset when the job was made (datasets.identity), or None."""
        return self.info.get("dataset", {}).get("identity")

    def snapshots(self):
        """The complete snapshots job.json records, by iteration, whose .caffemodel is there
        (files in the folder that job.json does not record — a snapshot cut short by a kill,
        or one written by `caffe train` itself — are not snapshots of this job)."""
        found = {}
        for iteration, record in self._numbered_records():
            snapshot = self._complete_snapshot(iteration, record)
            if snapshot is not None:
                found[iteration] = snapshot
        return [found[i] for i in sorted(found)]

    def newest_snapshot(self):
        """snapshots()[-1], or None when there is none, looking at the files of the newest
        records only (a request for the last snapshot does not stat every one)."""
        # by iteration, the later record of an iteration first (as snapshots() keeps it)
        for iteration, record in reversed(sorted(self._numbered_records(),
                                                 key=lambda item: item[0])):
            snapshot = self._complete_snapshot(iteration, record)
            if snapshot is not None:
                return snapshot
        return None

    def _numbered_records(self):
        """[(iteration, record)] of the snapshot records whose iteration is a number, in
        job.json's order."""
        numbered = []
        for record in self.snapshot_records:
            try:
                numbered.append((int(record["iteration"]), record))
            except (KeyError, TypeError, ValueError):
                continue
        return numbered

    def _complete_snapshot(self, iteration, record):
        """The Snapshot of one record when its .caffemodel is there, else None."""
        try:
            model = os.path.join(self.path, os.path.basename(record["caffemodel"]))
        except (KeyError, TypeError, ValueError):
            return None
        if not os.path.isfile(model):
            return None
        per_epoch = self.info.get("plan", {}).get("iterations_per_epoch") or 1
        state = record.get("solverstate")
        state = os.path.join(self.path, os.path.basename(state)) if state else None
        return Snapshot(iteration, iteration / per_epoch, model,
                        state if state and os.path.isfile(state) else None,
                        dict(record.get("files") or {}))

    def add_snapshot(self, snapshot):
        """Record a complete snapshot (replacing any record of its iteration) in memory;
        save() writes it."""
        records = [r for r in self.snapshot_records if r.get("iteration") != snapshot.iteration]
        records.append(snapshot.as_record())
        self.info["snapshots"] = sorted(records, key=lambda r: r["iteration"])

    def forget_snapshots_after(self, iteration):
        """Drop the records of snapshots after `iteration` (a resumed run writes them anew)."""
        self.info["snapshots"] = [r for r in self.snapshot_records
                                  if isinstance(r.get("iteration"), int)
                                  and r["iteration"] <= iteration]

    def last_snapshot(self, resumable=False):
        """The latest snapshot (with a .solverstate when `resumable`); BadInputError if none."""
        if resumable:
            latest = next((s for s in reversed(self.snapshots()) if s.solverstate_path), None)
        else:
            latest = self.newest_snapshot()
        if latest is None:
            raise BadInputError("the job has no snapshot yet", where=self.path)
        return latest

    def snapshot(self, iteration=None):
        """The snapshot after `iteration` iterations (the last one when None)."""
        if iteration is None:
            return self.last_snapshot()
        for snap in self.snapshots():
            if snap.iteration == iteration:
                return snap
        have = ", ".join(str(s.iteration) for s in self.snapshots()) or "none"
        raise BadInputError(f"no snapshot at iteration {iteration} (have: {have})",
                            where=self.path)

    def evaluation(self, iteration):
        """What `evaluate` recorded for the snapshot after `iteration` iterations (a dict:
        eer_threshold, equal_error_rate, pair counts, distance percentiles, report folder,
        see evaluate.report.calibration), or None when it was never evaluated."""
        found = (self.info.get("evaluations") or {}).get(str(int(iteration)))
        return dict(found) if isinstance(found, dict) else None

    def record_evaluation(self, iteration, facts):
        """Record `facts` (a JSON-ready dict) as the evaluation of snapshot `iteration` and
        write job.json at once; job.json is read again first, so facts another process
        wrote since this Job was loaded are kept."""
        try:
            with open(os.path.join(self.path, JOB_FILE)) as f:
                current = json.load(f)
        except (OSError, ValueError):
            current = self.info
        if isinstance(current, dict):
            self.info = current
        evaluations = self.info.get("evaluations")
        if not isinstance(evaluations, dict):
            evaluations = self.info["evaluations"] = {}
        evaluations[str(int(iteration))] = dict(facts)
        self.save()

    def save(self):
        """Write job.json atomically."""
        self.info.setdefault("snapshots", [])
        atomic_files.write_json(os.path.join(self.path, JOB_FILE), self.info)


def death_message(job, pid, signum=None):
    """Why a training process that left its job RUNNING ended, for job.json's message:
    "training stopped by signal 6 (SIGABRT): <Caffe's last error line>; --resume ..."."""
    how = (f"training stopped by {signal_text(signum)}" if signum else
           f"the training process{f' (pid {pid})' if pid else ''} ended without finishing")
    last = last_caffe_error(job.file("caffe_log"))
    return (f"{how}{f': {last}' if last else ''}; --resume {job.path} continues from "
            "the last snapshot once the cause is fixed")


def signal_text(signum):
    """'signal 6 (SIGABRT)' for 6."""
    import signal

    try:
        return f"signal {signum} ({signal.Signals(signum).name})"
    except ValueError:
        return f"signal {signum}"


def last_caffe_error(log_path, tail_bytes=1 << 16):
    """Caffe's last fatal (F) or error (E) message in a job's caffe_output.log since its
    last run began (str, Caffe's "Check failed" text put in words), or None."""
    from ..runtime import netprobe

    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - tail_bytes))
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    last = None
    for line in lines:
        if line.startswith("# ") and "siamese-caffe train" in line:
            last = None                  # a later run began
        match = netprobe.ERROR_LINE.match(line)
        if match:
            last = netprobe.readable(match.group(2))
    return last


def _check_info(info, where):
    """BadInputError naming job.json when it is not a job's record (damaged or hand-edited);
    a fact missing from a section is reported when a step asks for it (Job._fact)."""
    if not isinstance(info, dict):
        raise BadInputError("is not a JSON object (damaged?)", where=where)
    for section in ("dataset", "network", "plan", "settings"):
        if section in info and not isinstance(info[section], dict):
            raise BadInputError(f"'{section}' is not an object (damaged?)", where=where)
    shape = (info.get("dataset") or {}).get("image_shape", [3, 1, 1])
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(v, int) and v > 0 for v in shape)):
        raise BadInputError(f"dataset.image_shape {shape!r} is not [3, H, W] (damaged?)",
                            where=where)
    if not isinstance(info.get("snapshots", []), list):
        raise BadInputError("'snapshots' is not a list (damaged?)", where=where)
