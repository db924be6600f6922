#!/usr/bin/env bash
# Build BVLC Caffe from Debian's source package with this project's patches,
# and cache the result outside the checkout.
#
#   bash scripts/install_caffe.sh [--gpu] [--python PY] [--cache-dir DIR] ...
#   bash scripts/install_caffe.sh --help
#
# The cache entry is keyed by the source version, the patch set and the build
# flags; a second run with the same inputs finds it and does nothing.
set -euo pipefail

# ---- what is built ---------------------------------------------------------
# BVLC master of 2018-08-21 plus Debian's patches (OpenCV 4, python3, CMake).
CAFFE_SOURCE_PACKAGE=caffe
CAFFE_DEBIAN_VERSION=1.0.0+git20180821.99bd997-8
CAFFE_SOURCE_SUITE=bullseye            # the Debian suite whose deb-src carries it
DSC_SHA256=c492f4893fc1ba1fb514b2d9b4763bc78dc93571ea24adc6e604eccbb93cdd64
ORIG_SHA256=e0eb3f06794f7402c77b7dec8e8480273ee1a1bb192e9122b621a69d4147ad0c
DEBIAN_SHA256=07cf073227494a6b07234e40cb5df91db566616593eef9baafdc4d06ad159f21

# --blas openblas-native (the CPU default): Debian's OpenBLAS source, compiled for this
# machine's CPU (its widest kernel set; a DYNAMIC_ARCH OpenBLAS takes $OPENBLAS_CORETYPE).
OPENBLAS_SOURCE_PACKAGE=openblas
OPENBLAS_DEBIAN_VERSION=0.3.21+ds-4
OPENBLAS_SOURCE_SUITE=bookworm
OPENBLAS_DSC_SHA256=2faed37b360c6d2a31e82032f8278d29bbec19d99425de2ce501614dff4e5880
OPENBLAS_ORIG_SHA256=bbec5cca61c8033b2d57aaecde205d709323a0b35a5f193290081dbb3826848a
OPENBLAS_DEBIAN_SHA256=cb8ded6f29379c6a720ce3e7b62f9884419c7d3ba66e49184a3c09272af2065b

# --blas mkl: Intel MKL from PyPI (mkl, mkl-include), unpacked into the cache.
MKL_VERSION=2025.3.0
MKL_WHEEL_SHA256=7b81f5d2e034637b187ca58666878c4e8889988a78e39e0b6ee92e846568f660
MKL_INCLUDE_WHEEL_SHA256=8fd38f51f543ce7031cf454a199529986277eeaf5b0e6a9ff8bbe27757b017e6

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
project_root=$(dirname "$here")
patch_dir="$project_root/patches"

# ---- options -----------------------------------------------------------------
gpu=0
cudnn=0
cudnn_root=""
blas=""                          # default: openblas-native for CPU builds (see below)
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

usage() {
  cat <<EOF
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
  --blas NAME           BLAS library (README "Performance" has the measurements):
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
EOF
}

die() { echo "install_caffe.sh: error: $*" >&2; exit 1; }
say() { echo "install_caffe.sh: $*" >&2; }

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

# The CPU flags each OpenBLAS kernel set needs, widest first (BUILD_INFO.json records them;
# siamese-caffe refuses the build on a CPU without them).
declare -A target_cpu_flags=([SKYLAKEX]="avx512f avx512cd avx512bw avx512dq avx512vl"
                             [HASWELL]="avx2 fma")

native_openblas_target() {
  # The widest OpenBLAS TARGET this CPU's flags allow, or nothing (no x86-64 CPU with AVX2).
  local flags target
  [ "$(uname -m)" = x86_64 ] || return 0
  flags=" $(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  for target in SKYLAKEX HASWELL; do
    # shellcheck disable=SC2086
    if has_flags "$flags" ${target_cpu_flags[$target]}; then echo "$target"; return; fi
  done
}

openblas_make_flags() {
  # Single and double precision BLAS and CBLAS only (what Caffe calls), OpenMP threads,
  # no CPU-core binding (a shared machine), one kernel set: TARGET, without DYNAMIC_ARCH.
  # Its own name (libopenblas_siamese.so.0): the system's libblas.so.3, which OpenCV
  # loads, needs all of Debian's libopenblas.so.0 beside it in the same process.
  echo "TARGET=$openblas_target DYNAMIC_ARCH=0 USE_OPENMP=1 NUM_THREADS=64 NO_AFFINITY=1"
  echo "NO_LAPACK=1 NO_LAPACKE=1 NOFORTRAN=1 BUILD_SINGLE=1 BUILD_DOUBLE=1"
  echo "LIBNAMESUFFIX=siamese"
}

