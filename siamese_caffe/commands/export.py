"""siamese-caffe export JOB (or --job JOB) --onnx model.onnx [--pair] | -o model.tar.gz

Two kinds of export, one of them per run: the shared branch as an ONNX model (use.onnx_export)
or DIGITS' download bundle (use.bundle, through export_bundle.run_bundle)."""

import json

HELP = ("hand a trained job to other tools: its shared branch as an ONNX model (raw "
        "grayscale pixels in, the feature vector out; --pair: two inputs and their distance), "
        "or DIGITS' model download (-o model.tar.gz|.zip)")


def add_arguments(parser):
    from .infer import add_job_arguments

    add_job_arguments(parser, required=False)
    parser.add_argument("job_positional", nargs="?", metavar="JOB",
                        help="job folder or job id (the same as --job)")
    what = parser.add_argument_group("what to write (one of)")
    what.add_argument("-o", "--output", metavar="FILE",
                      help="DIGITS' model download: deploy.prototxt, the snapshot, the mean "
                           ".binaryproto, the other prototxts, info.json and a README; the "
                           "ending names the format (model.tar.gz, .tgz, .tar, .tar.bz2, .zip)")
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

    args.job = _one_job(args.job, args.job_positional)
    if bool(args.onnx) == bool(args.output):
        raise BadInputError("say what to write: --onnx FILE or -o FILE (one of them)")
    if args.pair and not args.onnx:
        raise BadInputError("goes with --onnx", where="--pair")
    if args.output:
        from .export_bundle import run_bundle
        return run_bundle(args)
    return _onnx(args)


def _one_job(flag, positional):
    """The job named by --job or by the positional JOB (one of them, or both the same)."""
    from ..errors import BadInputError

    if flag and positional and flag != positional:
        raise BadInputError(f"names two jobs ({flag} and {positional})", where="JOB")
    if not (flag or positional):
        raise BadInputError("name the job: export JOB (or --job JOB)")
    return flag or positional


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
