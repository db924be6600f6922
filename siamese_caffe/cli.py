"""The `siamese-caffe` console command: one subcommand per workflow step.

Subcommands live in siamese_caffe/commands/<name>.py. Building the parser imports
each command module, but those import nothing heavy (Caffe, NumPy, LMDB, Flask, OpenCV)
until their run() is called, so `--help` stays instant and works without them. Errors a user can cause print one line,
`siamese-caffe <command>: error: ...`, and exit non-zero.
"""

import argparse
import importlib
import os
import sys

from . import __version__
from . import errors

# subcommand name -> module under siamese_caffe.commands, in workflow order
COMMANDS = {
    "doctor": "doctor",
    "prepare-mnist": "prepare_mnist",
    "create-db": "create_db",
    "train": "train",
    "draw-net": "draw_net",
    "infer": "infer",
    "infer-many": "infer_many",
    "plot-clusters": "plot_clusters",
    "evaluate": "evaluate",
    "verify": "verify",
    "gallery": "gallery",
    "export": "export",
    "infer-db": "infer_db",
    "demo": "demo",
    "serve": "serve",
}


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help unless the help already says its default
    or there is none to say (default None)."""

    def _get_help_string(self, action):
        if action.default is None or "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose errors are one line (`PROG: error: ...`, exit 2) rather
    than the usage block and the line: the help is one `--help` away."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    """The argparse parser with every subcommand registered."""
    parser = _Parser(
        prog="siamese-caffe",
        description="DIGITS' Siamese MNIST workflow on real Caffe, one step per subcommand.")
    parser.add_argument("--version", action="version", version=f"siamese-caffe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parser.commands = {}
    for name in COMMANDS:
        module = _command_module(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP,
                           formatter_class=_DefaultsHelp)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
        parser.commands[name] = p
    return parser


def script_parser(command, prog):
    """The parser of one subcommand on its own, named `prog` (a script in scripts/)."""
    module = _command_module(command)
    parser = _Parser(prog=prog, description=module.HELP,
                                     formatter_class=_DefaultsHelp)
    module.add_arguments(parser)
    parser.set_defaults(_run=module.run, command=command)
    return parser


def main(argv=None):
    """Entry point; returns the process exit status."""
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:     # named by the subcommand, as its other errors are
            parser.commands[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as done:       # --help, --version, or the one-line error
        return done.code
    return _run(args, f"siamese-caffe {args.command}")


def run_script(command, script_path, argv=None):
    """Entry point of scripts/<step>.py: `command`'s options, errors under the script's name."""
    prog = os.path.basename(script_path)
    try:
        args = script_parser(command, prog).parse_args(argv)
    except SystemExit as done:
        return done.code
    return _run(args, prog)


def _command_module(name):
    """siamese_caffe.commands.<module> of subcommand `name` (light: heavy imports sit in run)."""
    return importlib.import_module(f".commands.{COMMANDS[name]}", __package__)


def _run(args, label):
    """Run the chosen command; errors a user can cause become one line under `label`."""
    args._label = label          # for a child that reports in the command's name
    return errors.run_reported(label, lambda: args._run(args))


if __name__ == "__main__":
    sys.exit(main())
