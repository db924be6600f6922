"""Which BLAS the loaded Caffe really calls, and how that BLAS runs its threads.

Several BLAS libraries can be mapped into one process (NumPy brings its own
OpenBLAS, OpenCV pulls in the system's libblas), so the list of mapped files does
not say which one Caffe uses. `describe()` asks the dynamic linker instead: it
looks up `cblas_sgemm` from libcaffe (the definition libcaffe's calls resolve to)
and names the file that holds it, with OpenBLAS's own account of its build.
"""

import ctypes
import ctypes.util
import os

OPENBLAS_THREADING = {0: "sequential", 1: "pthreads", 2: "OpenMP"}


class _DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]


def libcaffe_path():
    """The libcaffe shared object mapped into this process (by `import caffe`), or None."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libcaffe.so"):
                return path
    return None


def file_defining(library, symbol):
    """Path of the shared object whose `symbol` `library` (a CDLL) resolves to, or None."""
    try:
        address = ctypes.cast(getattr(library, symbol), ctypes.c_void_p)
    except AttributeError:
        return None
    libdl = ctypes.CDLL(ctypes.util.find_library("dl") or None)
    info = _DlInfo()
    if not libdl.dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def describe(caffe):
    """{"library": path, "name": ..., "threading": ...} of the BLAS the imported `caffe`
    module's libcaffe calls.

    name: OpenBLAS's openblas_get_config() (version and kernel), else the file name;
    threading: "OpenMP" / "pthreads" / "sequential" for OpenBLAS, "unknown" otherwise.
    """
    path = libcaffe_path()
    if path is None:
        return {"library": None, "name": "unknown", "threading": "unknown"}
    blas_file = file_defining(ctypes.CDLL(path), "cblas_sgemm")
    if blas_file is None:
        return {"library": None, "name": "unknown", "threading": "unknown"}
    blas = ctypes.CDLL(blas_file)
    name, threading = os.path.basename(blas_file), "unknown"
    if hasattr(blas, "openblas_get_config"):
        blas.openblas_get_config.restype = ctypes.c_char_p
        name = blas.openblas_get_config().decode().strip()
        threading = OPENBLAS_THREADING.get(blas.openblas_get_parallel(), "unknown")
    elif "mkl" in name:
        threading = "MKL_THREADING_LAYER=" + os.environ.get("MKL_THREADING_LAYER", "default")
    elif "blis" in name:
        threading = "BLIS (OpenMP build)" if "openmp" in blas_file else "BLIS"
    return {"library": blas_file, "name": name, "threading": threading}
