"""siamese-caffe demo"""

HELP = ("the main job: prepare the built-in MNIST digits, create-db, train on the CPU for a few "
        "minutes, infer, infer-many, plot-clusters, evaluate — and print where the report is")


def add_arguments(parser):
    from ..demo_settings import DEFAULT_WORKDIR, DemoSettings
    from ..runtime import ranges

    d = DemoSettings()
    parser.add_argument("--workdir", default=DEFAULT_WORKDIR,
                        help="folder for everything the demo makes (a previous demo's folder "
                             "is replaced; any other existing folder is refused)")
    parser.add_argument("--full", action="store_true",
                        help="DIGITS' recipe instead: 100,000 uniform pairs, 30 epochs, its "
                             "step solver, full MNIST (downloaded unless --idx-folder); for a GPU")
    parser.add_argument("--idx-folder", metavar="DIR",
                        help="use these MNIST idx files (train-*, t10k-* for validation) "
                             "instead of the built-in 5000 digits")
    parser.add_argument("--pairs", type=ranges.option(ranges.PAIRS), help=f"training pairs (quick default {d.pairs})")
    parser.add_argument("--positive-fraction", type=ranges.option(ranges.FRACTION),
                        help=f"share of same-class pairs (quick default {d.positive_fraction})")
    parser.add_argument("--epochs", type=ranges.option(ranges.EPOCHS), help=f"training epochs (quick default {d.epochs:g})")
    parser.add_argument("--base-lr", type=ranges.option(ranges.LEARNING_RATE), help=f"learning rate (default {d.base_lr:g})")
    parser.add_argument("--seed", type=ranges.option(ranges.SEED), help=f"seed of the pairs and of training (default {d.seed})")
    parser.add_argument("--split-seed", type=ranges.option(ranges.SEED),
                        help=f"seed of the held-out split (default {d.split_seed})")
    parser.add_argument("--gpu", help="auto, cpu or a GPU number (default auto)")


def run(args):
    from .. import demo, demo_settings

    source = "idx" if args.idx_folder else None
    settings = demo_settings.settings_for(full=args.full, pairs=args.pairs,
                                 positive_fraction=args.positive_fraction, epochs=args.epochs,
                                 base_lr=args.base_lr, seed=args.seed, split_seed=args.split_seed,
                                 gpu=args.gpu,
                                 source=source, idx_folder=args.idx_folder)
    demo.run_demo(settings, args.workdir)
    return 0
