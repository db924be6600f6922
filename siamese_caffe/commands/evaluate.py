"""siamese-caffe evaluate --job JOB"""

import json
import os
import sys

HELP = ("measure a trained job: validation-pair accuracy (at the threshold and the best one), "
        "ROC AUC, equal error rate, k-NN class accuracy of the embedding; report.json + "
        "report.md with plots")


def add_arguments(parser):
    from ..evaluate.settings import DEFAULT_K
    from ..runtime import ranges
    from .infer import add_job_arguments

    add_job_arguments(parser)
    parser.add_argument("--list", metavar="FILE",
                        help="labelled image list to evaluate (`path label` per line; default: "
                             "the dataset's validation images)")
    parser.add_argument("--reference", metavar="FILE",
                        help="labelled image list of k-NN reference digits (default: the "
                             "dataset's training images)")
    parser.add_argument("--image-folder", metavar="DIR",
                        help="resolve relative list paths against DIR instead of the list's "
                             "folder")
    parser.add_argument("--threshold", type=ranges.option(ranges.THRESHOLD),
                        help="pair distance threshold (default: half the loss's margin)")
    parser.add_argument("-k", type=ranges.option(ranges.NEIGHBOURS), default=DEFAULT_K, help="neighbours in the k-NN vote")
    parser.add_argument("-o", "--output", metavar="DIR",
                        help="report folder (default: JOB/evaluation_iter_N for snapshot N)")
    parser.add_argument("--force", action="store_true", help="replace an existing report folder")
    parser.add_argument("--json", action="store_true", help="print report.json's content")


def run(args):
    from ..evaluate import report
    from ..infer import embedding
    from ..train import jobs
    from ..runtime import staging
    from ..errors import BadInputError

    if args.k < 1:
        raise BadInputError(f"must be at least 1, got {args.k}", where="-k")
    from .infer import warn_if_dataset_replaced

    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    warn_if_dataset_replaced(job, "evaluate")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    output = args.output or os.path.join(job.path,
                                         f"evaluation_iter_{embedder.snapshot.iteration}")
    staging.check_output(output, report.KIND, args.force,
                         inputs=[args.list, args.reference, args.image_folder, job.path,
                                 job.dataset_folder, embedder.snapshot.caffemodel_path],
                         input_folders=[args.image_folder, job.dataset_folder])
    reference, queries = image_sets(job, args)
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    evaluation, arrays = report.evaluate(embedder, reference, queries, args.threshold, args.k,
                                         log=say)
    folder = report.write_report(output, evaluation, arrays, loss_png=job.file("loss_plot"),
                                 force=args.force)
    report.record_calibration(job, embedder, evaluation, arrays, folder)
    if args.json:
        print(json.dumps(evaluation, indent=2))
    else:
        print_summary(evaluation, folder)
    return 0


def image_sets(job, args):
    """(reference ImageSet, evaluated ImageSet): the lists given, else the dataset's sets."""
    from ..data import datasets, image_sources
    from ..evaluate import sets
    from ..errors import BadInputError

    progress = sys.stderr.isatty()
    given = {name: image_sources.from_list_file(path, args.image_folder, progress)
             for name, path in (("reference", args.reference), ("list", args.list)) if path}
    want = tuple(job.image_shape[1:])
    for name, image_set in given.items():
        if tuple(image_set.shape) != want:
            raise BadInputError(f"images are {image_set.shape[1]}x{image_set.shape[0]} pixels "
                                f"but the job's network reads {want[1]}x{want[0]}",
                                where=getattr(args, name))
    if len(given) < 2:
        folder = job.dataset_folder
        manifest = datasets.load_dataset(folder, walk=()).manifest
        reference, queries = sets.dataset_image_sets(
            manifest, os.path.join(folder, "dataset.json"))
        given.setdefault("reference", reference)
        given.setdefault("list", queries)
    return given["reference"], given["list"]


def print_summary(report, folder):
    """The report's headline numbers and where it is."""
    pairs, images = report["pairs"], report["images"]
    print(f"job {report['job_id']}, snapshot {report['snapshot']}:")
    print(f"  validation pairs ({pairs['count']}): accuracy {100 * pairs['accuracy']:.2f} % at "
          f"threshold {pairs['threshold']:.3g}, {100 * pairs['best_accuracy']:.2f} % at the best "
          f"threshold {pairs['best_threshold']:.3g}; ROC AUC {_num(pairs['roc_auc'])}; "
          f"EER {100 * pairs['equal_error_rate']:.2f} %")
    print(f"  digits ({images['query_images']}): {images['k']}-NN accuracy "
          f"{100 * images['knn_accuracy']:.2f} % against {images['reference_images']} "
          "training digits")
    print(f"report: {os.path.join(folder, 'report.md')}")


def _num(value):
    return "n/a" if value is None else f"{value:.4f}"
