#!/usr/bin/env bash
# Build BVLC Caffe from Debian's source package with this project's patches,
# and cache the result outside the checkout.
#
#   bash scripts/install_caffe.sh [--gpu] [--python PY] [--cache-dir DIR] ...
#   bash scripts/install_caffe.sh --help
#
# The cache entry is keyed by the source version, the patch set and the build
# flags; a second run with the same inputs finds it and does nothing.
#
# The parts, one concern a file, live in scripts/install_caffe/:
#   pins.sh         the pinned versions and SHA-256 sums of what is built
#   common.sh       messages, the SHA-256 check, publishing a finished folder
#   options.sh      the options, their defaults and checks
#   cache_key.sh    the CMake flags, the patch set and the cache entry they select
#   apt.sh          the Debian build packages
#   source.sh       fetching, checking, unpacking and patching a source package
#   openblas.sh     OpenBLAS compiled for this CPU (--blas openblas-native)
#   mkl.sh          Intel MKL from PyPI (--blas mkl)
#   cuda.sh         CUDA, cuBLAS/cuRAND and cuDNN (--gpu, --cudnn)
#   build.sh        CMake configure, compile, install into a stage; the smoke test
#   layer_tests.sh  Caffe's own tests of the layers the patches change
#   build_info.sh   BUILD_INFO.json
set -euo pipefail

parts="$(dirname "${BASH_SOURCE[0]}")/install_caffe"
# shellcheck source=install_caffe/pins.sh
source "$parts/pins.sh"
# shellcheck source=install_caffe/common.sh
source "$parts/common.sh"
# shellcheck source=install_caffe/options.sh
source "$parts/options.sh"
# shellcheck source=install_caffe/cache_key.sh
source "$parts/cache_key.sh"
# shellcheck source=install_caffe/apt.sh
source "$parts/apt.sh"
# shellcheck source=install_caffe/source.sh
source "$parts/source.sh"
# shellcheck source=install_caffe/openblas.sh
source "$parts/openblas.sh"
# shellcheck source=install_caffe/mkl.sh
source "$parts/mkl.sh"
# shellcheck source=install_caffe/cuda.sh
source "$parts/cuda.sh"
# shellcheck source=install_caffe/build.sh
source "$parts/build.sh"
# shellcheck source=install_caffe/layer_tests.sh
source "$parts/layer_tests.sh"
# shellcheck source=install_caffe/build_info.sh
source "$parts/build_info.sh"

main() {
  scripts_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  patch_dir="$(dirname "$scripts_dir")/patches"
  parse_options "$@"
  resolve_options
  prefix=$(cache_prefix)
  if [ "$print_prefix" = 1 ]; then echo "$prefix"; return 0; fi
  if [ -n "$download_only" ]; then download_source_only; return; fi
  if [ -f "$prefix/BUILD_INFO.json" ] && [ "$force" = 0 ]; then
    say "Caffe ($flavor, $blas) is already built for this source, patch set and flags: nothing to do."
    echo "$prefix"
    return 0
  fi
  "$python_bin" -c "import numpy" 2>/dev/null ||
    die "$python_bin has no numpy; pycaffe is compiled against it (pip install numpy first)"
  ensure_apt_packages
  mkdir -p "$cache_dir"
  exec 9>"$cache_dir/.lock-$(basename "$prefix")"
  flock 9
  if [ -f "$prefix/BUILD_INFO.json" ] && [ "$force" = 0 ]; then
    say "another run built this entry meanwhile: nothing to do."; echo "$prefix"; return 0
  fi
  build_and_publish
}

build_and_publish() {
  # The work area survives a failed build, so a rerun resumes compiling where it
  # stopped; only a finished, smoke-tested install becomes the cache entry.
  local work log
  work="$cache_dir/.work-$(basename "$prefix")"
  log="$work/build.log"
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

main "$@"
