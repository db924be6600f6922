"""Shared fixtures: the real pycaffe, nets built from prototxt text, the command line, and
the suite's one small dataset and trained job."""

import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

import project_paths
from siamese_caffe.runtime import caffe_env


@dataclass
class Ran:
    """What a run of `siamese-caffe ARGS` gave: its exit status and output (str)."""

    returncode: int
    stdout: str
    stderr: str

    def error_line(self, command, status=2):
        """The single stderr line of a refused run (asserted: exit `status`, one line
        starting `siamese-caffe COMMAND: error: `, or `SCRIPT.py: error: ` for a script)."""
        label = command if command.endswith(".py") else f"siamese-caffe {command}"
        lines = self.stderr.strip().splitlines()
        assert self.returncode == status and len(lines) == 1, (self.returncode, self.stderr)
        assert lines[0].startswith(f"{label}: error: "), lines[0]
        return lines[0]


@pytest.fixture
def cli(capfd):
    """Run `siamese-caffe ARGS` in this process (cli.main), capturing its output — and its
    children's: `train` trains in a child process — : a Ran."""
    from siamese_caffe import cli as command_line

    def run(*args):
        capfd.readouterr()
        code = command_line.main([str(a) for a in args])
        out, err = capfd.readouterr()
        return Ran(code, out, err)
    return run


@pytest.fixture
def cli_process():
    """Run `python -m siamese_caffe.cli ARGS` (or scripts/SCRIPT ARGS) as its own process:
    a Caffe abort or a signal shows as its exit status instead of ending the test run. A Ran.
    Keywords: script, cwd (default: the checkout), env, python_flags, timeout."""
    def run(*args, script=None, cwd=None, env=None, python_flags=(), timeout=300):
        program = ([os.path.join(project_paths.ROOT, "scripts", script)] if script
                   else ["-m", "siamese_caffe.cli"])
        done = subprocess.run([sys.executable, *python_flags, *program, *map(str, args)],
                              cwd=cwd or project_paths.ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
        return Ran(done.returncode, done.stdout, done.stderr)
    return run


@pytest.fixture(scope="session")
def caffe():
    """The project's real pycaffe, in CPU mode."""
    module = caffe_env.import_caffe()
    module.set_mode_cpu()
    return module


@pytest.fixture
def net_from_text(caffe, tmp_path):
    """Build a caffe.Net (TEST phase unless told) from prototxt text."""
    def build(text, phase=None):
        path = tmp_path / "net.prototxt"
        path.write_text(text)
        return caffe.Net(str(path), caffe.TEST if phase is None else phase)
    return build


@pytest.fixture(scope="session")
def small_pair_db(tmp_path_factory):
    """A create-db folder from the built-in digits: 320 training and 96 validation pairs,
    half of them same-class (so a few dozen iterations visibly learn), seed 0."""
    from siamese_caffe.data import create_db, image_sources

    folder = tmp_path_factory.mktemp("pairs") / "siamesedb"
    create_db.create_db(str(folder), image_sources.builtin_mnist(), count=320, val_count=96,
                        positive_fraction=0.5, seed=0)
    return str(folder)


@pytest.fixture(scope="session")
def network_text():
    """The shipped siamese network's prototxt text."""
    with open(os.path.join(project_paths.ROOT, "prototxt", "mnist_siamese_train_test.prototxt")) as f:
        return f.read()


@pytest.fixture(scope="session")
def tiny_job(small_pair_db, tmp_path_factory):
    """A job trained 40 iterations (4 epochs of 32 pairs) on small_pair_db, CPU, seed 1:
    enough to separate some classes; for the training, inference, evaluation and plot
    tests. Snapshots after 20 and 40 iterations."""
    from siamese_caffe.train import jobs, jobsetup, training
    from siamese_caffe.train.settings import TrainSettings

    settings = TrainSettings(epochs=4, batch_size=32, seed=1, gpu="cpu", lr_policy="fixed",
                             snapshot_interval=2)
    job = jobsetup.create_job(small_pair_db, settings=settings,
                              jobs_dir=str(tmp_path_factory.mktemp("tiny-jobs")))
    with open(os.devnull, "w") as sink:
        assert training.train_job(job, progress=False, out=sink) == training.DONE
    return jobs.Job.load(job.path)


@pytest.fixture(scope="session")
def digit_pngs(tmp_path_factory):
    """Twenty built-in digits (two per class, from the end of the set) as grayscale PNGs,
    with a `path label` list: (folder, list path, [(relative path, label)])."""
    import numpy as np
    from PIL import Image

    from siamese_caffe.data import image_sources

    digits = image_sources.builtin_mnist()
    folder = tmp_path_factory.mktemp("digits")
    entries = []
    for label in range(10):
        for k in np.flatnonzero(digits.labels == label)[-2:]:
            name = f"{label}/{k:04d}.png"
            (folder / str(label)).mkdir(exist_ok=True)
            Image.fromarray(digits.images[k], "L").save(folder / name)
            entries.append((name, label))
    list_path = folder / "list.txt"
    list_path.write_text("".join(f"{name} {label}\n" for name, label in entries))
    return str(folder), str(list_path), entries
