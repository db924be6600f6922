"""siamese-caffe draw-net"""

import os

HELP = ("draw a network's topology as a PNG (DIGITS' 'Visualize'): a prototxt file, or a job "
        "folder (its train_val.prototxt)")


def add_arguments(parser):
    from ..net.drawnet import PHASES, RANKDIRS

    parser.add_argument("network", help="a network prototxt, or a job folder or id")
    parser.add_argument("-o", "--output",
                        help="the picture to write (default: <network name>.png here, or the "
                             "job's network.png)")
    parser.add_argument("--phase", choices=PHASES, default="train",
                        help="layers of this phase only, or all")
    parser.add_argument("--rankdir", choices=RANKDIRS, default="LR",
                        help="graph direction (LR: left to right, TB: top to bottom)")
    parser.add_argument("--jobs-dir", default="jobs", help="where job ids are looked up")


def run(args):
    from ..net import drawnet
    from ..train import jobs
    from ..runtime import prototxt, staging

    path, default_output = args.network, None
    if os.path.isdir(path) or (not os.path.exists(path) and
                               os.path.isdir(os.path.join(args.jobs_dir, path))):
        job = jobs.Job.load(path, jobs_dir=args.jobs_dir)
        path, default_output = job.train_val_path, job.file("network_plot")
    output = args.output or default_output or \
        os.path.splitext(os.path.basename(path))[0] + ".png"
    staging.check_output_file(output, [path, args.jobs_dir if default_output is None else None])
    drawnet.draw_net(prototxt.read_net(path), output, phase=args.phase, rankdir=args.rankdir)
    print(output)
    return 0
