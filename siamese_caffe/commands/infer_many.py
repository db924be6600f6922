"""siamese-caffe infer-many --job JOB LIST"""

import json
import os
import sys

HELP = ("run a trained job on every image of a list (`path [label]` per line, e.g. "
        "val.txt), in batches: a predictions CSV and DIGITS' infer_many JSON")


def add_arguments(parser):
    from ..infer.settings import DEFAULT_BATCH
    from ..runtime import ranges
    from .infer import add_job_arguments

    parser.add_argument("list", help="image list: one path per line, optionally followed by "
                                     "an integer class label (DIGITS' train.txt / val.txt)")
    add_job_arguments(parser)
    parser.add_argument("-o", "--output", default="predictions.csv",
                        help="predictions CSV (path, label, distance, left and right features)")
    parser.add_argument("--json-output",
                        help="DIGITS-shaped JSON {\"outputs\": {path: {blob: values}}} "
                             "(default: the CSV's name with .json)")
    parser.add_argument("--image-folder", metavar="DIR",
                        help="resolve relative paths against DIR instead of the list's folder")
    parser.add_argument("-b", "--batch-size", type=ranges.option(ranges.BATCH), default=DEFAULT_BATCH,
                        help="images per forward pass")
    parser.add_argument("--strict", action="store_true",
                        help="stop at the first missing or unreadable image instead of "
                             "skipping it")
    parser.add_argument("--json", action="store_true", help="print a summary as JSON")


def run(args):
    from ..infer import embedding, predictions
    from ..train import jobs
    from ..errors import BadInputError

    if args.batch_size < 1:
        raise BadInputError(f"must be at least 1, got {args.batch_size}", where="--batch-size")
    from ..runtime import staging
    from .infer import warn_if_dataset_replaced

    entries = predictions.read_image_list(args.list, args.image_folder)
    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    json_path = args.json_output or os.path.splitext(args.output)[0] + ".json"
    inputs = [args.list, args.image_folder, job.path, job.dataset_folder,
              *(entry.resolved for entry in entries)]
    for path in (args.output, json_path):
        staging.check_output_file(path, inputs, [job.path, job.dataset_folder])
    if os.path.abspath(json_path) == os.path.abspath(args.output):
        raise BadInputError("is also the CSV output; give another --json-output",
                            where=json_path)
    warn_if_dataset_replaced(job, "infer-many")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu, batch_size=args.batch_size)
    result = predictions.infer_list(embedder, entries, strict=args.strict,
                                    warn=lambda line: print(line, file=sys.stderr),
                                    progress=sys.stderr.isatty())
    if not result.paths:
        raise BadInputError(f"none of the {len(entries)} images could be inferred",
                            where=args.list)
    predictions.write_csv(result, args.output)
    predictions.write_json(result, json_path)
    summary = {"job_id": embedder.job.job_id, "snapshot": embedder.snapshot.iteration,
               "images": len(entries), "inferred": len(result.paths),
               "skipped": len(result.skipped), "csv": os.path.abspath(args.output),
               "json": os.path.abspath(json_path)}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['inferred']} of {summary['images']} images inferred"
              + (f", {summary['skipped']} skipped" if summary["skipped"] else "")
              + f" with job {summary['job_id']} (snapshot {summary['snapshot']})")
        print(f"predictions: {args.output}, {json_path}")
    return 0
