#!/usr/bin/env bash
# The GPU device check, one run on a lent GPU host (planned to finish in about 8 minutes
# on an H200), from a kit made by scripts/gpu_bench_prepare.sh:
#
#   1. the pair LMDBs, written on the host from the kit's digits (bench/pairs_lmdb.py)
#   2. Caffe's layer tests of the changed layers (convolution, deconvolution, pooling, ReLU; CPU
#      and GPU variants, cuDNN's in the cuDNN build), for each build that carries them
#   3. caffe time (forward + backward, batch 64, 200 iterations) for the old, batched and
#      cuDNN builds, on the same net and GPU
#   4. PyTorch eager and torch.compile on the same GPU, same net, batch and solver
#      (bench/torch_only.py)
#   5. the walkthrough's recipe trained end to end with the batched build (or --train-build):
#      --pairs pairs x 30 epochs at batch 64 (100,000 -> 46,875 iterations), wall time, and
#      the held-out k-NN accuracy of the trained features (bench/pairs_lmdb.py knn)
#
#   bash scripts/gpu_bench.sh [--kit DIR] [--out FILE] [--work DIR] [--cpu]
#                             [--iterations N] [--skip-tests] [--train-build NAME]
#
# --cpu rehearses the same steps on the CPU (CPU_ONLY bundles; no -gpu flags), with
# --iterations capping the training run. Logs go to WORK/logs, the results to --out.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
kit="$root/gpu_bench_kit"
work="${TMPDIR:-/tmp}/gpu_bench_work"
out="gpu_bench_results.txt"
cpu=0
iterations=""
skip_tests=0
train_build=""
python=${PYTHON:-python3}
die() { echo "gpu_bench.sh: error: $*" >&2; exit 1; }
step() { echo "gpu_bench.sh: $(date -u +%H:%M:%S) $*" >&2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --kit) kit=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    --work) work=${2:?}; shift ;;
    --cpu) cpu=1 ;;
    --iterations) iterations=${2:?}; shift ;;
    --skip-tests) skip_tests=1 ;;
    --train-build) train_build=${2:?}; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift
done
[ -f "$kit/solver.prototxt" ] || die "no kit in $kit (scripts/gpu_bench_prepare.sh makes it)"
kit=$(readlink -f "$kit")
out=$(readlink -f "$out")
mkdir -p "$work/logs" "$work/bundles"
work=$(readlink -f "$work")
logs="$work/logs"
data="$work/data"
gpu_flag=(-gpu 0)
[ "$cpu" = 1 ] && gpu_flag=()
export GLOG_minloglevel=0
started=$(date +%s)

# The CUDA libraries of the host's Python wheels (cuBLAS, cuRAND, cuDNN, the runtime).
if [ -z "${CAFFE_CUDA_LIBS:-}" ]; then
  CAFFE_CUDA_LIBS=$("$python" - <<'PY' 2>/dev/null
import glob, os
try:
    import nvidia
    dirs = [d for p in nvidia.__path__ for d in glob.glob(os.path.join(p, "*", "lib"))]
    print(":".join(sorted(dirs)))
except ImportError:
    print("")
PY
)
  export CAFFE_CUDA_LIBS
fi
if ls "$kit"/wheels/*.whl >/dev/null 2>&1 && ! "$python" -c 'import lmdb' 2>/dev/null; then
  "$python" -m pip install -q --no-index --no-deps --target "$work/site" "$kit"/wheels/*.whl &&
    export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
fi

if [ -d "$kit/bundles" ]; then        # unpacked (a rehearsal on the machine that made it)
  rm -rf "$work/bundles" && cp -a "$kit/bundles" "$work/bundles"
else
  [ -f "$kit/bundles.tar.xz" ] || die "no bundles.tar.xz in $kit"
  tar -C "$work" -xJf "$kit/bundles.tar.xz" || die "could not unpack $kit/bundles.tar.xz"
fi
builds=()
for name in old batched cudnn; do
  [ -x "$work/bundles/$name/caffe" ] && builds+=("$name")
done
[ ${#builds[@]} -gt 0 ] || die "no bundles (old, batched, cudnn) in $kit/bundles.tar.xz"
if [ -z "$train_build" ]; then
  for name in batched cudnn old; do
    [ -x "$work/bundles/$name/caffe" ] && { train_build=$name; break; }
  done
fi

step "1/5 pair LMDBs"
pairs=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["pairs"])' "$kit/kit.json")
val_pairs=$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["val_pairs"])' "$kit/kit.json")
"$python" "$root/bench/pairs_lmdb.py" make "$kit/digits.npz" "$data" \
    --pairs "$pairs" --val-pairs "$val_pairs" > "$logs/pairs.log" 2>&1 ||
  { cat "$logs/pairs.log" >&2; die "could not write the pair LMDBs"; }
cp "$kit"/*.prototxt "$data/"
if [ "$cpu" = 1 ]; then sed -i 's/solver_mode: GPU/solver_mode: CPU/' "$data/solver.prototxt"; fi
if [ -n "$iterations" ]; then
  sed -i -e "s/^max_iter: .*/max_iter: $iterations/" -e "s/^snapshot: .*/snapshot: $iterations/" \
      "$data/solver.prototxt"
