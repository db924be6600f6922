# shellcheck shell=bash
# Sourced by install_caffe.sh: the options, their defaults and their checks. Every
# setting is a global the other parts read (gpu, blas, python_bin, cache_dir, ...).

option_defaults() {
  gpu=0
  cudnn=0
  cudnn_root=""
  blas=""                          # default: openblas-native for CPU builds (resolve_options)
  python_bin=python3
  cache_dir="${SIAMESE_CAFFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/siamese-caffe}"
  dsc_file=""
  mirror=""
  jobs=$(nproc 2>/dev/null || echo 2)
  cuda_arch_bin="75 80 86 89 90"   # Turing .. Hopper; CUDA 13 dropped everything older than 7.5
  cuda_arch_ptx="90"                # PTX of the newest arch lets newer GPUs JIT-compile it
  cuda_libs=""
  use_opencv=ON
  python_layer=ON
  install_apt=auto
  print_prefix=0
  download_only=""
  force=0
}

usage() {
  cat <<USAGE
usage: bash scripts/install_caffe.sh [options]

Builds BVLC Caffe ($CAFFE_SOURCE_PACKAGE $CAFFE_DEBIAN_VERSION, Debian's source package)
with the patches in patches/, libcaffe + the caffe tool + pycaffe, and caches the
result under the cache folder. Prints the cache entry (the install prefix) last.

options:
  --gpu                 build with CUDA (default: CPU_ONLY)
  --cudnn               with --gpu (implied): Caffe's cuDNN layers (ported to cuDNN 8/9 by
                        patch 0005) as the default engine of convolution, pooling, ReLU, ...
  --cudnn-root DIR      folder with include/cudnn.h and lib/libcudnn.so* (default: the
                        toolkit's, else the PyPI wheel nvidia-cudnn-cu13 of --python)
  --cuda-arch "A B"     real GPU architectures for --gpu (default: "$cuda_arch_bin")
  --cuda-ptx "A"        PTX architectures for --gpu (default: "$cuda_arch_ptx")
  --cuda-libs DIR       folder with include/ and lib/ of cuBLAS and cuRAND (default: the
                        toolkit's, else the PyPI wheels nvidia-cublas/nvidia-curand of --python)
  --without-opencv      build without OpenCV (Data layers over raw Datum do not need it;
                        a much smaller set of libraries, e.g. for bundle_caffe_tool.sh)
  --without-python      build neither pycaffe nor the Python layer: libcaffe and the caffe
                        tool only, not linked to libpython (for bundle_caffe_tool.sh)
  --blas NAME           BLAS library (docs/performance.md has the measurements):
                          openblas-native   OpenBLAS $OPENBLAS_DEBIAN_VERSION (Debian's source)
                                            compiled for this CPU: AVX-512 kernels where it
                                            has them, else AVX2; OpenMP (the default of CPU
                                            builds on x86-64 with AVX2; the build and its
                                            cache entry then run only on such CPUs)
                          openblas-openmp   Debian's OpenBLAS, OpenMP build, kernels picked
                                            at run time (default of --gpu builds; "open")
                          openblas-pthread  OpenBLAS, pthreads build (Debian's default
                                            OpenBLAS; Caffe's own loops then stay serial)
                          mkl               Intel MKL $MKL_VERSION from PyPI (mkl, mkl-include)
                          blis              BLIS, OpenMP build (Debian)
                          atlas             ATLAS (Debian)
  --python PY           the interpreter pycaffe is built for (default: python3);
                        it must have numpy installed
  --cache-dir DIR       cache folder (default: \$SIAMESE_CAFFE_CACHE or ~/.cache/siamese-caffe)
  --dsc FILE            use this local copy of the source package (.dsc with its tarballs)
  --mirror URL          fetch the source from this Debian mirror (e.g. an archive mirror
                        once $CAFFE_SOURCE_SUITE is retired); default: the mirror of this
                        machine's own apt sources
  --jobs N              parallel compile jobs (default: $jobs)
  --no-apt              never install apt packages, only say which are missing
  --download-only DIR   fetch and check the source package into DIR, build nothing
                        (for offline builds and Dockerfile.cuda: later pass --dsc DIR/*.dsc)
  --print-prefix        print the cache entry these options select, build nothing
  --force               rebuild even if the cache entry exists
  -h, --help            this text
USAGE
}

parse_options() {
  # parse_options "$@": sets the globals of option_defaults from the command line.
  option_defaults
  while [ $# -gt 0 ]; do
    case "$1" in
      --gpu) gpu=1 ;;
      --cudnn) gpu=1; cudnn=1 ;;
      --cudnn-root) cudnn_root=${2:?--cudnn-root needs a value}; shift ;;
      --cuda-arch) cuda_arch_bin=${2:?--cuda-arch needs a value}; shift ;;
      --cuda-ptx) cuda_arch_ptx=${2:?--cuda-ptx needs a value}; shift ;;
      --cuda-libs) cuda_libs=${2:?--cuda-libs needs a value}; shift ;;
      --without-opencv) use_opencv=OFF ;;
      --without-python) python_layer=OFF ;;
      --blas) blas=${2:?--blas needs a value}; shift ;;
      --python) python_bin=${2:?--python needs a value}; shift ;;
      --cache-dir) cache_dir=${2:?--cache-dir needs a value}; shift ;;
      --dsc) dsc_file=${2:?--dsc needs a value}; shift ;;
      --mirror) mirror=${2:?--mirror needs a value}; shift ;;
      --jobs) jobs=${2:?--jobs needs a value}; shift ;;
      --no-apt) install_apt=no ;;
      --download-only) download_only=${2:?--download-only needs a folder}; shift ;;
      --print-prefix) print_prefix=1 ;;
      --force) force=1 ;;
      -h|--help) usage; exit 0 ;;
      *) usage >&2; die "unknown option '$1'" ;;
    esac
    shift
  done
}

resolve_options() {
  # The settings that follow from the options and this machine: the BLAS (checked),
  # the interpreter's path and tag (py311), the multiarch triplet of the system's
  # libraries, and the flavor of the cache entry's name (cpu, cuda-cudnn, ...).
  openblas_target=$(native_openblas_target)
  if [ -z "$blas" ]; then
    if [ "$gpu" = 0 ] && [ -n "$openblas_target" ]; then blas=openblas-native; else blas=openblas-openmp; fi
  fi
  case "$blas" in
    open) blas=openblas-openmp ;;
    openblas-native)
      [ -n "$openblas_target" ] ||
        die "--blas openblas-native needs an x86-64 CPU with AVX2 and FMA; use --blas openblas-openmp" ;;
    openblas-openmp|openblas-pthread|mkl|blis|atlas) ;;
    *) die "--blas must be openblas-native, openblas-openmp, openblas-pthread, mkl, blis or atlas, not '$blas'" ;;
  esac
  command -v "$python_bin" >/dev/null 2>&1 || die "--python: '$python_bin' is not an executable"
  python_bin=$(command -v "$python_bin")
  python_tag=$("$python_bin" -c 'import sys; print("py%d%d" % sys.version_info[:2])')
  multiarch=$(gcc -print-multiarch 2>/dev/null || true)
  multiarch=${multiarch:-$(uname -m)-linux-gnu}
  flavor=$([ "$gpu" = 1 ] && echo cuda || echo cpu)
  [ "$cudnn" = 0 ] || flavor="$flavor-cudnn"
  [ "$use_opencv" = ON ] || flavor="$flavor-noopencv"
  [ "$python_layer" = ON ] || flavor="$flavor-nopython"
}
