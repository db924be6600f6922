# shellcheck shell=bash
# Sourced by install_caffe.sh: the inputs that decide what is built, and the cache entry
# they select. Everything cache_key reads is part of the key: the pinned source, the
# interpreter's tag, the BLAS (its pins and make flags), the CMake flags and the patches.

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
  # 12 hex digits of the SHA-256 of every input above.
  local p
  {
    echo "$CAFFE_DEBIAN_VERSION $ORIG_SHA256 $DEBIAN_SHA256 $python_tag"
    [ "$blas" != mkl ] || echo "mkl $MKL_VERSION $MKL_WHEEL_SHA256 $MKL_INCLUDE_WHEEL_SHA256"
    [ "$blas" != openblas-native ] ||
      echo "openblas $OPENBLAS_DEBIAN_VERSION $OPENBLAS_ORIG_SHA256 $openblas_target $(openblas_make_flags)"
    cmake_flags
    for p in $(patch_files); do basename "$p"; cat "$p"; done
  } | sha256sum | cut -c1-12
}

cache_prefix() {
  # The cache entry (install prefix) these settings select.
  echo "$cache_dir/caffe-$flavor-$blas-$python_tag-$(cache_key)"
}
