"""The main job: the whole walkthrough on the built-in digits, in one folder.

    prepare-mnist  → WORKDIR/mnist/        train.txt (4500 digits), val.txt (500 held out)
    create-db      → WORKDIR/siamesedb/    pairs of train.txt; validation pairs of val.txt
    train          → WORKDIR/jobs/<id>/    on the CPU (or --gpu), a few minutes
    infer          → the same-class and different-class validation test PNGs, and one
                     grayscale held-out digit (two identical points)
    infer-many     → WORKDIR/predictions.csv / .json   every held-out digit
    plot-clusters  → WORKDIR/clusters.png
    evaluate       → WORKDIR/report/report.md (+ report.json and plots)

and WORKDIR/demo.json with the settings, the time of each step and the headline
figures. The held-out digits are never used in training: create-db pairs
only train.txt's digits, and evaluate measures val.txt's against them.

DemoSettings()'s defaults (demo_settings.py) are tuned to finish on a 2-core CPU
within minutes with a useful embedding; `FULL` is DIGITS' recipe (100,000 uniform pairs, 30 epochs) for a GPU
and the full MNIST (idx files, or downloaded).
"""

import json
import os
import sys
import time
from dataclasses import asdict

from .data import create_db, image_sources, prepare_mnist
from .demo_settings import DEFAULT_WORKDIR
from .evaluate import report
from .infer import clusters, embedding, predictions
from .runtime import atomic_files, staging
from .train import jobs, jobsetup, training
from .train.settings import TrainSettings

MARKER = "demo.json"
KIND = "demo"      # the output guard's name for a demo folder (staging.py)


def prepare_workdir(workdir, inputs=()):
    """Empty `workdir` for a run: a previous demo folder (the output guard's marker of kind
    KIND, nothing else inside) is replaced; anything else existing is refused
    (BadInputError from staging.check_output), as is a workdir holding one of `inputs`."""
    staging.check_output(workdir, KIND, force=True, inputs=inputs, input_folders=inputs)
    if os.path.lexists(workdir):
        staging.remove_folder(workdir)
    os.makedirs(workdir)
    atomic_files.write_json(os.path.join(workdir, MARKER), {"status": "running"})
    staging.write_marker(workdir, KIND)


def run_demo(settings, workdir=DEFAULT_WORKDIR, out=None):
    """Run every step into `workdir`; returns the summary also written to demo.json.

    out: stream for the step headers and results (default stdout); training's
    progress bar goes to stderr on a terminal.
    """
    out = out or sys.stdout
    workdir = os.path.abspath(workdir)
    prepare_workdir(workdir, inputs=[settings.idx_folder] if settings.idx_folder else [])
    try:
        summary = Demo(settings, workdir, out).run()
        atomic_files.write_json(os.path.join(workdir, MARKER), summary)
    finally:
        staging.write_marker(workdir, KIND)   # all it made, so a next run may replace it
    return summary


