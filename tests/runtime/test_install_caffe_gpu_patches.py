"""install_caffe.sh: patches/gpu/ (code inside #ifndef CPU_ONLY only) belongs to --gpu builds."""

import os
import shutil
import subprocess
import sys

import project_paths

ROOT = project_paths.ROOT


def prefix(script, *args):
    return subprocess.run(["bash", script, "--python", sys.executable, "--print-prefix", *args],
                          capture_output=True, text=True, timeout=120, check=True).stdout.strip()


def test_a_gpu_only_patch_changes_the_gpu_entry_and_leaves_the_cpu_entry(tmp_path):
    script = os.path.join(ROOT, "scripts", "install_caffe.sh")
    copy = tmp_path / "project"
    shutil.copytree(os.path.join(ROOT, "scripts"), copy / "scripts")
    shutil.copytree(os.path.join(ROOT, "patches"), copy / "patches")
    (copy / "patches" / "gpu" / "9999-extra.patch").write_text("one more GPU-only patch\n")
    copied = str(copy / "scripts" / "install_caffe.sh")
    assert prefix(copied) == prefix(script)
    assert prefix(copied, "--gpu") != prefix(script, "--gpu")


def test_the_driverless_cpu_mode_patch_is_a_gpu_patch():
    assert os.path.isfile(os.path.join(ROOT, "patches", "gpu",
                                       "0001-cpu-mode-without-cuda-driver.patch"))