has_flags() {
  local all=$1 flag
  shift
  for flag in "$@"; do [[ "$all" == *" $flag "* ]] || return 1; done
}

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

# ---- the cache key -------------------------------------------------------------
python_tag=$("$python_bin" -c 'import sys; print("py%d%d" % sys.version_info[:2])')

multiarch=$(gcc -print-multiarch 2>/dev/null || true)
multiarch=${multiarch:-$(uname -m)-linux-gnu}

blas_cmake_flags() {
  # Caffe's CMake knows BLAS=open|atlas|mkl; OpenBLAS's two builds and BLIS (which
  # has the same cblas.h interface) are chosen by pointing its OpenBLAS search at
  # the variant's own header folder and library, so no system alternative changes.
  local lib=/usr/lib/$multiarch inc=/usr/include/$multiarch
  case "$blas" in
    openblas-openmp|openblas-pthread)
      echo "-DBLAS=open -DOpenBLAS_INCLUDE_DIR=$inc/$blas -DOpenBLAS_LIB=$lib/$blas/libopenblas.so" ;;
    blis) echo "-DBLAS=open -DOpenBLAS_INCLUDE_DIR=$inc/blis-openmp -DOpenBLAS_LIB=$lib/blis-openmp/libblis.so" ;;
    openblas-native) echo "-DBLAS=open" ;;   # its folder: build_native_openblas
    mkl) echo "-DBLAS=mkl -DMKL_USE_SINGLE_DYNAMIC_LIBRARY=ON" ;;   # MKL_ROOT: fetch_mkl
    atlas) echo "-DBLAS=atlas" ;;
  esac
}

cmake_flags() {
  # The flags that decide what is built; they are part of the cache key.
  # USE_OPENMP: Caffe's CPU loops (patches 0003, 0004) share their work over OpenMP threads.
  echo "-DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DBUILD_docs=OFF -DBUILD_matlab=OFF"
  echo "-DBUILD_python=$python_layer -DBUILD_python_layer=$python_layer -Dpython_version=3"
  echo "-DUSE_LMDB=ON -DUSE_LEVELDB=OFF -DUSE_OPENCV=$use_opencv -DUSE_HDF5=ON -DUSE_CUDNN=$([ "$cudnn" = 1 ] && echo ON || echo OFF) -DUSE_NCCL=OFF"
  echo "-DUSE_OPENMP=ON"
  blas_cmake_flags
  if [ "$gpu" = 1 ]; then
    # CMake lists: "80 90" -> "80;90", so the value stays one word
    echo "-DCPU_ONLY=OFF -DCUDA_ARCH_NAME=Manual -DCUDA_ARCH_BIN=${cuda_arch_bin// /;} -DCUDA_ARCH_PTX=${cuda_arch_ptx// /;}"
  else
    echo "-DCPU_ONLY=ON"
  fi
}

