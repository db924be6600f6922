# shellcheck shell=bash
# Sourced by install_caffe.sh: CUDA, cuBLAS/cuRAND and cuDNN for --gpu builds (the toolkit,
# or NVIDIA's PyPI wheels installed for --python), as CMake flags.

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
  printf '%s\t%s\n' "-I$dir/include" "-DCUDNN_INCLUDE=$dir/include -DCUDNN_LIBRARY=$links/libcudnn.so"
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

