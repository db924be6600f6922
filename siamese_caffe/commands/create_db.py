"""siamese-caffe create-db FOLDER [FILE_LIST] -c COUNT"""

import json
import sys
import time

HELP = ("build the siamese pair dataset (train/val image and label LMDBs, mean files, test "
        "PNGs, dataset.json) from a DIGITS image list, MNIST idx files or the built-in digits")


def add_arguments(parser):
    from ..runtime import ranges

    parser.add_argument("folder", help="output folder (must not exist unless --force)")
    parser.add_argument("file_list", nargs="?",
                        help="DIGITS image list (`path label` per line), e.g. a DIGITS "
                             "job's train.txt; without it (and without --idx-folder) the "
                             "built-in 5000 MNIST digits are used")
    parser.add_argument("-c", "--count", "--image_count", dest="count", type=ranges.option(ranges.PAIRS), default=1000,
                        help="training pairs to create (DIGITS' -c)")
    parser.add_argument("--val-count", type=ranges.option(ranges.PAIRS), default=1000, help="validation pairs to create")
    source = parser.add_argument_group("image source (one of FILE_LIST, --idx-folder, --builtin)")
    source.add_argument("--idx-folder", metavar="DIR",
                        help="folder of MNIST idx files (.gz or raw); validation pairs come "
                             "from its t10k files when present")
    source.add_argument("--builtin", action="store_true",
                        help="use the built-in 5000 MNIST digits (also what happens without "
                             "FILE_LIST and --idx-folder)")
    source.add_argument("--image-folder", metavar="DIR",
                        help="resolve relative list paths against DIR instead of the list's folder")
    val = parser.add_argument_group("validation images (apart from the training images)")
    val.add_argument("--val-list", metavar="FILE",
                     help="DIGITS list of validation images (e.g. val.txt)")
    val.add_argument("--val-fraction", type=ranges.option(ranges.FRACTION), default=0.1,
                     help="share of each class held out for validation when no separate "
                          "validation images are given")
    pairing = parser.add_argument_group("pairing")
    pairing.add_argument("--positive-fraction", type=ranges.option(ranges.FRACTION), metavar="P",
                         help="exact share of same-class pairs (e.g. 0.5); without it, DIGITS' "
                              "uniform random pairs (about 10%% same-class for 10 classes)")
    pairing.add_argument("--seed", type=ranges.option(ranges.SEED),
                         help="random seed; the same seed and inputs give identical databases "
                              "(default: drawn at random and recorded in dataset.json)")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")
    parser.add_argument("--json", action="store_true",
                        help="print the manifest (dataset.json) to stdout instead of a summary")


def run(args):
    from ..data import create_db, image_sources
    from ..runtime import staging

    started = time.time()
    lists = [args.file_list, args.val_list]
    folders = [args.idx_folder, args.image_folder]
    staging.check_output(args.folder, create_db.KIND, args.force, lists + folders)
    create_db.check_request(args.folder, args.count, args.val_count, args.positive_fraction,
                            args.force)
    say = (lambda line: print(line, file=sys.stderr)) if args.json else print
    progress = sys.stderr.isatty()
    print(f'Creating images at "{args.folder}" ...', file=sys.stderr if args.json else sys.stdout)
    train_set, val_set = _load_sources(args, image_sources, progress)
    images = [p for s in (train_set, val_set) if s is not None for p in (s.paths or ())]
    staging.check_output(args.folder, create_db.KIND, args.force, images)
    for image_set in (train_set, val_set) if val_set is not None else (train_set,):
        say(f"Found {len(image_set)} images ({image_set.description})")
    manifest = create_db.create_db(
        args.folder, train_set, count=args.count, val_count=args.val_count, val_set=val_set,
        val_fraction=args.val_fraction, positive_fraction=args.positive_fraction,
        seed=args.seed, force=args.force, log=say, progress=progress)
    if args.json:
        print(json.dumps(manifest, indent=2))
        return 0
    for phase in ("train", "val"):
        info = manifest[phase]
        print(f"{phase}: {info['pairs']} pairs, {info['same_class_pairs']} same-class "
              f"({100 * info['positive_fraction']:.2f} %), from {info['images']} images")
    print(f"seed {manifest['seed']}; validation images: {manifest['source']['validation']}")
    print(f"Done after {time.time() - started:.2f} seconds")
    return 0


def _load_sources(args, image_sources, progress):
    """(train ImageSet, validation ImageSet or None) as the options choose."""
    from ..errors import BadInputError

    chosen = [name for name, given in (("FILE_LIST", args.file_list),
                                       ("--idx-folder", args.idx_folder),
                                       ("--builtin", args.builtin)) if given]
    if len(chosen) > 1:
        raise BadInputError(f"give one image source, not {' and '.join(chosen)}")
    val_set = None
    if args.file_list:
        train_set = image_sources.from_list_file(args.file_list, args.image_folder, progress)
    elif args.idx_folder:
        train_set = image_sources.from_idx_folder(args.idx_folder, "train")
        if not args.val_list and image_sources.has_idx_part(args.idx_folder, "t10k"):
            val_set = image_sources.from_idx_folder(args.idx_folder, "t10k")
    else:
        train_set = image_sources.builtin_mnist()
    if args.val_list:
        val_set = image_sources.from_list_file(args.val_list, args.image_folder, progress)
    return train_set, val_set
