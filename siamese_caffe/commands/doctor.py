"""siamese-caffe doctor"""

import json

HELP = "report which Caffe is loaded, its build (CPU_ONLY/CUDA), BLAS, GPUs and library versions"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")


def run(args):
    from ..runtime import caffe_info

    facts = caffe_info.collect()
    print(json.dumps(facts, indent=2) if args.json else caffe_info.format_report(facts))
    return 0 if facts["contrastive_loss"] else 1
