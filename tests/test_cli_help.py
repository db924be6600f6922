"""`--help` of every subcommand reads cleanly, instantly, and without the heavy libraries."""

import os
import subprocess
import sys

import pytest

import project_paths
from siamese_caffe import cli


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_help_never_shows_a_default_of_none(command, capsys):
    with pytest.raises(SystemExit) as done:
        cli.build_parser().parse_args([command, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text


HEAVY = ("caffe", "numpy", "lmdb", "flask", "cv2", "matplotlib", "google")


def test_building_the_parser_imports_nothing_heavy():
    code = ("import sys; from siamese_caffe import cli; cli.build_parser(); "
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project_paths.ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("command", [None, *sorted(cli.COMMANDS)])
def test_help_works_without_lmdb_numpy_caffe_or_flask(command):
    # a None entry in sys.modules makes `import NAME` fail, as if it were not installed
    code = (f"import sys; sys.modules.update(dict.fromkeys({HEAVY!r})); "
            "from siamese_caffe import cli; "
            f"cli.main({['--help'] if command is None else [command, '--help']!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=project_paths.ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: siamese-caffe") and done.stderr == ""


@pytest.mark.parametrize("script, command", [("create_db.py", "create-db"), ("train.py", "train"),
                                             ("infer.py", "infer"),
                                             ("infer_many.py", "infer-many")])
def test_scripts_name_themselves_in_help_and_errors(script, command):
    path = os.path.join(project_paths.ROOT, "scripts", script)
    done = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(f"usage: {script} ")
    assert cli.COMMANDS[command] and "siamese-caffe" not in done.stdout.splitlines()[0]
