"""siamese-caffe export JOB [--snapshot N] -o model.tar.gz: DIGITS' model download.

`add_bundle_arguments` and `run_bundle` are the bundle half of the `export` command
(use.bundle holds the work); HELP / add_arguments / run let it stand alone too.
"""

import json

HELP = ("pack a trained job as DIGITS' model download: deploy.prototxt, the snapshot's "
        ".caffemodel, the mean .binaryproto, the other prototxts, info.json and a README "
        "(.tar.gz, .tgz, .tar, .tar.bz2 or .zip)")


def add_bundle_arguments(parser):
    """JOB, --jobs-dir, --snapshot, -o/--output, --force, --json."""
    parser.add_argument("job", metavar="JOB", help="job folder or job id")
    parser.add_argument("--jobs-dir", default="jobs", help="folder of the job folders (for ids)")
    parser.add_argument("--snapshot", type=int, metavar="ITERATION",
                        help="pack the snapshot after this many iterations (default: the last)")
    parser.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the archive to write; its ending names the format "
                             "(model.tar.gz, model.zip, ...)")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing FILE (only a bundle this tool wrote)")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run_bundle(args):
    from ..train import jobs
    from ..use import bundle

    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    path, snapshot = bundle.write_bundle(job, args.output, iteration=args.snapshot,
                                         force=args.force)
    names = [name for name, _ in bundle.members(job, snapshot)]
    names += [bundle.INFO_NAME, bundle.README_NAME]
    if args.json:
        print(json.dumps({"job_id": job.job_id, "snapshot": snapshot.iteration,
                          "epoch": snapshot.epoch, "archive": path,
                          "format": bundle.format_of(path), "files": names}, indent=2))
    else:
        print(f"{path}: job {job.job_id}, {snapshot.label}")
        print("  " + ", ".join(names))
    return 0


add_arguments = add_bundle_arguments
run = run_bundle
