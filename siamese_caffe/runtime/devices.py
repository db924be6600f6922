"""Choosing where Caffe computes: `--gpu auto|N|cpu`.

"auto" takes GPU 0 when this Caffe was built with CUDA and a GPU is visible,
else the CPU; "N" insists on GPU N (an error with a CPU_ONLY Caffe, or when
nvidia-smi lists no GPU N); "cpu" is the CPU. Several GPUs ("0,1") are refused:
training runs on one device. A CPU_ONLY Caffe asked for a GPU, or a CUDA Caffe
asked for a GPU that is not there, aborts the process, so the choice is checked
here first. `available()` lists what exists (the server's Device menu).
"""

import os

from ..errors import BadInputError
from . import caffe_info


def caffe_has_cuda():
    """Whether the loaded pycaffe links the CUDA runtime (after caffe_env.import_caffe())."""
    return any("libcudart" in os.path.basename(lib) for lib in caffe_info.mapped_libraries())


MULTI_GPU = "multi-GPU training is not supported: give one GPU number (or cpu, auto)"


def available():
    """The devices training can use here, [(device, name)]: (None, "CPU") first, then
    (N, "GPU N: <model> (UUID: ...)") for each GPU nvidia-smi lists when this Caffe is a
    CUDA build (a CPU_ONLY build lists the CPU only)."""
    from . import caffe_env

    caffe_env.import_caffe()              # its libraries tell whether it is a CUDA build
    found = [(None, "CPU")]
    if caffe_has_cuda():
        found += [(index, name) for index, name in enumerate(caffe_info.visible_gpus())]
    return found


def choose_device(option, where="--gpu"):
    """The GPU id to train on, or None for the CPU, from a --gpu value (str or int).

    where: the option or field named in errors."""
    text = str(option).strip().lower()
    if text == "cpu":
        return None
    if text == "auto":
        return 0 if caffe_has_cuda() and caffe_info.visible_gpus() else None
    parts = [p for p in text.replace(" ", ",").split(",") if p]
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        raise BadInputError(MULTI_GPU, where=where)
    if not text.isdigit():
        raise BadInputError(f"expected auto, cpu or a GPU number, got {option!r}", where=where)
    if not caffe_has_cuda():
        raise BadInputError(f"GPU {text} asked for, but this Caffe is a CPU_ONLY build "
                            "(use --gpu cpu, or build Caffe with CUDA)", where=where)
    gpus = caffe_info.visible_gpus()
    if int(text) >= len(gpus):
        have = f"GPUs 0 to {len(gpus) - 1}" if gpus else "no GPU (nvidia-smi lists none)"
        raise BadInputError(f"GPU {text} asked for, but this machine has {have}", where=where)
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