patch_files() {
  # Our patches in the order they apply: patches/*.patch for every build, then
  # patches/gpu/*.patch (code inside #ifndef CPU_ONLY only) for --gpu builds, so
  # a CPU build and its cache entry do not change when a GPU-only patch does.
  local p
  for p in "$patch_dir"/*.patch; do [ -e "$p" ] && echo "$p"; done
  if [ "$gpu" = 1 ]; then
    for p in "$patch_dir"/gpu/*.patch; do [ -e "$p" ] && echo "$p"; done
  fi
  return 0
}

cache_key() {
  {
    echo "$CAFFE_DEBIAN_VERSION $ORIG_SHA256 $DEBIAN_SHA256 $python_tag"
    [ "$blas" != mkl ] || echo "mkl $MKL_VERSION $MKL_WHEEL_SHA256 $MKL_INCLUDE_WHEEL_SHA256"
    [ "$blas" != openblas-native ] ||
      echo "openblas $OPENBLAS_DEBIAN_VERSION $OPENBLAS_ORIG_SHA256 $openblas_target $(openblas_make_flags)"
    cmake_flags
    for p in $(patch_files); do basename "$p"; cat "$p"; done
  } | sha256sum | cut -c1-12
}

flavor=$([ "$gpu" = 1 ] && echo cuda || echo cpu)
[ "$cudnn" = 1 ] && flavor="$flavor-cudnn"
[ "$use_opencv" = OFF ] && flavor="$flavor-noopencv"
[ "$python_layer" = OFF ] && flavor="$flavor-nopython"
prefix="$cache_dir/caffe-$flavor-$blas-$python_tag-$(cache_key)"

if [ "$print_prefix" = 1 ]; then echo "$prefix"; exit 0; fi

if [ -z "$download_only" ] && [ -f "$prefix/BUILD_INFO.json" ] && [ "$force" = 0 ]; then
  say "Caffe ($flavor, $blas) is already built for this source, patch set and flags: nothing to do."
  echo "$prefix"
  exit 0
fi

# ---- apt packages ------------------------------------------------------------
apt_packages=(
  build-essential cmake pkg-config dpkg-dev patch
  libboost-filesystem-dev libboost-system-dev libboost-thread-dev libboost-python-dev
  libgflags-dev libgoogle-glog-dev libhdf5-dev liblmdb-dev libopencv-dev
  libprotobuf-dev protobuf-compiler
  graphviz            # pycaffe's caffe.draw renders network pictures with it
)
case "$blas" in
  openblas-openmp|openblas-pthread) apt_packages+=("lib$blas-dev") ;;
  blis) apt_packages+=(libblis-openmp-dev) ;;
  atlas) apt_packages+=(libatlas-base-dev) ;;
  mkl) ;;             # from PyPI, see fetch_mkl
esac
[ -n "$dsc_file" ] || apt_packages+=(debian-archive-keyring)

missing_apt_packages() {
  local p
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

ensure_apt_packages() {
  local missing
  missing=$(missing_apt_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$install_apt" = no ] || [ "$(id -u)" != 0 ]; then
    die "missing build packages; run: sudo apt-get install -y --no-install-recommends $missing"
  fi
  say "installing build packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >&2 || die "apt-get install failed: $missing"
}

# ---- the source ----------------------------------------------------------------
fetch_debian_source() {
  # fetch_debian_source DEST PACKAGE VERSION SUITE: download a pinned source package into
  # DEST through a private apt configuration (its own sources, lists and cache), so the
  # system's apt setup is left alone.
  local dest=$1 package=$2 version=$3 suite=$4 apt_dir=$1/apt url
  # the first Debian mirror of this machine's apt sources (read only when no --mirror is
  # given; a build from --dsc, as in Dockerfile.cuda, never comes here)
  # shellcheck source=apt_mirrors.sh
  url=${mirror:-$(source "$here/apt_mirrors.sh"; system_debian_mirror)}
  [ -n "$url" ] || die "no Debian mirror found in this machine's apt sources; pass --mirror URL or --dsc FILE"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
  cat > "$apt_dir/sources.list.d/$package-src.sources" <<EOF
Types: deb-src
URIs: $url
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir"
              -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  say "fetching $package $version from $url ($suite)"
  apt-get "${opts[@]}" update -qq >&2 ||
    die "apt-get update for $url $suite failed (offline? suite retired? try --mirror or --dsc)"
  (cd "$dest" && apt-get "${opts[@]}" source --download-only -qq "$package=$version" >&2) ||
    die "could not download $package=$version from $url"
  rm -rf "$apt_dir"
}

fetch_source() {
  # The pinned Caffe source package into $1; sets dsc_file.
  fetch_debian_source "$1" "$CAFFE_SOURCE_PACKAGE" "$CAFFE_DEBIAN_VERSION" "$CAFFE_SOURCE_SUITE"
  dsc_file="$1/${CAFFE_SOURCE_PACKAGE}_${CAFFE_DEBIAN_VERSION}.dsc"
}

check_sha256() {
  # check_sha256 FILE EXPECTED
  [ -f "$1" ] || die "missing source file $1"
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "$1: sha256 $got is not the pinned $2 (not the version this script builds?)"
}

verify_source() {
  local dir version
  dir=$(dirname "$dsc_file")
  version=$(sed -n 's/^Version: //p' "$dsc_file")
  [ "$version" = "$CAFFE_DEBIAN_VERSION" ] ||
    die "$dsc_file: Version is '$version', this script builds $CAFFE_DEBIAN_VERSION"
  check_sha256 "$dsc_file" "$DSC_SHA256"
  check_sha256 "$dir/${CAFFE_SOURCE_PACKAGE}_${CAFFE_DEBIAN_VERSION%-*}.orig.tar.gz" "$ORIG_SHA256"
  check_sha256 "$dir/${CAFFE_SOURCE_PACKAGE}_${CAFFE_DEBIAN_VERSION}.debian.tar.xz" "$DEBIAN_SHA256"
}

unpack_and_patch() {
  # Unpack with Debian's patches applied (dpkg-source), then apply ours in order.
  local src=$1 p
  dpkg-source --no-check -x "$dsc_file" "$src" >&2 || die "dpkg-source could not unpack $dsc_file"
  for p in $(patch_files); do
    say "applying ${p#"$patch_dir"/}"
    patch -d "$src" -p1 --forward --batch --quiet < "$p" >&2 || die "patch $(basename "$p") does not apply"
  done
}

# ---- Intel MKL from PyPI (--blas mkl) -------------------------------------------
fetch_mkl() {
  # Unpack the pinned mkl and mkl-include wheels into $cache_dir/mkl-$MKL_VERSION
  # (include/, lib/ with the unversioned libmkl_rt.so CMake looks for); prints it.
  local root="$cache_dir/mkl-$MKL_VERSION" tmp
  if [ -f "$root/.complete" ]; then echo "$root"; return; fi
  tmp=$(mktemp -d "$cache_dir/.mkl-XXXXXX")
  say "fetching Intel MKL $MKL_VERSION (mkl, mkl-include) from PyPI"
  "$python_bin" -m pip download -q --no-deps --only-binary :all: --dest "$tmp" \
      "mkl==$MKL_VERSION" "mkl-include==$MKL_VERSION" >&2 ||
    die "could not download mkl==$MKL_VERSION / mkl-include==$MKL_VERSION from PyPI"
  check_sha256 "$(ls "$tmp"/mkl-"$MKL_VERSION"-*.whl)" "$MKL_WHEEL_SHA256"
  check_sha256 "$(ls "$tmp"/mkl_include-"$MKL_VERSION"-*.whl)" "$MKL_INCLUDE_WHEEL_SHA256"
  "$python_bin" - "$tmp" <<'EOF' >&2 || die "could not unpack the MKL wheels in $tmp"
import glob, os, shutil, sys, zipfile
tmp = sys.argv[1]
for wheel in glob.glob(os.path.join(tmp, "*.whl")):
    zipfile.ZipFile(wheel).extractall(os.path.join(tmp, "unpacked"))
for part in ("lib", "include"):
    for src in glob.glob(os.path.join(tmp, "unpacked", "*.data", "data", part)):
        shutil.copytree(src, os.path.join(tmp, "root", part), dirs_exist_ok=True, symlinks=True)
EOF
  ln -sfn libmkl_rt.so.2 "$tmp/root/lib/libmkl_rt.so"
  touch "$tmp/root/.complete"
  rm -rf "$root"
  mv "$tmp/root" "$root"
  rm -rf "$tmp"
  echo "$root"
}

# ---- OpenBLAS for this CPU (--blas openblas-native) ---------------------------------
build_native_openblas() {
  # Build the pinned OpenBLAS source for $openblas_target into
  # $cache_dir/openblas-<version>-<target>-openmp-<flags> (include/, lib/); prints it.
  local root tmp dsc flags
  root="$cache_dir/openblas-$OPENBLAS_DEBIAN_VERSION-$openblas_target-openmp-$(openblas_make_flags | sha256sum | cut -c1-8)"
  if [ -f "$root/.complete" ]; then echo "$root"; return; fi
  tmp=$(mktemp -d "$cache_dir/.openblas-XXXXXX")
  fetch_debian_source "$tmp" "$OPENBLAS_SOURCE_PACKAGE" "$OPENBLAS_DEBIAN_VERSION" "$OPENBLAS_SOURCE_SUITE"
  dsc="$tmp/${OPENBLAS_SOURCE_PACKAGE}_${OPENBLAS_DEBIAN_VERSION}.dsc"
  check_sha256 "$dsc" "$OPENBLAS_DSC_SHA256"
  check_sha256 "$tmp/${OPENBLAS_SOURCE_PACKAGE}_${OPENBLAS_DEBIAN_VERSION%-*}.orig.tar.xz" "$OPENBLAS_ORIG_SHA256"
  check_sha256 "$tmp/${OPENBLAS_SOURCE_PACKAGE}_${OPENBLAS_DEBIAN_VERSION}.debian.tar.xz" "$OPENBLAS_DEBIAN_SHA256"
  dpkg-source --no-check -x "$dsc" "$tmp/src" >&2 || die "dpkg-source could not unpack $dsc"
  read -r -a flags <<< "$(openblas_make_flags | tr '\n' ' ')"
  say "compiling OpenBLAS $OPENBLAS_DEBIAN_VERSION for this CPU ($openblas_target; log: $tmp/openblas.log)"
  { make -C "$tmp/src" -j "$jobs" "${flags[@]}" libs shared &&
    make -C "$tmp/src" "${flags[@]}" PREFIX="$tmp/root" install; } >"$tmp/openblas.log" 2>&1 ||
    { tail -n 30 "$tmp/openblas.log" >&2; die "the OpenBLAS build failed (log: $tmp/openblas.log)"; }
  cp "$tmp/openblas.log" "$tmp/root/build.log"
  touch "$tmp/root/.complete"
  rm -rf "$root"
  mv "$tmp/root" "$root"
  rm -rf "$tmp"
  echo "$root"
}

# ---- the build -------------------------------------------------------------------
python_cmake_flags() {
  # Point CMake at the interpreter pycaffe is built for, not Debian's libpython.
  "$python_bin" - <<'EOF'
import os, sysconfig
libdir = sysconfig.get_config_var("LIBDIR")
lib = os.path.join(libdir, sysconfig.get_config_var("LDLIBRARY"))
print("-DPYTHON_EXECUTABLE=" + __import__("sys").executable)
print("-DPYTHON_LIBRARY=" + lib)
print("-DPYTHON_INCLUDE_DIR=" + sysconfig.get_paths()["include"])
EOF
}

find_cuda_libs() {
  # A folder with include/ and lib/ holding cuBLAS and cuRAND: --cuda-libs, else the
  # toolkit itself when it has them, else the PyPI wheels (nvidia-cublas, nvidia-curand)
  # installed for the interpreter.
  local cuda_root=$1 dir
  if [ -n "$cuda_libs" ]; then echo "$cuda_libs"; return; fi
  if ls "$cuda_root"/lib64/libcublas.so* >/dev/null 2>&1; then return; fi
  for dir in $("$python_bin" -c 'import nvidia, sys; print(" ".join(nvidia.__path__))' 2>/dev/null); do
    for sub in "$dir"/*/; do
      if ls "$sub"lib/libcublas.so* >/dev/null 2>&1 && ls "$sub"lib/libcurand.so* >/dev/null 2>&1; then
        echo "${sub%/}"; return
      fi
    done
  done
}

