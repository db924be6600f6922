"""Finding and importing the project's pycaffe.

`make` links the build made by scripts/install_caffe.sh into the virtual
environment (a .pth file). Outside it, the cache entry named by
$SIAMESE_CAFFE_PREFIX, or the newest matching entry under the build cache, is
put on sys.path. Caffe's glog output is quieted to warnings unless
$GLOG_minloglevel is already set.

A build made with `--blas openblas-native` (the CPU default) runs only on CPUs
with the instruction sets its OpenBLAS was compiled for; its BUILD_INFO.json
names them ("cpu_flags"), and such a build is refused with the fix, before
it is loaded, on a CPU without them (it would die of an illegal instruction).
"""

import glob
import importlib
import importlib.util
import json
import os
import sys

from ..errors import CaffeBuiltForOtherCpuError, CaffeNotFoundError
from . import interrupts

FIX = ("build it with `make caffe` (or `bash scripts/install_caffe.sh --python "
       f"{sys.executable}`), then run inside the project's .venv")


def cache_dir():
    """The folder install_caffe.sh builds into (same default as the script)."""
    default = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")),
                           "siamese-caffe")
    return os.environ.get("SIAMESE_CAFFE_CACHE", default)


def candidate_prefixes():
    """Cache entries that could hold a pycaffe for this interpreter, best first."""
    explicit = os.environ.get("SIAMESE_CAFFE_PREFIX")
    if explicit:
        return [explicit]
    tag = "py%d%d" % sys.version_info[:2]
    entries = glob.glob(os.path.join(cache_dir(), f"caffe-*-{tag}-*", "BUILD_INFO.json"))
    entries.sort(key=os.path.getmtime, reverse=True)
    return [os.path.dirname(e) for e in entries]


def build_info(prefix):
    """The BUILD_INFO.json of a cache entry as a dict ({} when absent)."""
    try:
        with open(os.path.join(prefix, "BUILD_INFO.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def cpu_flags(cpuinfo_path="/proc/cpuinfo"):
    """The instruction-set flags of this machine's first CPU (a set of words)."""
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def missing_cpu_flags(prefix):
    """The CPU flags the cache entry at prefix needs (BUILD_INFO.json) that this CPU lacks."""
    needed = build_info(prefix).get("cpu_flags", "").split()
    have = cpu_flags() if needed else set()
    return [flag for flag in needed if flag not in have]


def check_cpu_can_run(prefix):
    """Raise CaffeBuiltForOtherCpuError when the build at prefix needs flags this CPU lacks."""
    missing = missing_cpu_flags(prefix)
    if missing:
        target = build_info(prefix).get("blas_target", "?")
        raise CaffeBuiltForOtherCpuError(
            f"the Caffe in {prefix} was built for CPUs with {' '.join(missing)} (its OpenBLAS "
            f"has {target} kernels), which this CPU lacks; build one for this machine with "
            "`make caffe` (or install_caffe.sh --blas openblas-openmp for any x86-64 CPU)")


def import_caffe():
    """Import and return the `caffe` module, or raise CaffeNotFoundError with the fix."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    # A --blas mkl build: MKL's threads from GNU OpenMP, the runtime Caffe's own loops use
    # (mkl_rt would otherwise look for Intel's libiomp5); no effect on other BLAS builds.
    os.environ.setdefault("MKL_THREADING_LAYER", "GNU")
    with interrupts.held():     # pycaffe's bare `except:` would swallow a Ctrl-C or SIGTERM
        return _import_caffe()


def _import_caffe():
    try:
        if "caffe" not in sys.modules:
            _check_found_caffe()
        return importlib.import_module("caffe")
    except ImportError as first_error:
        for prefix in candidate_prefixes():
            path = os.path.join(prefix, "lib", "python3", "dist-packages")
            if os.path.isdir(path) and path not in sys.path and not missing_cpu_flags(prefix):
                sys.path.insert(0, path)
                sys.modules.pop("caffe", None)
                try:
                    return importlib.import_module("caffe")
                except ImportError:
                    sys.path.remove(path)
        raise CaffeNotFoundError(f"cannot import caffe ({first_error}); {FIX}") from None


def _check_found_caffe():
    """Refuse, before it is loaded, a caffe on sys.path built for another CPU."""
    try:
        spec = importlib.util.find_spec("caffe")
    except (ImportError, ValueError):
        return
    if spec is not None and spec.origin:
        check_cpu_can_run(_prefix_of(spec.origin))


def _prefix_of(caffe_init):
    """The install prefix of …/lib/python3/dist-packages/caffe/__init__.py."""
    return os.path.abspath(os.path.join(os.path.dirname(caffe_init), *[os.pardir] * 4))


def caffe_prefix(caffe):
    """The install prefix a loaded caffe module came from (…/lib/python3/dist-packages/caffe)."""
    return _prefix_of(caffe.__file__)
