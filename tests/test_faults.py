"""Damaged files and interrupted runs: one clear line, never an abort, nothing
left behind. Real Caffe, real files: snapshots truncated, each LMDB of a dataset
corrupted, prototxt files cut, create-db and training killed, a dataset replaced."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys

import pytest

import project_paths
import waiting
from siamese_caffe.data import create_db, image_sources
from siamese_caffe.train import jobfiles, jobs

ROOT = project_paths.ROOT
FAST = ["--batch-size", "32", "--seed", "3", "--gpu", "cpu", "--lr-policy", "fixed",
        "--no-progress"]


def assert_one_line(ran, command, *fragments):
    """The one error line of a refused run (exit 2), with each fragment, no Caffe abort."""
    line = ran.error_line(command)
    assert "Check failed" not in line and "Traceback" not in line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.fixture
def job_copy(tiny_job, tmp_path):
    """A copy of the trained tiny job (snapshots at 20 and 40) to damage."""
    folder = tmp_path / "job"
    shutil.copytree(tiny_job.path, folder)
    return jobs.Job.load(str(folder))


def truncate(path, keep=0.5):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(int(size * keep))


def dead_pid():
    """The id of a process that has ended."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# ---- snapshots

@pytest.mark.parametrize("command", ["infer", "infer-many", "evaluate"])
def test_truncated_snapshot_is_one_line_in_every_command(job_copy, digit_pngs, tmp_path, command, cli_process):
    model = job_copy.last_snapshot().caffemodel_path
    truncate(model)
    folder, listing, _ = digit_pngs
    out = tmp_path / "predictions.csv"
    args = {"infer": [os.path.join(folder, "0", os.listdir(os.path.join(folder, "0"))[0])],
            "infer-many": [listing, "-o", out],
            "evaluate": []}[command]
    done = cli_process(command, "--job", job_copy.path, *args)
    line = assert_one_line(done, command, model,
                           "damaged", "training wrote")
    assert "Check failure" not in done.stderr
    assert not out.exists() and not os.path.exists(os.path.join(job_copy.path,
                                                                "evaluation_iter_40"))
    assert line


def test_scripts_report_a_truncated_snapshot_alike(job_copy, digit_pngs, cli_process):
    truncate(job_copy.last_snapshot().caffemodel_path, 0.9)
    _, listing, _ = digit_pngs
    done = cli_process("--job", job_copy.path, listing, "-o", os.devnull, script="infer_many.py")
    assert_one_line(done, "infer_many.py", "damaged")


def test_snapshots_recorded_before_digests_are_parsed_instead(job_copy, cli):
    # a job.json of an older version: no digests, no param shapes (a child Caffe checks)
    for record in job_copy.info["snapshots"]:
        record.pop("files", None)
    job_copy.info.pop("files", None)
    job_copy.info["network"].pop("param_shapes", None)
    job_copy.save()
    model = job_copy.last_snapshot().caffemodel_path
    truncate(model, 0.7)
    image = os.path.join(job_copy.dataset_folder, "val_test_same_class_0.png")
    ran = cli("infer", "--job", job_copy.path, image)
    assert_one_line(ran, "infer", model, "not a complete Caffe model")


