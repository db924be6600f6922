# shellcheck shell=bash
# Sourced by install_caffe.sh: configuring, compiling and installing Caffe into a stage
# folder, and the smoke test of the staged build before it is published.

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

