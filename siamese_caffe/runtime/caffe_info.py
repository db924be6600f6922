"""`siamese-caffe doctor`: what Caffe this environment runs, and with what.

The facts come from the running process, not from guesses: the shared
libraries actually mapped after `import caffe` (/proc/self/maps) tell the
BLAS, CUDA and OpenCV in use; BUILD_INFO.json in the cache entry tells the
flavour the build script produced.
"""

import os
import re
import shutil
import subprocess
import sys

from . import blasinfo, caffe_env

BLAS_NAMES = (("libmkl_rt", "Intel MKL"), ("libopenblas", "OpenBLAS"),
              ("libblis", "BLIS"), ("libatlas", "ATLAS"), ("libcblas", "CBLAS"),
              ("libblas", "reference/alternatives BLAS"))


def mapped_libraries():
    """Paths of the shared objects mapped into this process (Linux only)."""
    try:
        with open("/proc/self/maps") as f:
            return sorted({line.split()[-1] for line in f if ".so" in line.split()[-1]})
    except OSError:
        return []


def describe_blas(libs):
    """The BLAS library loaded, as 'OpenBLAS (/usr/lib/.../libopenblas.so.0)'."""
    for stem, name in BLAS_NAMES:
        for lib in libs:
            if os.path.basename(lib).startswith(stem):
                return f"{name} ({os.path.realpath(lib)})"
    return "unknown"


def describe_caffe_blas(caffe, libs):
    """The BLAS Caffe's calls resolve to, with its threading: 'OpenBLAS 0.3.21 … (OpenMP)
    — /usr/lib/…'; the first BLAS-looking mapped file when the linker cannot tell."""
    blas = blasinfo.describe(caffe)
    if blas["library"] is None:
        return describe_blas(libs)
    return f"{blas['name']} ({blas['threading']}) — {blas['library']}"


def describe_opencv(libs):
    """OpenCV version from the soname of the loaded libopencv_core."""
    for lib in libs:
        m = re.search(r"libopencv_core\.so\.(\d+\.\d+(\.\d+)?)", os.path.realpath(lib))
        if m:
            return m.group(1)
    return "not loaded"


def visible_gpus():
    """Names of NVIDIA GPUs nvidia-smi lists ([] when none or no driver)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.startswith("GPU")]


def in_container():
    """Whether this process runs in a Docker/Podman container."""
    return os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv")


def _cuda_version(number):
    """CUDA's version integer (13000) as text ('13.0')."""
    return f"{number // 1000}.{number % 1000 // 10}"


def explain_gpu_access(runtime, driver, init_error, devices, container):
    """Whether Caffe can compute on a GPU here, and if not, why, in one line.

    runtime: the CUDA runtime version libcaffe loaded (13000), None for a CPU_ONLY
    build; driver: the version the driver supports (cuDriverGetVersion), None when
    libcuda.so.1 cannot be loaded; init_error: cuInit's error name, None on success;
    devices: the GPUs the driver counts. Returns (usable, text).
    """
    if runtime is None:
        driver_text = "no NVIDIA driver" if driver is None else f"driver for CUDA {_cuda_version(driver)}"
        return False, f"no: this Caffe is a CPU_ONLY build ({driver_text}, {devices} GPU(s))"
    if driver is None:
        if container:
            return False, ("no: no NVIDIA driver in this container (libcuda.so.1): run it with "
                           "--gpus all, which needs the NVIDIA Container Toolkit on the host")
        return False, "no: no NVIDIA driver on this machine (libcuda.so.1 not found)"
    seen = f"driver for CUDA {_cuda_version(driver)}"
    if driver // 1000 < runtime // 1000:
        return False, (f"no: the {seen} is older than this Caffe's CUDA runtime "
                       f"{_cuda_version(runtime)}: update the host's NVIDIA driver "
                       f"(CUDA {runtime // 1000} needs a driver of its major version)")
    if init_error is not None:
        hint = " (no GPU passed in: --gpus all?)" if init_error == "CUDA_ERROR_NO_DEVICE" else ""
        return False, f"no: {seen}, but cuInit failed with {init_error}{hint}"
    if devices == 0:
        return False, f"no: {seen}, but it sees no GPU"
    return True, (f"yes: {devices} GPU(s), {seen}, CUDA runtime {_cuda_version(runtime)}")


def gpu_access(libs):
    """explain_gpu_access for this process (after `import caffe`; libs: mapped_libraries())."""
    import ctypes

    runtime = driver = init_error = None
    devices = 0
    cudart = [lib for lib in libs if os.path.basename(lib).startswith("libcudart")]
    if cudart:
        version = ctypes.c_int(0)
        if ctypes.CDLL(cudart[0]).cudaRuntimeGetVersion(ctypes.byref(version)) == 0:
            runtime = version.value
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        cuda = None
    if cuda is not None:
        version = ctypes.c_int(0)
        if cuda.cuDriverGetVersion(ctypes.byref(version)) == 0:
            driver = version.value
        error = cuda.cuInit(0)
        if error != 0:
            name = ctypes.c_char_p()
            cuda.cuGetErrorName(error, ctypes.byref(name))
            init_error = name.value.decode() if name.value else f"error {error}"
        else:
            count = ctypes.c_int(0)
            cuda.cuDeviceGetCount(ctypes.byref(count))
            devices = count.value
    return explain_gpu_access(runtime, driver, init_error, devices, in_container())[1]


def collect():
    """Everything doctor reports, as a JSON-ready dict. Raises CaffeNotFoundError."""
    import numpy
    from google import protobuf

    caffe = caffe_env.import_caffe()
    libs = mapped_libraries()
    prefix = caffe_env.caffe_prefix(caffe)
    info = caffe_env.build_info(prefix)
    has_cuda = any("libcudart" in os.path.basename(p) for p in libs)
    return {
        "caffe_module": os.path.dirname(caffe.__file__),
        "caffe_version": getattr(caffe, "__version__", "unknown"),
        "caffe_prefix": prefix,
        "source": info.get("source", "unknown"),
        "build": "CUDA" if has_cuda or str(info.get("flavor", "")).startswith("cuda") else "CPU_ONLY",
        "blas": describe_caffe_blas(caffe, libs),
        "cpu_threads": os.environ.get("OMP_NUM_THREADS") or str(len(os.sched_getaffinity(0))),
        "gpus": visible_gpus(),
        "gpu_access": gpu_access(libs),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "protobuf": protobuf.__version__,
        "opencv": describe_opencv(libs),
        "contrastive_loss": "ContrastiveLoss" in caffe.layer_type_list(),
    }


def format_report(facts):
    """The human-readable report: one 'name: value' line per fact."""
    gpus = ", ".join(facts["gpus"]) or "none visible"
    rows = [("Caffe", f"{facts['caffe_version']} from {facts['caffe_module']}"),
            ("source", facts["source"]), ("build", facts["build"]), ("BLAS", facts["blas"]),
            ("CPU threads", f"{facts['cpu_threads']} (OMP_NUM_THREADS, default: all cores)"),
            ("GPU", gpus), ("GPU usable", facts["gpu_access"]), ("Python", facts["python"]), ("NumPy", facts["numpy"]),
            ("protobuf", facts["protobuf"]), ("OpenCV", facts["opencv"]),
            ("ContrastiveLoss layer", "yes" if facts["contrastive_loss"] else "MISSING")]
    return "\n".join(f"{name + ':':<24}{value}" for name, value in rows)
