"""Choosing where Caffe computes: `--gpu auto|N|cpu`.

"auto" takes GPU 0 when this Caffe was built with CUDA and a GPU is visible,
else the CPU; "N" insists on GPU N (an error with a CPU_ONLY Caffe); "cpu" is the
CPU. A CPU_ONLY Caffe asked for a GPU aborts the process, so the choice is
checked here first.
"""

import os

from ..errors import BadInputError
from . import caffe_info


def caffe_has_cuda():
    """Whether the loaded pycaffe links the CUDA runtime (after caffe_env.import_caffe())."""
    return any("libcudart" in os.path.basename(lib) for lib in caffe_info.mapped_libraries())


def choose_device(option):
    """The GPU id to train on, or None for the CPU, from a --gpu value (str or int)."""
    text = str(option).strip().lower()
    if text == "cpu":
        return None
    if text == "auto":
        return 0 if caffe_has_cuda() and caffe_info.visible_gpus() else None
    if not text.isdigit():
        raise BadInputError(f"expected auto, cpu or a GPU number, got {option!r}", where="--gpu")
    if not caffe_has_cuda():
        raise BadInputError(f"GPU {text} asked for, but this Caffe is a CPU_ONLY build "
                            "(use --gpu cpu, or build Caffe with CUDA)", where="--gpu")
    return int(text)


def describe(device):
    """'cpu' or 'gpu:N' for job.json."""
    return "cpu" if device is None else f"gpu:{device}"


def parse(description):
    """Inverse of `describe`."""
    return None if description in (None, "cpu") else int(description.split(":")[1])


def set_mode(caffe, device):
    """Put Caffe in CPU mode (device None) or GPU mode on `device`."""
    if device is None:
        caffe.set_mode_cpu()
    else:
        caffe.set_device(device)
        caffe.set_mode_gpu()
