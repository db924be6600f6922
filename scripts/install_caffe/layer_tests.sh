# shellcheck shell=bash
# Sourced by install_caffe.sh: Caffe's own gtest unit tests of the layers our patches change.

layer_tests() {
  # Caffe's own unit tests of the layers and solver our patches change (convolution,
  # deconvolution, pooling, ReLU, inner product: their values and numeric gradient checks;
  # the Adam solver's updates against the test's own reference), compiled
  # against the new libcaffe with the compiler flags CMake used for it, and run on 2 OpenMP
  # threads. A build that
  # fails them is never published. A --gpu build's tests (CPU and GPU variants, cuDNN's
  # with --cudnn) run only where a GPU is visible; the binary is installed either way as
  # bin/caffe_layer_tests (bundle_caffe_tool.sh carries it to a GPU host).
  local src=$1 build=$2 log=$3 stage_bin=$4 dir=$2/layer-tests flags f pids=() objects=() cuda_link=()
  mkdir -p "$dir"
  flags=$(sed -n 's/^CXX_\(DEFINES\|INCLUDES\|FLAGS\) = //p' "$build/src/caffe/CMakeFiles/caffe.dir/flags.make" | tr '\n' ' ')
  if [ "$gpu" = 1 ]; then cuda_link=(-L"$(cuda_toolkit_root)/lib64" -lcudart); fi
  say "compiling and running Caffe's convolution, pooling, ReLU, inner product and Adam tests"
  for f in gtest/gtest-all.cpp caffe/test/test_caffe_main.cpp caffe/test/test_convolution_layer.cpp \
           caffe/test/test_deconvolution_layer.cpp caffe/test/test_pooling_layer.cpp \
           caffe/test/test_neuron_layer.cpp caffe/test/test_inner_product_layer.cpp \
           caffe/test/test_gradient_based_solver.cpp; do
    objects+=("$dir/$(basename "${f%.cpp}").o")
    # shellcheck disable=SC2086
    g++ -O2 -fopenmp -pthread $flags -I"$src/src" -c "$src/src/$f" -o "${objects[-1]}" >>"$log" 2>&1 &
    pids+=($!)
  done
  for f in "${pids[@]}"; do wait "$f" || die "Caffe's layer tests did not compile (log: $log)"; done
  g++ -fopenmp -o "$dir/layer_tests" "${objects[@]}" -L"$build/lib" -lcaffe -Wl,-rpath,"$build/lib" \
      -Wl,-rpath,"$prefix/lib" "${cuda_link[@]}" \
      -lglog -lgflags -lprotobuf -lboost_system -lboost_filesystem -lpthread >>"$log" 2>&1 ||
    die "Caffe's layer tests did not link (log: $log)"
  if [ "$gpu" = 1 ]; then
    cp "$dir/layer_tests" "$stage_bin/caffe_layer_tests"
    if ! nvidia-smi -L >/dev/null 2>&1; then
      say "Caffe's layer tests compiled into bin/caffe_layer_tests, not run (no GPU visible here)"
      return 0
    fi
  fi
  # from the source folder: the solver tests' data list names its HDF5 file relative to it
  (cd "$src" && OMP_NUM_THREADS=2 "$dir/layer_tests" \
      --gtest_filter='*onvolution*:*Pooling*:*ReLU*:*InnerProduct*:*AdamSolver*') >>"$log" 2>&1 ||
    { grep -E '^\[  FAILED' "$log" >&2; die "Caffe's convolution/pooling/ReLU/inner product/Adam tests failed (log: $log)"; }
  say "Caffe's convolution, pooling, ReLU, inner product and Adam tests: $(grep -E '^\[  PASSED' "$log" | tail -n 1)"
}

