"""Finding and importing the project's pycaffe.

`make` links the build made by scripts/install_caffe.sh into the virtual
environment (a .pth file). Outside it, the cache entry named by
$SIAMESE_CAFFE_PREFIX, or the newest matching entry under the build cache, is
put on sys.path. Caffe's glog output is quieted to warnings unless
$GLOG_minloglevel is already set.
"""

import glob
import importlib
import json
import os
import sys

from ..errors import CaffeNotFoundError
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
        return importlib.import_module("caffe")
    except ImportError as first_error:
        for prefix in candidate_prefixes():
            path = os.path.join(prefix, "lib", "python3", "dist-packages")
            if os.path.isdir(path) and path not in sys.path:
                sys.path.insert(0, path)
                sys.modules.pop("caffe", None)
                try:
                    return importlib.import_module("caffe")
                except ImportError:
                    sys.path.remove(path)
        raise CaffeNotFoundError(f"cannot import caffe ({first_error}); {FIX}") from None


def caffe_prefix(caffe):
    """The install prefix a loaded caffe module came from (…/lib/python3/dist-packages/caffe)."""
    return os.path.abspath(os.path.join(os.path.dirname(caffe.__file__), *[os.pardir] * 4))