cuda_toolkit_root() {
  # $CUDA_HOME, else /usr/local/cuda, else the folder above the nvcc on PATH
  # (nvcc on PATH may be a wrapper script, so the real toolkit wins).
  local root
  for root in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    [ -n "$root" ] && [ -x "$root/bin/nvcc" ] && { echo "$root"; return; }
  done
  root=$(command -v nvcc) || die "--gpu needs the CUDA toolkit (nvcc); set CUDA_HOME"
  dirname "$(dirname "$(readlink -f "$root")")"
}

cuda_dev_links() {
  # The PyPI wheels ship only versioned libraries (libcublas.so.13); CMake's FindCUDA
  # looks for libcublas.so. A folder in the cache links both names to the wheel's
  # files; it is on the link path, so it also ends up in libcaffe's RPATH.
  local wheel_lib=$1 links f
  links="$cache_dir/cuda-dev-links-$(echo "$wheel_lib" | sha256sum | cut -c1-8)"
  mkdir -p "$links"
  for f in "$wheel_lib"/lib*.so.*; do
    ln -sfn "$f" "$links/$(basename "$f")"
    ln -sfn "$f" "$links/$(basename "${f%%.so.*}").so"
  done
  echo "$links"
}

find_cudnn() {
  # A folder with include/cudnn.h and lib/libcudnn.so*: --cudnn-root, else the toolkit
  # when it has cuDNN, else the PyPI wheel nvidia-cudnn-cu13 installed for the interpreter.
  local cuda_root=$1 dir
  if [ -n "$cudnn_root" ]; then echo "$cudnn_root"; return; fi
  if [ -f "$cuda_root/include/cudnn.h" ] && ls "$cuda_root"/lib64/libcudnn.so* >/dev/null 2>&1; then
    echo "$cuda_root"; return
  fi
  for dir in $("$python_bin" -c 'import nvidia, sys; print(" ".join(nvidia.__path__))' 2>/dev/null); do
    if [ -f "$dir/cudnn/include/cudnn.h" ]; then echo "$dir/cudnn"; return; fi
  done
}

