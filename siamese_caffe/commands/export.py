"""siamese-caffe export --job JOB --onnx model.onnx [--pair]"""

import json

HELP = ("hand a trained job to other tools: its shared branch as an ONNX model (raw "
        "grayscale pixels in, the feature vector out; --pair: two inputs and their distance)")


def add_arguments(parser):
    from .infer import add_job_arguments

    add_job_arguments(parser)
    # what to write: one of these (the group is where another kind of export joins)
    what = parser.add_argument_group("what to write (one of)")
    what.add_argument("--onnx", metavar="FILE",
                      help="an ONNX model of the shared branch: input N x 1 x H x W raw "
                           "0-255 grayscale pixels (mean subtraction and the Power scale "
                           "inside), output the N x D features")
    parser.add_argument("--pair", action="store_true",
                        help="with --onnx: the two-input model (pixels_a, pixels_b) giving "
                             "both features and their L2 distance")
    parser.add_argument("--force", action="store_true",
                        help="replace an existing file this command wrote")
    parser.add_argument("--json", action="store_true", help="print what was written as JSON")


def run(args):
    from ..errors import BadInputError

    if not args.onnx:
        raise BadInputError("say what to write: --onnx FILE")
    if args.pair and not args.onnx:
        raise BadInputError("goes with --onnx", where="--pair")
    return _onnx(args)


def _onnx(args):
    import os

    from ..infer import embedding
    from ..train import jobs
    from ..use import onnx_check, onnx_export

    onnx_export.check_output(args.onnx, args.force)
    job = jobs.Job.load(args.job, jobs_dir=args.jobs_dir)
    embedder = embedding.Embedder(job, args.snapshot, gpu=args.gpu)
    model = onnx_export.export_job(embedder, args.onnx, pair=args.pair, force=args.force)
    digits = onnx_check.check_digits(job.image_shape)
    worst = onnx_check.max_difference(args.onnx, embedder, digits)
    answer = {"onnx": os.path.abspath(args.onnx), "job_id": job.job_id,
              "snapshot": embedder.snapshot.iteration, "pair": args.pair,
              "opset": model.opset_import[0].version,
              "inputs": [i.name for i in model.graph.input],
              "outputs": [o.name for o in model.graph.output],
              "nodes": len(model.graph.node), "checker": "passed",
              "onnxruntime_max_abs_difference": worst,
              "checked_images": len(digits)}
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    print(f"{answer['onnx']}: job {job.job_id} snapshot {answer['snapshot']}, opset "
          f"{answer['opset']}, {answer['nodes']} nodes; inputs {', '.join(answer['inputs'])} "
          f"-> outputs {', '.join(answer['outputs'])}")
    print(f"  onnx.checker passed; onnxruntime vs pycaffe on {len(digits)} images: max abs "
          f"difference {worst:.2e}")
    return 0
