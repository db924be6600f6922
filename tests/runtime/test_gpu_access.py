"""doctor's "GPU usable" line: whether a GPU was passed in, and if not, why."""

from siamese_caffe.runtime.caffe_info import explain_gpu_access

CUDA_13_0 = 13000


def test_a_cuda_build_in_a_container_started_without_gpus_is_told_to_pass_them():
    usable, text = explain_gpu_access(CUDA_13_0, None, None, 0, container=True)
    assert not usable
    assert "--gpus all" in text and "NVIDIA Container Toolkit" in text


def test_outside_a_container_it_names_the_missing_driver():
    usable, text = explain_gpu_access(CUDA_13_0, None, None, 0, container=False)
    assert not usable and "libcuda.so.1" in text and "--gpus" not in text


def test_a_driver_older_than_the_cuda_runtime_is_named_with_both_versions():
    usable, text = explain_gpu_access(CUDA_13_0, 12080, None, 1, container=True)
    assert not usable
    assert "12.8" in text and "13.0" in text and "update the host's NVIDIA driver" in text


def test_a_newer_minor_driver_and_an_older_minor_driver_of_the_same_major_both_work():
    assert explain_gpu_access(CUDA_13_0, 13020, None, 1, container=True)[0]
    assert explain_gpu_access(13020, CUDA_13_0, None, 1, container=True)[0]   # minor compatibility


def test_no_device_from_cuinit_hints_at_gpus():
    usable, text = explain_gpu_access(CUDA_13_0, CUDA_13_0, "CUDA_ERROR_NO_DEVICE", 0, True)
    assert not usable and "CUDA_ERROR_NO_DEVICE" in text and "--gpus all" in text


def test_a_usable_gpu_says_yes_with_the_versions():
    usable, text = explain_gpu_access(CUDA_13_0, 13000, None, 2, container=True)
    assert usable and text.startswith("yes: 2 GPU(s)") and "CUDA runtime 13.0" in text


def test_a_cpu_only_build_says_so_first():
    usable, text = explain_gpu_access(None, 13000, None, 1, container=False)
    assert not usable and "CPU_ONLY" in text
