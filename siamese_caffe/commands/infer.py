"""siamese-caffe infer --job JOB IMAGE [IMAGE ...]"""

import json

HELP = ("run a trained job on pair images (blue = first digit, green = second) or grayscale "
        "digits: both 2-D points, their distance and a same/different verdict")


def add_arguments(parser):
    from ..runtime import ranges

    parser.add_argument("images", nargs="+", metavar="IMAGE",
                        help="RGB pair picture (as create-db's test PNGs) or grayscale digit, "
                             "of the job's image size")
    add_job_arguments(parser)
    parser.add_argument("--threshold", type=ranges.option(ranges.THRESHOLD),
                        help="distance below which the two digits are called the same class "
                             "(default: half the loss's margin)")
    parser.add_argument("--visualize", metavar="DIR",
                        help="write DIGITS' visualizations for the (single) image into DIR: "
                             "each blob's channels, the first convolution's filters, per-layer "
                             "statistics (stats.json, stats.png)")
    parser.add_argument("--force", action="store_true", help="replace an existing --visualize DIR")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def add_job_arguments(parser, required=True):
    """--job, --jobs-dir, --snapshot and --gpu (shared with infer-many and evaluate)."""
    from ..runtime import ranges

    parser.add_argument("--job", required=required, help="job folder or job id")
    parser.add_argument("--jobs-dir", default="jobs", help="folder of the job folders (for ids)")
    parser.add_argument("--snapshot", type=ranges.option(ranges.SNAPSHOT), metavar="ITERATION",
                        help="use the snapshot after this many iterations (default: the last)")
    parser.add_argument("--gpu", default="cpu", help="cpu, auto or a GPU number")


def run(args):
    from ..infer import embedding, visualize
    from ..train import jobs
    from ..runtime import atomic_files, staging
    from ..errors import BadInputError

    if args.visualize and len(args.images) != 1:
        raise BadInputError("--visualize takes one image at a time", where="--visualize")
    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    inputs = [*args.images, job.path, job.dataset_folder]
    if args.visualize:
        staging.check_output(args.visualize, visualize.KIND, args.force, inputs,
                             [job.dataset_folder])
    warn_if_dataset_replaced(job, "infer")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    results = [embedder.infer_file(path, args.threshold) for path in args.images]
    if args.visualize:
        with staging.staged_folder(args.visualize, args.force, visualize.KIND, inputs) as work:
            visualize.write_visualizations(embedder.net, work)
            atomic_files.write_json(f"{work}/inference.json", _document(embedder, results))
    if args.json:
        print(json.dumps(_document(embedder, results), indent=2))
    else:
        for result in results:
            _print_result(embedder, result)
        if args.visualize:
            print(f"visualizations: {args.visualize}")
    return 0


def warn_if_dataset_replaced(job, command):
    """Tell the user (stderr) when the job's dataset folder now holds another dataset:
    inference subtracts its mean, evaluate measures its validation pairs."""
    import sys

    change = job.dataset_change()
    if change:
        print(f"siamese-caffe {command}: warning: {job.dataset_folder}: {change}",
              file=sys.stderr)


def _document(embedder, results):
    """The JSON answer: job, snapshot, feature blob names and one entry per image."""
    return {"job_id": embedder.job.job_id, "snapshot": embedder.snapshot.iteration,
            "margin": embedder.margin, "feature_blobs": list(embedder.feature_blobs),
            "results": [r.as_dict() for r in results]}


def _print_result(embedder, result):
    left_name, right_name = embedder.feature_blobs
    kind = "grayscale digit, replicated" if result.grayscale else "pair"
    verdict = "same class" if result.same else "different classes"
    print(f"{result.path} ({kind})")
    print(f"  left  ({left_name}): {_point(result.left)}")
    print(f"  right ({right_name}): {_point(result.right)}")
    print(f"  distance {result.distance:.4f} {'<' if result.same else '>='} threshold "
          f"{result.threshold:.4f} (margin {embedder.margin:g}): {verdict}")


def _point(values):
    return "[" + ", ".join(f"{v:.4f}" for v in values) + "]"