def test_partial_and_unrecorded_snapshots_are_never_the_last(job_copy, cli):
    last = job_copy.last_snapshot()
    # what a run killed while Caffe wrote its snapshot can leave: a temporary file, and
    # (as before this fix) a partial file under the final name that job.json never recorded
    partial = os.path.join(job_copy.path, "snapshot_iter_60.caffemodel")
    with open(last.caffemodel_path, "rb") as src, open(partial, "wb") as dst:
        dst.write(src.read()[:100000])
    temporary = os.path.join(job_copy.path, f".snapshot.tmp-{dead_pid()}_iter_60.caffemodel")
    shutil.copyfile(partial, temporary)
    assert [s.iteration for s in jobs.Job.load(job_copy.path).snapshots()] == [20, 40]
    image = os.path.join(job_copy.dataset_folder, "val_test_same_class_0.png")
    ran = cli("infer", "--job", job_copy.path, image, "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["snapshot"] == 40


def test_a_snapshot_replaced_by_other_bytes_is_named(job_copy, cli):
    first, last = job_copy.snapshots()
    shutil.copyfile(first.caffemodel_path, last.caffemodel_path)     # same size, other content
    image = os.path.join(job_copy.dataset_folder, "val_test_same_class_0.png")
    ran = cli("infer", "--job", job_copy.path, image)
    assert_one_line(ran, "infer", last.caffemodel_path, "SHA-256 differs")


# ---- prototxt files cut short

def cut_at_layer(path, number):
    """Cut a prototxt before its `number`-th layer (it still parses)."""
    text = open(path).read()
    start = 0
    for _ in range(number):
        start = text.index("layer {", start + 1)
    with open(path, "w") as f:
        f.write(text[:start])


def test_cut_deploy_prototxt_is_one_line(job_copy, cli):
    image = os.path.join(job_copy.dataset_folder, "val_test_same_class_0.png")
    original = open(job_copy.deploy_path).read()
    truncate(job_copy.deploy_path, 0.3)
    ran = cli("infer", "--job", job_copy.path, image)
    assert_one_line(ran, "infer", "deploy.prototxt:", "syntax error")
    with open(job_copy.deploy_path, "w") as f:
        f.write(original)
    cut_at_layer(job_copy.deploy_path, 6)      # parses; the features are gone
    ran = cli("evaluate", "--job", job_copy.path)
    assert_one_line(ran, "evaluate", "deploy.prototxt", "has no feature blob")


def resumable(job, keep=1):
    """Make a finished job look stopped after its first `keep` snapshots."""
    job.info["snapshots"] = job.info["snapshots"][:keep]
    job.record(status=jobs.INTERRUPTED, iteration=job.info["snapshots"][-1]["iteration"])
    job.save()
    return job


def test_resume_refuses_cut_or_damaged_files_and_leaves_the_job(job_copy, cli):
    resumable(job_copy)
    before = open(os.path.join(job_copy.path, "job.json")).read()
    state = job_copy.last_snapshot(resumable=True).solverstate_path
    original = open(state, "rb").read()
    truncate(state, 0.4)
    ran = cli("train", "--resume", job_copy.path, "--no-progress")
    assert_one_line(ran, "train", state, "damaged")
    with open(state, "wb") as f:
        f.write(original)
    cut_at_layer(job_copy.train_val_path, 20)         # the loss layer is gone
    ran = cli("train", "--resume", job_copy.path, "--no-progress")
    assert_one_line(ran, "train", "train_val.prototxt", "no blob 'loss'")
    assert open(os.path.join(job_copy.path, "job.json")).read() == before


# ---- damaged LMDBs

def corrupt_pages(path):
    with open(os.path.join(path, "data.mdb"), "r+b") as f:
        f.seek(2 * 4096)
        f.write(random.Random(0).randbytes(4096 * 3))


def garbage(path):
    with open(os.path.join(path, "data.mdb"), "wb") as f:
        f.write(random.Random(1).randbytes(64 * 1024))


def cut(path):
    truncate(os.path.join(path, "data.mdb"), 0.6)


@pytest.mark.parametrize("database", ["train_images", "train_labels", "val_images",
                                      "val_labels"])
@pytest.mark.parametrize("damage", [cut, corrupt_pages, garbage])
def test_each_damaged_lmdb_stops_train_before_it_starts(small_pair_db, tmp_path, cli, database, damage):
    db = tmp_path / "db"
    shutil.copytree(small_pair_db, db)
    damage(str(db / database))
    jobs_dir = tmp_path / "jobs"
    ran = cli("train", db, "--epochs", "1", *FAST,
                             "--jobs-dir", jobs_dir)
    assert_one_line(ran, "train", str(db / database), "damaged")
    assert not jobs_dir.exists() or os.listdir(jobs_dir) == []


def test_damaged_lmdb_through_the_script_and_for_evaluate(job_copy, small_pair_db, tmp_path, cli_process):
    db = tmp_path / "db"
    shutil.copytree(small_pair_db, db)
    corrupt_pages(str(db / "val_images"))
    done = cli_process(db, "--epochs", "1", *FAST, "--jobs-dir", tmp_path / "jobs",
                   script="train.py")
    assert_one_line(done, "train.py", "val_images", "damaged")
    job_copy.info["dataset"]["folder"] = str(db)
    job_copy.save()
    done = cli_process("evaluate", "--job", job_copy.path)
    assert_one_line(done, "evaluate", "val_images", "damaged")


# ---- a dataset replaced under a job

def test_a_replaced_dataset_is_detected(job_copy, small_pair_db, tmp_path, cli):
    db = str(tmp_path / "db")
    shutil.copytree(small_pair_db, db)
    job_copy.info["dataset"]["folder"] = db
    job_copy.info["dataset"]["mean_file"] = os.path.join(db, "train_mean.binaryproto")
    resumable(job_copy)
    digits = image_sources.builtin_mnist()
    # the same seed and images: the same data, nothing to say
    create_db.create_db(db, digits, count=320, val_count=96, positive_fraction=0.5, seed=0,
                        force=True)
    assert jobs.Job.load(job_copy.path).dataset_change() is None
    # README step 2's `create-db siamesedb ... --force` with another seed
    create_db.create_db(db, digits, count=320, val_count=96, positive_fraction=0.5, seed=5,
                        force=True)
    ran = cli("train", "--resume", job_copy.path, "--no-progress")
    assert_one_line(ran, "train", db, "replaced", "seed 5", "seed 0")
    image = os.path.join(db, "val_test_same_class_0.png")
    ran = cli("infer", "--job", job_copy.path, image)
    lines = ran.stderr.strip().splitlines()
    assert ran.returncode == 0 and len(lines) == 1
    assert lines[0].startswith("siamese-caffe infer: warning: ") and "replaced" in lines[0]


def test_evaluate_list_of_another_size_is_one_line(job_copy, tmp_path, cli):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "big.png")
    (tmp_path / "big.txt").write_text("big.png 1\nbig.png 2\n")
    ran = cli("evaluate", "--job", job_copy.path,
                             "--list", tmp_path / "big.txt")
    assert_one_line(ran, "evaluate", "big.txt", "32x32", "28x28")


