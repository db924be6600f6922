"""siamese-caffe gallery build|search|extend"""

import json
import sys

HELP = ("embedded reference sets searched by nearest neighbours (FAISS): build one from an "
        "image list, search it with images, extend it without a rebuild")


def add_arguments(parser):
    from ..evaluate.settings import DEFAULT_K
    from .infer import add_job_arguments

    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = actions.add_parser(
        "build", help="embed an image list (`path [label]` per line) into a gallery folder",
        formatter_class=parser.formatter_class,
        description="Embed every image of LIST with a job's snapshot into the folder GALLERY: "
                    "embeddings, labels, paths, the job and snapshot identity (SHA-256) and "
                    "a FAISS index.")
    add_job_arguments(build)
    build.add_argument("list", metavar="LIST", help="image list, `path [label]` per line")
    build.add_argument("-o", "--output", metavar="GALLERY", required=True,
                       help="gallery folder to write (must not exist unless --force)")
    build.add_argument("--index", choices=("exact", "hnsw", "ivf"), default="exact",
                       help="exact: every reference compared (default); hnsw or ivf: "
                            "approximate, faster for large galleries")
    build.add_argument("--image-folder", metavar="DIR",
                       help="resolve relative list paths against DIR instead of the list's "
                            "folder")
    build.add_argument("--force", action="store_true",
                       help="replace an existing gallery (only a gallery)")
    build.add_argument("--json", action="store_true", help="print gallery.json's content")

    search = actions.add_parser(
        "search", help="the k nearest references of each image",
        formatter_class=parser.formatter_class,
        description="The k nearest references of each image with distances and labels, "
                    "their majority label, and whether the nearest passes the job's verify "
                    "threshold. The gallery is searched with the snapshot that built it.")
    search.add_argument("gallery", metavar="GALLERY", help="gallery folder")
    search.add_argument("images", nargs="*", metavar="IMAGE",
                        help="images to look up (grayscale, or colour: converted to gray)")
    search.add_argument("--list", metavar="FILE",
                        help="also look up every image of this list (`path [label]`); "
                             "labelled lines give the k-NN accuracy, and the text output "
                             "is then the summary only")
    search.add_argument("--image-folder", metavar="DIR",
                        help="resolve relative --list paths against DIR")
    search.add_argument("-k", type=int, default=DEFAULT_K,
                        help="neighbours per image (evaluate's k-NN uses the same default)")
    search.add_argument("--job", help="job searching it (default: the job that built it; "
                                      "refused unless its snapshot built the gallery)")
    search.add_argument("--jobs-dir", default="jobs", help="folder of the job folders (for ids)")
    search.add_argument("--snapshot", type=int, metavar="ITERATION",
                        help="snapshot searching it (default: the one that built it)")
    search.add_argument("--gpu", default="cpu", help="cpu, auto or a GPU number")
    search.add_argument("--json", action="store_true", help="print the results as JSON")

    extend = actions.add_parser(
        "extend", help="add the images of a list to a gallery (no rebuild)",
        formatter_class=parser.formatter_class,
        description="Embed the images of LIST with the snapshot that built GALLERY and add "
                    "them to its index as it is.")
    extend.add_argument("gallery", metavar="GALLERY", help="gallery folder")
    extend.add_argument("list", metavar="LIST", help="image list, `path [label]` per line")
    extend.add_argument("--image-folder", metavar="DIR",
                        help="resolve relative list paths against DIR")
    extend.add_argument("--gpu", default="cpu", help="cpu, auto or a GPU number")


def run(args):
    return {"build": _build, "search": _search, "extend": _extend}[args.action](args)


def _build(args):
    from ..infer import embedding
    from ..train import jobs
    from ..use import gallery
    from ..runtime import staging
    from .infer import warn_if_dataset_replaced

    staging.check_free(args.output, args.force, kind=gallery.KIND)
    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    warn_if_dataset_replaced(job, "gallery build")
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    references = gallery.read_references(args.list, job.image_shape, args.image_folder,
                                         progress=sys.stderr.isatty())
    _notes(references)
    built = gallery.build(embedder, references, args.output, kind=args.index,
                          force=args.force)
    if args.json:
        print(json.dumps(built.info, indent=2))
    else:
        ident = built.identity
        print(f"{built.folder}: {len(built)} references, {built.kind} index, job "
              f"{ident['job_id']} snapshot {ident['snapshot']} (caffemodel sha256 "
              f"{ident['caffemodel_sha256'][:12]})")
    return 0