class Demo:
    """The steps of one demo run, each timed into `self.timings` (seconds)."""

    def __init__(self, settings, workdir, out):
        self.settings = settings
        self.workdir = workdir
        self.out = out
        self.timings = {}
        self.started = time.perf_counter()

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    def say(self, line=""):
        print(line, file=self.out, flush=True)

    def step(self, number, name, function, *args):
        """Run one step with a header line; its result."""
        self.say(f"\n[{number}/7] {name}")
        began = time.perf_counter()
        result = function(*args)
        self.timings[name] = round(time.perf_counter() - began, 2)
        self.say(f"      ({self.timings[name]:.1f} s)")
        return result

    def run(self):
        s = self.settings
        self.step(1, "prepare-mnist", self.prepare)
        dataset = self.step(2, "create-db", self.create_db)
        job = self.step(3, "train", self.train, dataset)
        tests = self.step(4, "infer", self.infer, job, dataset)
        self.step(5, "infer-many", self.infer_many, job)
        self.step(6, "plot-clusters", self.plot_clusters)
        evaluation = self.step(7, "evaluate", self.evaluate, job)
        total = round(time.perf_counter() - self.started, 1)
        summary = {"status": "done", "settings": asdict(s), "seconds": total,
                   "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
                   "step_seconds": self.timings, "job": job.path, "dataset": dataset,
                   "margin": job.margin,
                   "test_images": tests,
                   "knn_accuracy": evaluation["images"]["knn_accuracy"],
                   "pair_accuracy": evaluation["pairs"]["accuracy"],
                   "best_pair_accuracy": evaluation["pairs"]["best_accuracy"],
                   "roc_auc": evaluation["pairs"]["roc_auc"],
                   "report": self.path("report", "report.md")}
        self._print_summary(summary)
        return summary

    def prepare(self):
        s = self.settings
        folder = self.path("mnist")
        if s.source == "builtin":
            train_set, val_set = image_sources.builtin_mnist(), None
        else:
            idx = s.idx_folder if s.source == "idx" else self._download()
            train_set = image_sources.from_idx_folder(idx, "train")
            val_set = (image_sources.from_idx_folder(idx, "t10k")
                       if image_sources.has_idx_part(idx, "t10k") else None)
        done = prepare_mnist.prepare_mnist(folder, train_set, val_set,
                                           val_fraction=s.val_fraction, seed=s.split_seed,
                                           progress=_tty())
        self.say(f"      {folder}: train.txt {done['train']['images']} digits, val.txt "
                 f"{done['val']['images']} held-out digits ({train_set.description})")

    def _download(self):
        from .data import mnist_download

        folder = self.path("mnist-idx")
        mnist_download.download_mnist(folder, log=self.say)
        return folder

    def create_db(self):
        s = self.settings
        folder = self.path("siamesedb")
        train_set = image_sources.from_list_file(self.path("mnist", "train.txt"))
        val_set = image_sources.from_list_file(self.path("mnist", "val.txt"))
        manifest = create_db.create_db(folder, train_set, count=s.pairs, val_count=s.val_pairs,
                                       val_set=val_set, positive_fraction=s.positive_fraction,
                                       seed=s.seed, progress=_tty())
        for phase in ("train", "val"):
            info = manifest[phase]
            self.say(f"      {phase}: {info['pairs']} pairs ({100 * info['positive_fraction']:.1f} "
                     f"% same class) of {info['images']} digits")
        return folder

    def train(self, dataset):
        s = self.settings
        settings = TrainSettings(
            epochs=s.epochs, batch_size=s.batch_size, val_interval=s.val_interval,
            snapshot_interval=s.val_interval, base_lr=s.base_lr, lr_policy=s.lr_policy,
            lr_steps=s.lr_steps, solver_type=s.solver_type, seed=s.seed, gpu=s.gpu)
        job = jobsetup.create_job(dataset, settings=settings, jobs_dir=self.path("jobs"))
        self.say(f"      job {job.path}: {job.max_iter} iterations of "
                 f"{s.batch_size} pairs on {job.device}")
        training.train_job(job, progress=_tty(), out=self.out)
        return jobs.Job.load(job.path)

    def infer(self, job, dataset):
        """The first held-out same-class and different-class test pairs and one grayscale digit,
        shown in full; then how many of all the held-out test pairs fall on the right side of
        the margin."""
        embedder = embedding.Embedder(job, gpu=self.settings.gpu)
        with open(os.path.join(dataset, "dataset.json")) as f:
            names = json.load(f)["val"]["test_images"]
        with open(self.path("mnist", "val.txt")) as f:
            digit = self.path("mnist", f.readline().rsplit(None, 1)[0])
        results = {}
        for kind, path in (("same_class", os.path.join(dataset, names["same_class"][0])),
                           ("different_class", os.path.join(dataset, names["different_class"][0])),
                           ("grayscale_digit", digit)):
            result = embedder.infer_file(path)
            results[kind] = result.as_dict()
            self.say(f"      {kind:16s} {os.path.relpath(path, self.workdir)}: left "
                     f"{_point(result.left)} right {_point(result.right)} distance "
                     f"{result.distance:.4f} → {'same' if result.same else 'different'} "
                     f"(threshold {result.threshold:g}, margin {embedder.margin:g})")
        results["held_out_test_pairs"] = self._margin_counts(embedder, dataset, names)
        return results

    def _margin_counts(self, embedder, dataset, names):
        """Distances of every held-out test pair, and how many sit on the margin's right side."""
        distances = {kind: [round(embedder.infer_file(os.path.join(dataset, n)).distance, 4)
                            for n in names[kind]] for kind in ("same_class", "different_class")}
        margin = embedder.margin
        counts = {"same_class_below_margin": sum(d < margin for d in distances["same_class"]),
                  "different_class_above_margin": sum(d > margin
                                                      for d in distances["different_class"]),
                  "distances": distances}
        self.say(f"      all {len(names['same_class'])} + {len(names['different_class'])} held-out "
                 f"test pairs: {counts['same_class_below_margin']} same-class below the margin "
                 f"{margin:g}, {counts['different_class_above_margin']} different-class above it")
        return counts

    def infer_many(self, job):
        embedder = embedding.Embedder(job, gpu=self.settings.gpu)
        entries = predictions.read_image_list(self.path("mnist", "val.txt"))
        result = predictions.infer_list(embedder, entries,
                                        warn=lambda line: print(line, file=sys.stderr))
        predictions.write_csv(result, self.path("predictions.csv"))
        predictions.write_json(result, self.path("predictions.json"))
        self.say(f"      {len(result.paths)} digits → {self.path('predictions.csv')}, "
                 f"predictions.json")

    def plot_clusters(self):
        result = predictions.read_predictions(self.path("predictions.csv"))
        clusters.plot_clusters(result.left, result.labels, self.path("clusters.png"),
                               title="held-out digits (val.txt)")
        self.say(f"      {self.path('clusters.png')}")

    def evaluate(self, job):
        embedder = embedding.Embedder(job, gpu=self.settings.gpu)
        reference = image_sources.from_list_file(self.path("mnist", "train.txt"))
        queries = image_sources.from_list_file(self.path("mnist", "val.txt"))
        evaluation, arrays = report.evaluate(embedder, reference, queries,
                                             log=lambda line: self.say(f"      {line}"))
        folder = report.write_report(self.path("report"), evaluation, arrays,
                                     loss_png=job.file("loss_plot"))
        report.record_calibration(job, embedder, evaluation, arrays, folder)
        return evaluation

    def _print_summary(self, summary):
        tests = summary["test_images"]
        self.say("\nsiamese-caffe demo: done in "
                 f"{summary['seconds'] / 60:.1f} minutes (training {self.timings['train']:.0f} s)")
        self.say(f"  held-out digits: {100 * summary['knn_accuracy']:.1f} % k-NN class accuracy;"
                 f" validation pairs: {100 * summary['best_pair_accuracy']:.1f} % at the best "
                 f"threshold, {100 * summary['pair_accuracy']:.1f} % at half the margin, "
                 f"ROC AUC {summary['roc_auc'] or float('nan'):.3f}")
        counts = tests["held_out_test_pairs"]
        self.say(f"  test pairs: same class {tests['same_class']['distance']:.3f}, different "
                 f"class {tests['different_class']['distance']:.3f} (margin {summary['margin']:g}; "
                 f"of all held-out test pairs {counts['same_class_below_margin']}/"
                 f"{len(counts['distances']['same_class'])} same-class below it, "
                 f"{counts['different_class_above_margin']}/"
                 f"{len(counts['distances']['different_class'])} different-class above); "
                 f"a grayscale digit {tests['grayscale_digit']['distance']:.3f}")
        self.say(f"report: {summary['report']}")


def _point(values):
    return "(" + ", ".join(f"{v:+.3f}" for v in values) + ")"


def _tty():
    return sys.stderr.isatty()
