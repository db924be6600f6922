"""siamese-caffe prepare-mnist FOLDER [--idx-folder DIR | --download]"""

import os
import sys

HELP = ("write MNIST digits in DIGITS' layout (PNG folders plus train.txt / val.txt / "
        "labels.txt) from the built-in digits, idx files or a checked download")


def add_arguments(parser):
    from ..runtime import ranges

    parser.add_argument("folder", help="output folder (must not exist unless --force)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--builtin", action="store_true",
                        help="use the built-in 5000 MNIST digits (also what happens without "
                             "--idx-folder and --download)")
    source.add_argument("--idx-folder", metavar="DIR",
                        help="folder of MNIST idx files (.gz or raw): train-* become train.txt, "
                             "t10k-* (when present) val.txt")
    source.add_argument("--download", action="store_true",
                        help="fetch the four MNIST idx files from the usual mirrors (MD5-checked) "
                             "into FOLDER-idx/ and use them")
    parser.add_argument("--val-fraction", type=ranges.option(ranges.FRACTION), default=0.1,
                        help="share of each class held out for val.txt when the source has no "
                             "separate validation images")
    parser.add_argument("--seed", type=ranges.option(ranges.SEED), default=0, help="seed of the held-out split")
    parser.add_argument("--force", action="store_true", help="replace an existing output folder")


def run(args):
    from ..data import image_sources, prepare_mnist
    from ..runtime import staging

    idx_folder = args.idx_folder
    if args.download:
        idx_folder = os.path.abspath(args.folder).rstrip(os.sep) + "-idx"
    staging.check_output(args.folder, prepare_mnist.KIND, args.force, [idx_folder],
                         [idx_folder])
    if args.download:
        from ..data import mnist_download

        mnist_download.download_mnist(idx_folder, log=lambda line: print(line, file=sys.stderr))
    val_set = None
    if idx_folder:
        train_set = image_sources.from_idx_folder(idx_folder, "train")
        if image_sources.has_idx_part(idx_folder, "t10k"):
            val_set = image_sources.from_idx_folder(idx_folder, "t10k")
    else:
        train_set = image_sources.builtin_mnist()
    summary = prepare_mnist.prepare_mnist(args.folder, train_set, val_set,
                                          val_fraction=args.val_fraction, seed=args.seed,
                                          force=args.force, progress=sys.stderr.isatty())
    folder = os.path.abspath(args.folder)
    for part in ("train", "val"):
        print(f"{os.path.join(folder, summary[part]['list'])}: {summary[part]['images']} images "
              f"({summary[part]['source']})")
    return 0
