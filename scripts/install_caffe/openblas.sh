# shellcheck shell=bash
# Sourced by install_caffe.sh: OpenBLAS compiled for this CPU (--blas openblas-native).

OPENBLAS_TARGETS="SKYLAKEX HASWELL"   # the kernel sets it may pick, widest first

openblas_target_cpu_flags() {
  # The CPU flags an OpenBLAS kernel set needs (BUILD_INFO.json records them;
  # siamese-caffe refuses the build on a CPU without them).
  case "$1" in
    SKYLAKEX) echo "avx512f avx512cd avx512bw avx512dq avx512vl" ;;
    HASWELL) echo "avx2 fma" ;;
  esac
}

native_openblas_target() {
  # The widest OpenBLAS TARGET this CPU's flags allow, or nothing (no x86-64 CPU with AVX2).
  local flags target
  [ "$(uname -m)" = x86_64 ] || return 0
  flags=" $(grep -m 1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2) "
  for target in $OPENBLAS_TARGETS; do
    # shellcheck disable=SC2046
    if has_flags "$flags" $(openblas_target_cpu_flags "$target"); then echo "$target"; return; fi
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

build_native_openblas() {
  # Build the pinned OpenBLAS source for $openblas_target into
  # $cache_dir/openblas-<version>-<target>-openmp-<flags> (include/, lib/); prints it.
  local root tmp dsc flags
  root="$cache_dir/openblas-$OPENBLAS_DEBIAN_VERSION-$openblas_target-openmp-$(openblas_make_flags | sha256sum | cut -c1-8)"
  if [ -f "$root/.complete" ]; then echo "$root"; return; fi
  tmp=$(mktemp -d "$cache_dir/.openblas-XXXXXX")
  fetch_debian_source "$tmp" "$OPENBLAS_SOURCE_PACKAGE" "$OPENBLAS_DEBIAN_VERSION" "$OPENBLAS_SOURCE_SUITE"
  dsc="$tmp/${OPENBLAS_SOURCE_PACKAGE}_${OPENBLAS_DEBIAN_VERSION}.dsc"
  verify_source_package "$dsc" "$OPENBLAS_SOURCE_PACKAGE" "$OPENBLAS_DEBIAN_VERSION" \
    "$OPENBLAS_DSC_SHA256" "$OPENBLAS_ORIG_SHA256" "$OPENBLAS_DEBIAN_SHA256"
  dpkg-source --no-check -x "$dsc" "$tmp/src" >&2 || die "dpkg-source could not unpack $dsc"
  read -r -a flags <<< "$(openblas_make_flags | tr '\n' ' ')"
  say "compiling OpenBLAS $OPENBLAS_DEBIAN_VERSION for this CPU ($openblas_target; log: $tmp/openblas.log)"
  { make -C "$tmp/src" -j "$jobs" "${flags[@]}" libs shared &&
    make -C "$tmp/src" "${flags[@]}" PREFIX="$tmp/root" install; } >"$tmp/openblas.log" 2>&1 ||
    { tail -n 30 "$tmp/openblas.log" >&2; die "the OpenBLAS build failed (log: $tmp/openblas.log)"; }
  cp "$tmp/openblas.log" "$tmp/root/build.log"
  publish_folder "$tmp/root" "$root"
  rm -rf "$tmp"
  echo "$root"
}