# ---- killed runs

def staging_folders(parent, name):
    return [n for n in os.listdir(parent) if n.startswith(f".{name}.tmp-")]


def start_create_db(target):
    return subprocess.Popen([sys.executable, "-m", "siamese_caffe.cli", "create-db", target,
                             "-c", "3000000", "--seed", "1"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for_lmdb(parent, name, process, timeout=120):
    def writing():
        return any(f".tmp-{process.pid}-" in folder and
                   os.path.exists(os.path.join(parent, folder, "train_images", "data.mdb"))
                   for folder in staging_folders(parent, name))
    waiting.until(writing, "create-db to start writing", timeout, process=process)


def test_killed_create_db_is_cleaned_by_the_next_run_and_sigterm_is_ctrl_c(tmp_path, cli_process):
    target = tmp_path / "siamesedb"
    killed = start_create_db(target)
    try:
        wait_for_lmdb(str(tmp_path), "siamesedb", killed)
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.kill()
        killed.communicate()
    assert len(staging_folders(str(tmp_path), "siamesedb")) == 1       # left behind
    terminated = start_create_db(target)
    try:
        wait_for_lmdb(str(tmp_path), "siamesedb", terminated)
        # the next run of the step removed the dead run's folder, not its own
        assert len(staging_folders(str(tmp_path), "siamesedb")) == 1
        terminated.send_signal(signal.SIGTERM)
        _, err = terminated.communicate(timeout=60)
    finally:
        terminated.kill()
    assert terminated.returncode == 130
    assert err.strip().splitlines() == ["siamese-caffe create-db: interrupted by SIGTERM"]
    assert os.listdir(tmp_path) == []
    done = cli_process("create-db", target, "-c", "50", "--val-count", "20", "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path) == ["siamesedb"]


def test_training_killed_while_snapshotting_loses_nothing(small_pair_db, tmp_path, cli_process):
    jobs_dir = tmp_path / "jobs"
    # a snapshot every iteration, so the kill very likely lands inside one
    child = subprocess.Popen([sys.executable, "-m", "siamese_caffe.cli", "train",
                              small_pair_db, "--epochs", "3", "--snapshot-interval", "0.1",
                              *FAST, "--jobs-dir", str(jobs_dir)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    def job_folder():
        names = os.listdir(jobs_dir) if jobs_dir.exists() else []
        ready = [n for n in names if not n.startswith(".")]
        return jobs_dir / ready[0] if ready else None

    def or_stopped(condition):           # a run that ends early leaves the checks below
        return lambda: child.poll() is not None or condition()

    folder = None
    try:
        waiting.until(or_stopped(job_folder), "the job folder", interval=0)
        folder = job_folder()
        waiting.until(or_stopped(lambda: jobs.Job.load(str(folder)).snapshot_records),
                      "a first complete snapshot", interval=0)
        waiting.until(or_stopped(lambda: any(n.startswith(".snapshot.tmp-")
                                             for n in os.listdir(folder))),
                      "Caffe writing a snapshot", interval=0)
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)         # Caffe is writing a snapshot
    finally:
        child.kill()
        child.communicate()
    assert folder is not None
    job = jobs.Job.load(str(folder))
    recorded = job.snapshots()
    assert recorded, "killed before the first snapshot"
    for snapshot in recorded:                      # every recorded snapshot is whole
        for path in (snapshot.caffemodel_path, snapshot.solverstate_path):
            jobfiles.check_recorded(path, snapshot.digest(path))
    image = os.path.join(small_pair_db, "val_test_same_class_0.png")
    done = cli_process("infer", "--job", folder, image, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["snapshot"] == recorded[-1].iteration
    done = cli_process("train", "--resume", folder, "--no-progress")
    assert done.returncode == 0, done.stderr
    job = jobs.Job.load(str(folder))
    assert job.status == jobs.DONE and job.snapshots()[-1].iteration == job.max_iter
    assert not [n for n in os.listdir(folder) if ".tmp-" in n]       # nothing left behind



# A child running the command line that sends itself SIGTERM at one chosen moment (the
# server's Abort or a `kill` can land anywhere); {hook} is code that arranges the moment.
SIGTERM_CHILD = """
import os, signal, sys

def sigterm():
    os.kill(os.getpid(), signal.SIGTERM)

{hook}
from siamese_caffe import cli
sys.exit(cli.main(sys.argv[1:]))
"""

# pycaffe imports caffe_pb2 under a bare `except:`, which swallowed the KeyboardInterrupt
AT_CAFFE_PB2_IMPORT = """
class AtCaffePb2:
    sent = False

    def find_spec(self, name, path=None, target=None):
        if name == "caffe.proto.caffe_pb2" and not self.sent:
            self.sent = True
            sigterm()
        return None

sys.meta_path.insert(0, AtCaffePb2())
"""

# a bar half built by tqdm's constructor printed a traceback from its destructor
AT_PROGRESS_BAR = """
import tqdm.std
built = tqdm.std.tqdm.__init__

def init(self, *args, **kwargs):
    tqdm.std.tqdm.__init__ = built
    sigterm()
    built(self, *args, **kwargs)

tqdm.std.tqdm.__init__ = init
"""


def run_with_sigterm(hook, *argv):
    return subprocess.run([sys.executable, "-c", SIGTERM_CHILD.format(hook=hook), *argv],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_sigterm_while_caffe_is_imported_still_stops_training(small_pair_db, tmp_path):
    jobs_dir = tmp_path / "jobs"
    ran = run_with_sigterm(AT_CAFFE_PB2_IMPORT, "train", small_pair_db, "--epochs", "3",
                           *FAST, "--jobs-dir", str(jobs_dir))
    assert ran.returncode == 130, ran.stderr
    assert "Failed to include caffe_pb2" not in ran.stdout + ran.stderr
    assert ran.stderr.strip().splitlines()[-1] == "siamese-caffe train: interrupted by SIGTERM"
    trained = [jobs.Job.load(str(jobs_dir / name)) for name in os.listdir(jobs_dir)
               if not name.startswith(".")] if jobs_dir.exists() else []
    assert [job.status for job in trained if job.status == jobs.DONE] == []


def test_sigterm_while_a_progress_bar_is_made_is_one_line(tmp_path):
    ran = run_with_sigterm(AT_PROGRESS_BAR, "create-db", str(tmp_path / "siamesedb"),
                           "-c", "50", "--val-count", "20")
    assert ran.returncode == 130, ran.stderr
    assert ran.stderr.strip().splitlines() == ["siamese-caffe create-db: interrupted by SIGTERM"]
    assert os.listdir(tmp_path) == []