def _search(args):
    import numpy as np

    from ..errors import BadInputError
    from ..use import digits, gallery, verify

    if args.k < 1:
        raise BadInputError(f"must be at least 1, got {args.k}", where="-k")
    if not args.images and not args.list:
        raise BadInputError("give images to look up, or --list")
    found = gallery.load(args.gallery)
    embedder = _embedder(found, args)
    gallery.check_embedder(found, embedder)
    names = list(args.images)
    images = [digits.read_digits(args.images, embedder.image_shape)] if names else []
    truth = [None] * len(names)
    if args.list:
        queries = gallery.read_references(args.list, embedder.image_shape, args.image_folder,
                                          progress=sys.stderr.isatty())
        _notes(queries)
        names += queries.paths
        images.append(queries.images)
        truth += [None if label < 0 else int(label) for label in queries.labels]
    # each group embedded on its own: a list's digits then go through the net exactly as
    # evaluate sends them (the same pairs per forward pass), so the k-NN figures agree
    features = np.concatenate([embedder.embed_digits(group) for group in images])
    threshold = verify.job_threshold(embedder)
    results = [_result(name, neighbours, threshold, label)
               for name, neighbours, label in zip(names, found.search(features, args.k), truth)]
    summary = _accuracy(results, min(args.k, len(found)))
    if args.json:
        print(json.dumps({"gallery": found.folder, "job_id": found.identity["job_id"],
                          "snapshot": embedder.snapshot.iteration, "k": min(args.k, len(found)),
                          "threshold": threshold.as_dict(), "results": results,
                          "accuracy": summary}, indent=2))
        return 0
    for result in results[:len(args.images)]:
        _print_result(result, threshold)
    if args.list:
        print(f"{args.list}: {len(results) - len(args.images)} images looked up in "
              f"{len(found)} references")
    if summary:
        print(f"{summary['k']}-NN accuracy {100 * summary['accuracy']:.2f} % "
              f"({summary['correct']} of {summary['labelled']} labelled images)")
    return 0


def _extend(args):
    from ..infer import embedding
    from ..use import gallery

    found = gallery.load(args.gallery)
    job = found.job()
    embedder = embedding.Embedder(job, found.identity["snapshot"], gpu=args.gpu)
    references = gallery.read_references(args.list, job.image_shape, args.image_folder,
                                         progress=sys.stderr.isatty())
    _notes(references)
    before = len(found)
    grown = gallery.extend(found, embedder, references)
    print(f"{grown.folder}: {before} + {len(grown) - before} = {len(grown)} references "
          f"({grown.kind} index)")
    return 0


def _embedder(found, args):
    """The Embedder searching: --job/--snapshot, else the gallery's own job and snapshot."""
    from ..infer import embedding
    from ..train import jobs

    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir) if args.job else found.job()
    iteration = args.snapshot
    if iteration is None and not args.job:
        iteration = found.identity["snapshot"]
    return embedding.Embedder(job, iteration, gpu=args.gpu)


def _result(name, neighbours, threshold, label):
    """One image's JSON-ready answer."""
    from ..use import gallery

    winner, votes = gallery.majority(neighbours)
    nearest = neighbours[0] if neighbours else None
    result = {"image": name, "neighbours": [n.as_dict() for n in neighbours],
              "majority_label": winner, "majority_votes": votes,
              "nearest_passes_threshold": bool(nearest and nearest.distance < threshold.value)}
    if label is not None:
        result["label"] = label
    return result


def _accuracy(results, k):
    """{k, labelled, correct, accuracy} over the images with a known label, or None."""
    labelled = [r for r in results if "label" in r]
    if not labelled:
        return None
    correct = sum(r["majority_label"] == r["label"] for r in labelled)
    return {"k": k, "labelled": len(labelled), "correct": correct,
            "accuracy": correct / len(labelled)}


def _print_result(result, threshold):
    neighbours = result["neighbours"]
    nearest = neighbours[0]
    verdict = "passes" if result["nearest_passes_threshold"] else "does not pass"
    print(f"{result['image']}: majority label {result['majority_label']} "
          f"({result['majority_votes']} of {len(neighbours)}); the nearest ({nearest['distance']:.4f}) "
          f"{verdict} the threshold {threshold.value:.4f} ({threshold.source})")
    for n in neighbours:
        label = "-" if n["label"] is None else n["label"]
        print(f"  {n['rank']}. {n['distance']:.4f}  label {label}  {n['path']}")


def _notes(references):
    for note in references.notes:
        print(f"note: {note}", file=sys.stderr)
