"""siamese-caffe infer-db --job JOB IMAGE_DB [--labels LABEL_DB]: DIGITS' Test a DB."""

import json
import sys

HELP = ("run a trained job on every pair of a pair LMDB (e.g. a dataset's val_images): each "
        "pair's distance and same/different verdict, and the accuracy when the label LMDB "
        "is given")


def add_arguments(parser):
    from .infer import add_job_arguments

    parser.add_argument("db", metavar="IMAGE_DB",
                        help="pair image LMDB folder (raw 3 x H x W pair Datums, as create-db "
                             "writes)")
    parser.add_argument("--labels", metavar="LABEL_DB",
                        help="its label LMDB (1 = same class, same keys): adds the accuracy")
    add_job_arguments(parser)
    parser.add_argument("--threshold", type=float,
                        help="distance below which a pair is called the same class "
                             "(default: half the loss's margin)")
    parser.add_argument("--json", action="store_true",
                        help="print every pair's distance and verdict (and the DIGITS "
                             "infer_db features with --outputs) as JSON")
    parser.add_argument("--outputs", action="store_true",
                        help="with --json: add DIGITS' {\"outputs\": {key: {blob: values}}}")


def run(args):
    from ..infer import dbtest, embedding
    from ..train import jobs
    from .infer import warn_if_dataset_replaced

    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    warn_if_dataset_replaced(job, "infer-db")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    result = dbtest.infer_db(embedder, args.db, args.labels, args.threshold)
    if args.json:
        document = {"job_id": job.job_id, "snapshot": embedder.snapshot.iteration,
                    **result.as_dict()}
        if args.outputs:
            document.update(result.outputs())
        json.dump(document, sys.stdout, indent=1)
        print()
        return 0
    for key, dist, same in zip(result.keys, result.distances, result.same):
        print(f"{key}  {dist:.4f}  {'same' if same else 'different'}")
    summary = (f"{len(result.keys)} pairs, {int(result.same.sum())} called same "
               f"(threshold {result.threshold:g})")
    if result.accuracy is not None:
        summary += f"; accuracy {result.accuracy:.4f} against {args.labels}"
    print(summary)
    return 0
