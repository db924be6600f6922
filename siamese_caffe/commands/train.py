"""siamese-caffe train"""

import json
import sys

HELP = ("train a siamese network on a create-db dataset with Caffe, in a new job folder "
        "(jobs/<job_id>/), or continue a job with --resume")


def add_arguments(parser):
    from ..runtime import ranges
    from ..train.settings import DEFAULT_NETWORK, DEFAULT_SOLVER, TrainSettings

    d = TrainSettings()
    parser.add_argument("dataset", nargs="?", help="dataset folder made by create-db")
    parser.add_argument("-n", "--network",
                        help=f"the network prototxt (no data layers) (default: {DEFAULT_NETWORK} "
                        "in the current folder, else the one shipped with siamese-caffe)")
    parser.add_argument("--solver", help=f"the solver template (default: {DEFAULT_SOLVER} in the "
                        "current folder, else the one shipped with siamese-caffe)")
    parser.add_argument("--epochs", type=ranges.option(ranges.EPOCHS), default=d.epochs, help="training epochs")
    parser.add_argument("-b", "--batch-size", type=ranges.option(ranges.BATCH), default=d.batch_size,
                        help="training pairs per iteration")
    parser.add_argument("--val-batch-size", type=ranges.option(ranges.BATCH),
                        help="validation pairs per batch (default: the batch size)")
    parser.add_argument("--val-interval", type=ranges.option(ranges.INTERVAL), default=d.val_interval,
                        help="epochs between validation passes")
    parser.add_argument("--snapshot-interval", type=ranges.option(ranges.INTERVAL), default=d.snapshot_interval,
                        help="epochs between snapshots")
    parser.add_argument("--display", type=ranges.option(ranges.ITERATIONS),
                        help="iterations between train-loss rows (default: 10 per epoch)")
    parser.add_argument("--base-lr", type=ranges.option(ranges.LEARNING_RATE), help="learning rate (default: the solver's)")
    parser.add_argument("--lr-policy", help="Caffe lr_policy (default: the solver's)")
    parser.add_argument("--solver-type", help="SGD, Nesterov, AdaGrad, RMSProp, AdaDelta or "
                        "Adam (default: the solver's)")
    parser.add_argument("--lr-steps", type=_percents,
                        help="comma-separated percents of the run where step policies act "
                             "(default: 33 for step, 50,75 for multistep)")
    parser.add_argument("--seed", type=ranges.option(ranges.SEED), help="Caffe's random seed (default: drawn)")
    parser.add_argument("--gpu", default=None,
                        help="auto, cpu or a GPU number (default: auto; on --resume the "
                             "job's device)")
    parser.add_argument("--jobs-dir", default="jobs", help="folder of the job folders")
    parser.add_argument("--allow-unshared", action="store_true",
                        help="train even when the two branches do not share every param")
    parser.add_argument("--resume", metavar="JOB",
                        help="continue this job (folder or id) from its last snapshot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true",
                        help="print the finished job's summary as JSON on stdout")


def run(args):
    from ..train import jobs, jobsetup, training
    from ..train.settings import TrainSettings
    from ..errors import BadInputError

    if bool(args.dataset) == bool(args.resume):
        raise BadInputError("give a dataset folder to start a job, or --resume JOB "
                            "(not both)")
    if args.resume:
        job = jobs.Job.load(args.resume, jobs_dir=args.jobs_dir)
        _say(args, f"resuming job {job.job_id} ({job.path})")
    else:
        settings = TrainSettings(
            epochs=args.epochs, batch_size=args.batch_size, val_batch_size=args.val_batch_size,
            val_interval=args.val_interval, snapshot_interval=args.snapshot_interval,
            display=args.display, base_lr=args.base_lr, lr_policy=args.lr_policy,
            solver_type=args.solver_type, lr_steps=args.lr_steps, seed=args.seed,
            gpu=args.gpu or "auto", allow_unshared=args.allow_unshared)
        job = jobsetup.create_job(args.dataset, args.network, settings,
                                  solver_template=args.solver, jobs_dir=args.jobs_dir)
        for note in job.notes:
            _say(args, f"note: {note}")
        _say(args, f"job {job.job_id} created in {job.path} "
                   f"({job.max_iter} iterations on "
                   f"{job.device})")
    try:
        status = training.train_job(job, resume=bool(args.resume), gpu=args.gpu,
                                    progress=not args.no_progress)
    except training.TrainingStoppedError:
        _summarise(args, jobs.Job.load(job.path), quiet=True)
        raise
    _summarise(args, jobs.Job.load(job.path))
    return 0 if status == training.DONE else 130


def _summarise(args, job, quiet=False):
    """Print the job's outcome (a line, or JSON with --json); only the JSON when quiet."""
    from ..train.trainlog import read_rows

    vals = [r["loss"] for r in read_rows(job.file("train_log")) if r["phase"] == "val"]
    summary = {"job_id": job.job_id, "path": job.path, "status": job.status,
               "message": job.message, "iteration": job.iteration,
               "first_val_loss": vals[0] if vals else None,
               "last_val_loss": vals[-1] if vals else None,
               "snapshots": job.snapshot_records}
    if args.json:
        print(json.dumps(summary, indent=2))
    if not quiet:
        _say(args, f"job {job.job_id}: {job.status} — {job.message}")


def _say(args, line):
    print(line, file=sys.stderr if args.json else sys.stdout, flush=True)


def _percents(text):
    try:
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