cudnn_cmake_flags() {
  # cuDNN's headers for nvcc and g++, and its library through a folder of unversioned
  # links (the wheel ships libcudnn.so.9 only); prints "FLAGS<tab>CMAKE ARGS...".
  local cuda_root=$1 dir lib links
  dir=$(find_cudnn "$cuda_root")
  [ -n "$dir" ] && [ -f "$dir/include/cudnn.h" ] ||
    die "--cudnn: no cuDNN found; pip install nvidia-cudnn-cu13 for --python, or pass --cudnn-root DIR"
  lib=$dir/lib; [ -d "$dir/lib64" ] && ls "$dir"/lib64/libcudnn.so* >/dev/null 2>&1 && lib=$dir/lib64
  links=$(cuda_dev_links "$lib")
  say "using cuDNN from $dir"
  printf '%s	%s
' "-I$dir/include" "-DCUDNN_INCLUDE=$dir/include -DCUDNN_LIBRARY=$links/libcudnn.so"
}

cuda_cmake_flags() {
  # CUDA >= 13 ships a Thrust/CUB that needs C++17.
  local nvcc cuda_root version major libs nvcc_flags cxx_flags
  cuda_root=$(cuda_toolkit_root)
  nvcc="$cuda_root/bin/nvcc"
  version=$("$nvcc" --version | sed -n 's/.*release \([0-9.]*\).*/\1/p')
  major=${version%%.*}
  echo "-DCUDA_TOOLKIT_ROOT_DIR=$cuda_root"
  nvcc_flags="-Xcompiler=-fPIC"
  cxx_flags=""
  if [ "$major" -ge 13 ]; then
    # CUDA 13 keeps Thrust under include/cccl; the cuDNN softmax layer's .cpp includes it
    nvcc_flags="$nvcc_flags;-std=c++17"
    cxx_flags="-std=c++17 -I$cuda_root/include/cccl"
  fi
  libs=$(find_cuda_libs "$cuda_root")
  if [ -n "$libs" ]; then
    say "using cuBLAS/cuRAND from $libs"
    nvcc_flags="$nvcc_flags;-I$libs/include"
    cxx_flags="$cxx_flags -I$libs/include"
    echo "-DCMAKE_LIBRARY_PATH=$(cuda_dev_links "$libs/lib")"
  fi
  if [ "$cudnn" = 1 ]; then
    local cudnn_line cudnn_inc cudnn_args arg
    cudnn_line=$(cudnn_cmake_flags "$cuda_root") || exit 1
    cudnn_inc=${cudnn_line%%$'\t'*}
    cudnn_args=${cudnn_line#*$'\t'}
    nvcc_flags="$nvcc_flags;$cudnn_inc"
    cxx_flags="$cxx_flags $cudnn_inc"
    for arg in $cudnn_args; do echo "$arg"; done
  fi
  echo "-DCUDA_NVCC_FLAGS=$nvcc_flags"
  [ -n "$cxx_flags" ] && echo "-DCMAKE_CXX_FLAGS=$cxx_flags"
  return 0
}

configure_and_build() {
  local src=$1 build=$2 stage=$3 log=$4 extra=()
  : > "$log"
  mapfile -t extra < <(python_cmake_flags)
  if [ "$gpu" = 1 ]; then mapfile -t -O "${#extra[@]}" extra < <(cuda_cmake_flags); fi
  if [ "$blas" = mkl ]; then extra+=("-DMKL_ROOT=$(fetch_mkl)"); fi
  if [ "$blas" = openblas-native ]; then
    local openblas_root
    openblas_root=$(build_native_openblas)
    extra+=("-DOpenBLAS_INCLUDE_DIR=$openblas_root/include"
            "-DOpenBLAS_LIB=$openblas_root/lib/libopenblas_siamese.so")
  fi
  # shellcheck disable=SC2046
  cmake -S "$src" -B "$build" $(cmake_flags) "${extra[@]}" \
        -DCMAKE_INSTALL_PREFIX="$prefix" >>"$log" 2>&1 ||
    { tail -n 40 "$log" >&2; die "CMake configure failed (log: $log)"; }
  if [ "$cudnn" = 1 ] && ! grep -q "Found cuDNN" "$log"; then
    rm -rf "$build"
    die "--cudnn: CMake did not find cuDNN (log: $log)"
  fi
  if [ "$gpu" = 1 ] && grep -q "CUDA is not detected" "$log"; then
    rm -rf "$build"
    die "--gpu: CMake did not find CUDA (log: $log); set CUDA_HOME to the toolkit"
  fi
  say "compiling with $jobs jobs (log: $log)"
  cmake --build "$build" -j "$jobs" >>"$log" 2>&1 ||
    { grep -m 20 -E 'error|Error' "$log" >&2 || tail -n 40 "$log" >&2; die "build failed (log: $log)"; }
  DESTDIR="$stage" cmake --install "$build" >>"$log" 2>&1 ||
    { tail -n 20 "$log" >&2; die "install failed (log: $log)"; }
}

layer_tests() {
  # Caffe's own unit tests of the layers patches 0003, 0004 and 0006 change (convolution,
  # deconvolution, pooling, ReLU: their values and numeric gradient checks), compiled
  # against the new libcaffe with the compiler flags CMake used for it, and run on 2 OpenMP
  # threads. A build that
  # fails them is never published. A --gpu build's tests (CPU and GPU variants, cuDNN's
  # with --cudnn) run only where a GPU is visible; the binary is installed either way as
  # bin/caffe_layer_tests (bundle_caffe_tool.sh carries it to a GPU host).
  local src=$1 build=$2 log=$3 stage_bin=$4 dir=$2/layer-tests flags f pids=() objects=() cuda_link=()
  mkdir -p "$dir"
  flags=$(sed -n 's/^CXX_\(DEFINES\|INCLUDES\|FLAGS\) = //p' "$build/src/caffe/CMakeFiles/caffe.dir/flags.make" | tr '\n' ' ')
  if [ "$gpu" = 1 ]; then cuda_link=(-L"$(cuda_toolkit_root)/lib64" -lcudart); fi
  say "compiling and running Caffe's convolution, pooling and ReLU tests"
  for f in gtest/gtest-all.cpp caffe/test/test_caffe_main.cpp caffe/test/test_convolution_layer.cpp \
           caffe/test/test_deconvolution_layer.cpp caffe/test/test_pooling_layer.cpp \
           caffe/test/test_neuron_layer.cpp; do
    objects+=("$dir/$(basename "${f%.cpp}").o")
    # shellcheck disable=SC2086
    g++ -O2 -fopenmp -pthread $flags -I"$src/src" -c "$src/src/$f" -o "${objects[-1]}" >>"$log" 2>&1 &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || die "Caffe's layer tests did not compile (log: $log)"; done
  g++ -fopenmp -o "$dir/layer_tests" "${objects[@]}" -L"$build/lib" -lcaffe -Wl,-rpath,"$build/lib" \
      -Wl,-rpath,"$prefix/lib" "${cuda_link[@]}" \
      -lglog -lgflags -lprotobuf -lboost_system -lpthread >>"$log" 2>&1 ||
    die "Caffe's layer tests did not link (log: $log)"
  if [ "$gpu" = 1 ]; then
    cp "$dir/layer_tests" "$stage_bin/caffe_layer_tests"
    if ! nvidia-smi -L >/dev/null 2>&1; then
      say "Caffe's layer tests compiled into bin/caffe_layer_tests, not run (no GPU visible here)"
      return 0
    fi
  fi
  OMP_NUM_THREADS=2 "$dir/layer_tests" --gtest_filter='*onvolution*:*Pooling*:*ReLU*' >>"$log" 2>&1 ||
    { grep -E '^\[  FAILED' "$log" >&2; die "Caffe's convolution/pooling/ReLU tests failed (log: $log)"; }
  say "Caffe's convolution, pooling and ReLU tests: $(grep -E '^\[  PASSED' "$log" | tail -n 1)"
}

smoke_test() {
  # Load the staged _caffe.so and run the staged caffe tool before publishing them.
  local root=$1
  [ "$python_layer" = OFF ] ||
  LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$python_bin" - "$root" <<'EOF' >&2 ||
import glob, importlib.util, sys
so = glob.glob(sys.argv[1] + "/lib/python3/dist-packages/caffe/_caffe*.so")[0]
spec = importlib.util.spec_from_file_location("caffe._caffe", so)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
assert "ContrastiveLoss" in mod.layer_type_list(), "ContrastiveLoss missing"
print("install_caffe.sh: pycaffe loads; %d layer types" % len(mod.layer_type_list()))
EOF
    die "the built pycaffe does not load"
  LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$root/bin/caffe" --version >&2 ||
    die "the built caffe tool does not run"
}

native_build_info() {
  # BUILD_INFO.json's lines for an openblas-native build: its kernel set and the CPU flags
  # it needs (siamese-caffe refuses the build on a CPU without them).
  [ "$blas" = openblas-native ] || return 0
  printf '\n  "blas_target": "%s",\n  "cpu_flags": "%s",' "$openblas_target" \
    "${target_cpu_flags[$openblas_target]}"
}

write_build_info() {
  local root=$1
  cat > "$root/BUILD_INFO.json" <<EOF
{
  "source": "$CAFFE_SOURCE_PACKAGE $CAFFE_DEBIAN_VERSION",
  "patches": [$(for p in $(patch_files); do printf '"%s",' "${p#"$patch_dir"/}"; done | sed 's/,$//')],
  "flavor": "$flavor",
  "blas": "$blas",$(native_build_info)
  "python": "$python_tag",
  "cmake_flags": "$(cmake_flags | tr '\n' ' ' | sed 's/ $//')",
  "pythonpath": "$prefix/lib/python3/dist-packages",
  "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
}

download_source_only() {
  mkdir -p "$download_only"
  download_only=$(cd "$download_only" && pwd)   # apt-get source runs in it: no relative paths
  fetch_source "$download_only"
  verify_source
  say "source package checked; build later with --dsc $dsc_file"
  echo "$dsc_file"
}

main() {
  if [ -n "$download_only" ]; then download_source_only; return; fi
  "$python_bin" -c "import numpy" 2>/dev/null ||
    die "$python_bin has no numpy; pycaffe is compiled against it (pip install numpy first)"
  ensure_apt_packages
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/.lock-$(basename "$prefix")"
  flock 9
  if [ -f "$prefix/BUILD_INFO.json" ] && [ "$force" = 0 ]; then
    say "another run built this entry meanwhile: nothing to do."; echo "$prefix"; return 0
  fi
  # The work area survives a failed build, so a rerun resumes compiling where it
  # stopped; only a finished, smoke-tested install becomes the cache entry.
  work="$cache_dir/.work-$(basename "$prefix")"
  local log="$work/build.log"
  if [ -f "$work/src/.siamese-patched" ]; then
    say "resuming the build in $work"
  else
    rm -rf "$work"
    mkdir -p "$work"
    if [ -n "$dsc_file" ]; then
      dsc_file=$(readlink -f "$dsc_file")
      [ -f "$dsc_file" ] || die "--dsc: $dsc_file does not exist"
    else
      mkdir -p "$work/download"
      fetch_source "$work/download"
    fi
    verify_source
    unpack_and_patch "$work/src"
    touch "$work/src/.siamese-patched"
  fi
  rm -rf "$work/stage"
  configure_and_build "$work/src" "$work/build" "$work/stage" "$log"
  layer_tests "$work/src" "$work/build" "$log" "$work/stage$prefix/bin"
  smoke_test "$work/stage$prefix"
  write_build_info "$work/stage$prefix"
  cp "$log" "$work/stage$prefix/build.log"
  rm -rf "$prefix"
  mv "$work/stage$prefix" "$prefix"
  rm -rf "$work"
  say "built Caffe ($flavor, $blas) into $prefix"
  echo "$prefix"
}

main
