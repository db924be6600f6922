"""siamese-caffe verify --job JOB A B"""

import json

HELP = ("are two images of the same class? Both embedded by the shared branch; their "
        "distance against the job's calibrated threshold (the EER threshold evaluate found), "
        "and where it falls among the validation pairs")


def add_arguments(parser):
    from .infer import add_job_arguments

    parser.add_argument("first", metavar="A", help="first image (grayscale, or colour: "
                                                   "converted to gray), of the job's size")
    parser.add_argument("second", metavar="B", help="second image")
    add_job_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args):
    from ..infer import embedding
    from ..train import jobs
    from ..use import verify
    from .infer import warn_if_dataset_replaced

    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    warn_if_dataset_replaced(job, "verify")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    result = verify.verify(embedder, args.first, args.second)
    if args.json:
        print(json.dumps({"job_id": job.job_id, "snapshot": embedder.snapshot.iteration,
                          **result.as_dict()}, indent=2))
    else:
        print_verification(result)
    return 0


def print_verification(result):
    """The verdict, the threshold and its source, and the placement among validation pairs."""
    sign = "<" if result.same else ">="
    verdict = "same class" if result.same else "different classes"
    print(f"{result.first} vs {result.second}: distance {result.distance:.4f} {sign} "
          f"threshold {result.threshold.value:.4f}: {verdict}")
    print(f"  threshold: {result.threshold.describe()}")
    place = result.placement
    if place is None:
        print("  validation pairs: not measured for this snapshot")
        return
    parts = [f"{100 * place[key]:.1f} % of {kind} pairs are closer"
             for key, kind in (("same_class_closer", "same-class"),
                               ("different_class_closer", "different-class"))
             if place[key] is not None]
    print(f"  validation pairs: {'; '.join(parts)} "
          f"({'borderline' if place['borderline'] else 'confident'})")
