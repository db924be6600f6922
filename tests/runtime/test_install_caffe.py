"""scripts/install_caffe.sh as a user runs it: cache keys, the no-op rerun, bad input."""

import os
import shutil
import subprocess
import sys

import project_paths

ROOT = project_paths.ROOT
SCRIPT = os.path.join(ROOT, "scripts", "install_caffe.sh")


def run_script(*args, script=SCRIPT):
    return subprocess.run(["bash", script, "--python", sys.executable, *args],
                          capture_output=True, text=True, timeout=600)


def test_second_run_finds_the_cached_build_and_does_nothing():
    result = run_script()
    assert result.returncode == 0, result.stderr
    assert "nothing to do" in result.stderr
    prefix = result.stdout.strip()
    assert os.path.isfile(os.path.join(prefix, "BUILD_INFO.json"))
    assert os.path.isfile(os.path.join(prefix, "bin", "caffe"))


def test_cache_entry_is_keyed_by_flags_and_patch_set(tmp_path):
    cpu = run_script("--print-prefix").stdout.strip()
    gpu = run_script("--print-prefix", "--gpu").stdout.strip()
    gpu_arch = run_script("--print-prefix", "--gpu", "--cuda-arch", "80").stdout.strip()
    assert len({cpu, gpu, gpu_arch}) == 3
    assert "caffe-cpu-" in cpu and "caffe-cuda-" in gpu
    # the same script with one more patch selects another entry
    copy = tmp_path / "project"
    shutil.copytree(os.path.join(ROOT, "scripts"), copy / "scripts")
    shutil.copytree(os.path.join(ROOT, "patches"), copy / "patches")
    (copy / "patches" / "9999-extra.patch").write_text("an extra patch\n")
    other = run_script("--print-prefix", script=str(copy / "scripts" / "install_caffe.sh"))
    assert other.stdout.strip() != cpu


def test_a_source_package_of_another_version_is_refused(tmp_path):
    dsc = tmp_path / "caffe_1.0.0+git20180821.99bd997-9.dsc"
    dsc.write_text("Format: 3.0 (quilt)\nSource: caffe\nVersion: 1.0.0+git20180821.99bd997-9\n")
    cache = tmp_path / "cache"
    result = run_script("--dsc", str(dsc), "--cache-dir", str(cache), "--no-apt")
    assert result.returncode != 0
    assert "Version is '1.0.0+git20180821.99bd997-9'" in result.stderr
    entries = [p for p in os.listdir(cache) if p.startswith("caffe-")] if cache.exists() else []
    assert entries == []


def test_unknown_blas_is_one_clear_error():
    result = run_script("--blas", "fastest")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == \
        "install_caffe.sh: error: --blas must be openblas-native, openblas-openmp, " \
        "openblas-pthread, mkl, blis or atlas, not 'fastest'"


def test_each_blas_is_its_own_cache_entry_and_the_defaults():
    blases = ("openblas-native", "openblas-openmp", "openblas-pthread", "mkl", "blis", "atlas")
    prefixes = {blas: run_script("--print-prefix", "--blas", blas).stdout.strip()
                for blas in blases + ("open",)}
    assert prefixes["open"] == prefixes["openblas-openmp"]
    # this machine's CPU has AVX2: CPU builds default to an OpenBLAS compiled for it, GPU
    # builds (carried to other hosts) to Debian's, which picks its kernels at run time
    assert run_script("--print-prefix").stdout.strip() == prefixes["openblas-native"]
    assert os.path.basename(run_script("--print-prefix", "--gpu").stdout.strip()) \
        .startswith("caffe-cuda-openblas-openmp-py")
    del prefixes["open"]
    assert len(set(prefixes.values())) == len(blases)
    for blas, prefix in prefixes.items():
        assert os.path.basename(prefix).startswith(f"caffe-cpu-{blas}-py")
