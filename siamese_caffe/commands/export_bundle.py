"""The bundle half of `siamese-caffe export JOB [--snapshot N] -o model.tar.gz`: DIGITS'
model download (use.bundle holds the work; commands/export.py parses the options)."""

import json


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

