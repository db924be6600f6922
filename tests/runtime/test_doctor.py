"""`siamese-caffe doctor` as a user runs it."""

import json
import os
import sysconfig

import project_paths


ROOT = project_paths.ROOT


def test_doctor_reports_a_cpu_only_bvlc_caffe(cli_process):
    result = cli_process("doctor", "--json")
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert facts["build"] == "CPU_ONLY"
    assert facts["caffe_version"].startswith("1.0.0")
    assert "1.0.0+git20180821.99bd997-8" in facts["source"]
    assert facts["contrastive_loss"] is True
    assert facts["blas"] != "unknown"
    assert facts["numpy"] and facts["protobuf"]
    assert facts["opencv"].startswith("4.")


def test_doctor_names_the_blas_caffe_calls_and_its_threading(cli_process):
    facts = json.loads(cli_process("doctor", "--json").stdout)
    with open(os.path.join(facts["caffe_prefix"], "BUILD_INFO.json")) as f:
        blas = json.load(f)["blas"]
    if blas == "openblas-native":        # the default CPU build: OpenBLAS built for this CPU
        assert facts["blas"].startswith("OpenBLAS 0.3.21 ")
        assert "(OpenMP) — " in facts["blas"] and "/libopenblas_siamese" in facts["blas"]
    elif blas == "openblas-openmp":
        assert facts["blas"].startswith("OpenBLAS ")
        assert "(OpenMP) — " in facts["blas"] and "/openblas-openmp/" in facts["blas"]
    assert int(facts["cpu_threads"]) >= 1


def test_doctor_text_report_names_where_caffe_came_from(cli_process):
    result = cli_process("doctor")
    assert result.returncode == 0, result.stderr
    assert "CPU_ONLY" in result.stdout
    assert "lib/python3/dist-packages/caffe" in result.stdout


def test_doctor_without_caffe_exits_non_zero_with_the_fix(cli_process, tmp_path):
    # -S skips site-packages' .pth files (the link to pycaffe); PYTHONPATH keeps numpy.
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, sysconfig.get_paths()["purelib"]]),
               SIAMESE_CAFFE_PREFIX=str(tmp_path / "no-caffe-here"))
    result = cli_process("doctor", env=env, python_flags=("-S",))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "cannot import caffe" in lines[0] and "make caffe" in lines[0]


def fake_native_build(folder, cpu_flags):
    """A cache entry whose BUILD_INFO.json asks for cpu_flags, with a caffe package that
    says so if anything ever imports it."""
    package = folder / "lib" / "python3" / "dist-packages" / "caffe"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise SystemExit('the fake caffe was imported')\n")
    (folder / "BUILD_INFO.json").write_text(json.dumps(
        {"blas": "openblas-native", "blas_target": "SKYLAKEX", "cpu_flags": cpu_flags}))
    return str(package.parent)


def test_a_build_for_another_cpu_is_refused_before_it_is_loaded(cli_process, tmp_path):
    entry = tmp_path / "caffe-cpu-openblas-native-py311-000000000000"
    site = fake_native_build(entry, "avx2 no_such_cpu_flag")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, sysconfig.get_paths()["purelib"], site]))
    result = cli_process("doctor", env=env, python_flags=("-S",))
    line = result.error_line("doctor", status=3)
    assert str(entry) in line and "no_such_cpu_flag" in line and "SKYLAKEX" in line
    assert "avx2 " not in line                       # this CPU has it: not named
    assert "make caffe" in line
    assert "fake caffe was imported" not in result.stdout + result.stderr
