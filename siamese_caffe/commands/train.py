"""siamese-caffe train"""

import json
import sys

HELP = ("train a siamese network on a create-db dataset with Caffe, in a new job folder "
        "(jobs/<job_id>/), or continue a job with --resume; comma lists in --base-lr and "
        "--batch-size make one job per combination (a sweep)")


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
    parser.add_argument("-b", "--batch-size", type=_batch_sizes, default=(d.batch_size,),
                        metavar="N[,N...]",
                        help=f"training pairs per batch; a comma list sweeps (default: "
                             f"{d.batch_size})")
    parser.add_argument("--batch-accumulation", type=ranges.option(ranges.ACCUMULATION), default=d.batch_accumulation,
                        metavar="N", help="batches whose gradients add up before each "
                        "weight update (Caffe's iter_size)")
    parser.add_argument("--val-batch-size", type=ranges.option(ranges.BATCH),
                        help="validation pairs per batch (default: the batch size)")
    parser.add_argument("--val-interval", type=ranges.option(ranges.INTERVAL), default=d.val_interval,
                        help="epochs between validation passes")
    parser.add_argument("--snapshot-interval", type=ranges.option(ranges.INTERVAL), default=d.snapshot_interval,
                        help="epochs between snapshots")
    parser.add_argument("--display", type=ranges.option(ranges.ITERATIONS),
                        help="iterations between train-loss rows (default: 10 per epoch)")
    parser.add_argument("--base-lr", type=_learning_rates, metavar="LR[,LR...]",
                        help="learning rate; a comma list sweeps (default: the solver's)")
    parser.add_argument("--lr-policy", help="Caffe lr_policy (default: the solver's)")
    parser.add_argument("--solver-type", help="SGD, Nesterov, AdaGrad, RMSProp, AdaDelta or "
                        "Adam (default: the solver's)")
    parser.add_argument("--lr-steps", type=_percents,
                        help="comma-separated percents of the run where step policies act "
                             "(default: 33 for step, 50,75 for multistep)")
    parser.add_argument("--seed", type=ranges.option(ranges.SEED), help="Caffe's random seed (default: drawn)")
    parser.add_argument("--gpu", default=None,
                        help="auto, cpu or one GPU number (default: auto; on --resume the "
                             "job's device); several GPUs are refused")
    parser.add_argument("--weights", metavar="A.caffemodel[,B...]",
                        help="start from these trained weights, copied by layer name as "
                             "`caffe train -weights` does (fine-tuning)")
    parser.add_argument("--mean", choices=("image", "pixel", "none"), default=d.mean,
                        help="subtract the training mean image, its per-channel values, or "
                             "nothing")
    parser.add_argument("--crop-size", type=ranges.option(ranges.CROP), metavar="N",
                        help="train on random N x N crops, validate and infer on the centre "
                             "crop (default: the whole image)")
    parser.add_argument("--name", help="the job's name (a sweep's jobs add the swept values)")
    parser.add_argument("--group", help="the group the job belongs to (default for a sweep: "
                        "its name, else sweep-<time>)")
    parser.add_argument("--jobs-dir", default="jobs", help="folder of the job folders")
    parser.add_argument("--allow-unshared", action="store_true",
                        help="train even when the two branches do not share every param")
    parser.add_argument("--resume", metavar="JOB",
                        help="continue this job (folder or id) from its last snapshot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true",
                        help="print the finished job's summary as JSON on stdout")


def run(args):
    from ..train import jobs, trainer_process
    from ..errors import BadInputError

    if bool(args.dataset) == bool(args.resume):
        raise BadInputError("give a dataset folder to start a job, or --resume JOB "
                            "(not both)")
    if args.resume:
        job = jobs.Job.load(args.resume, jobs_dir=args.jobs_dir)
        _say(args, f"resuming job {job.job_id} ({job.path})")
        created = [job]
    else:
        created = _create_jobs(args)
    code = 0
    for job in created:
        # in a child process, so a trainer killed by a signal is recorded at once
        code = trainer_process.train_in_child(
            job, getattr(args, "_label", "siamese-caffe train"), resume=bool(args.resume),
            gpu=args.gpu, progress=not args.no_progress)
        now = jobs.Job.load(job.path)
        if code == 1 and now.status == jobs.DIVERGED:
            _summarise(args, now, quiet=True)     # the child said why, in one line
            if len(created) > 1:
                _say(args, f"job {job.job_id}: {now.message}")
            continue
        if code not in (0, 130):
            return code                           # refused: the child said why
        _summarise(args, now)
        if code == 130:
            return 130
    return code


def _create_jobs(args):
    """Make one job per (learning rate, batch size) combination; the jobs.Job list. Each
    is checked and written whole; when one is refused, the jobs this run made are removed."""
    import shutil

    from ..train import jobs, jobsetup, weights
    from ..train.settings import TrainSettings, sweep

    base = TrainSettings(
        epochs=args.epochs, val_batch_size=args.val_batch_size,
        val_interval=args.val_interval, snapshot_interval=args.snapshot_interval,
        display=args.display, lr_policy=args.lr_policy, solver_type=args.solver_type,
        lr_steps=args.lr_steps, seed=args.seed, gpu=args.gpu or "auto",
        allow_unshared=args.allow_unshared, mean=args.mean, crop_size=args.crop_size,
        batch_accumulation=args.batch_accumulation,
        weights=tuple(weights.split_paths(args.weights)) if args.weights else None)
    combinations = sweep(base, args.base_lr or (None,), args.batch_size, args.name)
    many = len(combinations) > 1
    group = args.group or (args.name if many else None) or \
        (f"sweep-{jobs.new_job_id()}" if many else None)
    made = []
    try:
        for name, settings in combinations:
            job = jobsetup.create_job(args.dataset, args.network, settings,
                                      solver_template=args.solver, jobs_dir=args.jobs_dir,
                                      name=name, group=group)
            made.append(job)
            _announce(args, job)
    except BaseException:
        for job in made:                       # made by this run, never trained
            shutil.rmtree(job.path, ignore_errors=True)
        raise
    if many:
        _say(args, f"sweep of {len(made)} jobs in group {group!r}: "
                   + " ".join(job.job_id for job in made))
    return made


def _announce(args, job):
    for note in job.notes:
        _say(args, f"note: {note}")
    for line in (job.weights or {}).get("report", []):
        _say(args, f"weights: {line}")
    named = f" ({job.name})" if job.name else ""
    _say(args, f"job {job.job_id}{named} created in {job.path} "
               f"({job.max_iter} iterations on {job.device})")


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


def _batch_sizes(text):
    from ..runtime import ranges
    return _number_list(text, ranges.BATCH)


def _learning_rates(text):
    from ..runtime import ranges
    return _number_list(text, ranges.LEARNING_RATE)


def _number_list(text, spec):
    """A comma list of numbers, each range-checked by `spec` (a tuple); argparse's error
    naming the option otherwise."""
    from ..runtime import ranges

    one = ranges.option(spec)
    values = tuple(one(p) for p in text.split(",") if p.strip())
    if not values:
        import argparse
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
    return values


def _percents(text):
    try:
        return tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        import argparse
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}")
