"""siamese-caffe plot-clusters PREDICTIONS"""

HELP = ("draw infer-many's embedding as a scatter plot coloured by class (DIGITS' "
        "feature clusters); features of more than 2 dimensions are projected with PCA")


def add_arguments(parser):
    parser.add_argument("predictions", help="infer-many's predictions CSV (with labels) or "
                                            "its DIGITS-shaped JSON (no labels)")
    parser.add_argument("-o", "--output", default="clusters.png", help="the PNG to write")
    parser.add_argument("--features", choices=("left", "right"), default="left",
                        help="which branch's features to draw (the same for grayscale digits)")
    parser.add_argument("--title", default="feature clusters", help="the figure's title")


def run(args):
    from ..infer import clusters, predictions
    from ..runtime import staging

    staging.check_output_file(args.output, [args.predictions])
    result = predictions.read_predictions(args.predictions)
    if not result.paths:
        from ..errors import BadInputError
        raise BadInputError("holds no predictions", where=args.predictions)
    points = result.left if args.features == "left" else result.right
    note = clusters.plot_clusters(points, result.labels, args.output, title=args.title)
    classes = sorted({int(c) for c in result.labels if c != predictions.UNLABELLED})
    print(f"{args.output}: {len(result.paths)} points"
          + (f", classes {', '.join(map(str, classes))}" if classes else ", no labels")
          + (f" ({note})" if note else ""))
    return 0