fi
max_iter=$(sed -n 's/^max_iter: //p' "$data/solver.prototxt")

step "2/5 Caffe's layer tests (convolution, deconvolution, pooling, ReLU)"
for name in "${builds[@]}"; do
  tests="$work/bundles/$name/caffe_layer_tests"
  if [ "$skip_tests" = 1 ] || [ ! -x "$tests" ]; then echo "not run" > "$logs/tests_$name.log"; continue; fi
  timeout 240 "$tests" --gtest_filter='*onvolution*:*Pooling*:*ReLU*' > "$logs/tests_$name.log" 2>&1
done

step "3/5 caffe time, forward + backward: ${builds[*]}"
for name in "${builds[@]}"; do
  (cd "$data" && timeout 120 "$work/bundles/$name/caffe" time -model train_val.prototxt \
      "${gpu_flag[@]}" -iterations "${TIME_ITERATIONS:-200}") > "$logs/time_$name.log" 2>&1
done

step "4/5 PyTorch eager and torch.compile"
device=cuda; [ "$cpu" = 1 ] && device=cpu
timeout 300 "$python" "$root/bench/torch_only.py" --digits "$kit/digits.npz" \
    --solver "$kit/torch_solver.json" --device "$device" --iterations "${TORCH_ITERATIONS:-200}" \
    > "$logs/torch.json" 2> "$logs/torch.log"

step "5/5 full training with the $train_build build: $max_iter iterations"
mkdir -p "$data/snapshots"
t0=$(date +%s.%N)
(cd "$data" && "$work/bundles/$train_build/caffe" train -solver solver.prototxt "${gpu_flag[@]}") \
  > "$logs/train.log" 2>&1
train_rc=$?
t1=$(date +%s.%N)
weights="$data/snapshots/full_iter_${max_iter}.caffemodel"
for name in ref query; do
  count=$(sed -n "s/.*\"knn_$name\": \([0-9]*\).*/\1/p" "$logs/pairs.log")
  batches=$(( (count + 63) / 64 ))
  (cd "$data" && "$work/bundles/$train_build/caffe" test -model "features_$name.prototxt" \
      -weights "$weights" "${gpu_flag[@]}" -iterations "$batches") > "$logs/features_$name.log" 2>&1
done
"$python" "$root/bench/pairs_lmdb.py" knn "$logs/features_ref.log" "$logs/features_query.log" \
    "$data" > "$logs/knn.json" 2> "$logs/knn.log"

{
  echo "# siamese-caffe gpu_bench, $(date -u +%Y-%m-%dT%H:%M:%SZ), $([ "$cpu" = 1 ] && echo 'CPU rehearsal' || echo GPU)"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/nvidia_smi: /'
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) threads)"
  for name in "${builds[@]}"; do
    echo "layer_tests_$name: $(grep -E '^\[  (PASSED|FAILED)  \]' "$logs/tests_$name.log" | tr '\n' ' ' || true)$(grep -q '^not run' "$logs/tests_$name.log" && echo 'not run')"
    echo "caffe_time_ms_$name: $(sed -n 's/.*Average Forward-Backward: \([0-9.]*\) ms.*/\1/p' "$logs/time_$name.log")"
  done
  echo "torch: $(cat "$logs/torch.json" 2>/dev/null || tail -n 1 "$logs/torch.log")"
  echo "train_build: $train_build"
  echo "train_rc: $train_rc"
  echo "train_iterations: $max_iter"
  echo "train_seconds: $(echo "$t1 - $t0" | bc 2>/dev/null || "$python" -c "print($t1 - $t0)")"
  echo "train_last_loss: $(grep -E 'Iteration [0-9]+.*, loss = ' "$logs/train.log" | tail -n 1 | sed 's/.*\] //')"
  echo "val_last: $(grep -E 'Test net output' "$logs/train.log" | tail -n 1 | sed 's/.*\] //')"
  echo "knn: $(cat "$logs/knn.json" 2>/dev/null || tail -n 1 "$logs/knn.log")"
  echo "total_seconds: $(( $(date +%s) - started ))"
} > "$out"
cat "$out"
[ "$train_rc" = 0 ]
