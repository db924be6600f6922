#!/usr/bin/env bash
# One script for a machine with an NVIDIA GPU and a Caffe built with CUDA
# (`make caffe CAFFE_FLAGS=--gpu`, Dockerfile.cuda, or a bundle_caffe_tool.sh bundle):
#
#   1. siamese-caffe doctor (when pycaffe runs here)
#   2. caffe device_query
#   3. a short GPU training run on the built-in digits
#   4. milliseconds per iteration (forward + backward) on GPU and on CPU, same net
#   5. GPU and CPU features for the same weights and inputs, compared (within 1e-4)
#
# Results go to one text file (default gpu_check_results.txt); the logs to WORK/logs.
#
#   bash scripts/gpu_check.sh [--caffe CMD] [--work DIR] [--prepared DIR] [--out FILE]
#                             [--gpu N] [--iterations N]
#
# --prepared DIR uses a folder made elsewhere by `python -m siamese_caffe.gpu_check
# prepare DIR` (for a GPU host where pycaffe cannot be built); without it the
# folder is prepared here, which needs pycaffe.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
caffe_cmd=""
work="gpu_check_work"
prepared=""
out="gpu_check_results.txt"
gpu=0
iterations=500
python=${PYTHON:-python3}
[ -x "$root/.venv/bin/python" ] && python="$root/.venv/bin/python"

export GLOG_minloglevel=0   # the results are read from Caffe's INFO log lines
die() { echo "gpu_check.sh: error: $*" >&2; exit 1; }
step() { echo "gpu_check.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --caffe) caffe_cmd=${2:?}; shift ;;
    --work) work=${2:?}; shift ;;
    --prepared) prepared=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    --gpu) gpu=${2:?}; shift ;;
    --iterations) iterations=${2:?}; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift
done

find_caffe() {
  # --caffe, else the caffe tool of the build pycaffe comes from, else `caffe` on PATH.
  [ -n "$caffe_cmd" ] && { echo "$caffe_cmd"; return; }
  local prefix
  prefix=$(cd "$root" && "$python" -c 'from siamese_caffe.runtime import caffe_env as e; print(e.caffe_prefix(e.import_caffe()))' 2>/dev/null) &&
    [ -x "$prefix/bin/caffe" ] && { echo "$prefix/bin/caffe"; return; }
  command -v caffe || die "no caffe tool found; pass --caffe PATH"
}

caffe_cmd=$(find_caffe)
out=$(readlink -f "$out")
mkdir -p "$work/logs"
work=$(readlink -f "$work")
logs="$work/logs"
step "caffe tool: $caffe_cmd; logs in $logs"

step "1/5 doctor"
if ! (cd "$root" && "$python" -m siamese_caffe.cli doctor) > "$logs/doctor.log" 2>&1; then
  reason=$(tail -n 1 "$logs/doctor.log")
  echo "not available here ($reason); the checks below use the caffe tool only" > "$logs/doctor.log"
fi

step "2/5 device_query"
"$caffe_cmd" device_query -gpu "$gpu" > "$logs/device_query.log" 2>&1 ||
  { cat "$logs/device_query.log" >&2; die "caffe device_query failed: no usable GPU, or a CPU_ONLY build"; }

if [ -z "$prepared" ]; then
  step "preparing the dataset and nets (pycaffe)"
  (cd "$root" && "$python" -m siamese_caffe.gpu_check prepare "$work/prepared" --iterations "$iterations") \
    > "$logs/prepare.log" 2>&1 || { tail -n 5 "$logs/prepare.log" >&2; die "prepare failed"; }
  prepared="$work/prepared"
fi
prepared=$(readlink -f "$prepared")
cd "$prepared" || die "no prepared folder $prepared"
mkdir -p snapshots

step "3/5 GPU training ($iterations iterations)"
"$caffe_cmd" train -solver solver.prototxt -gpu "$gpu" > "$logs/train_gpu.log" 2>&1 ||
  { tail -n 20 "$logs/train_gpu.log" >&2; die "GPU training failed"; }
weights="snapshots/check_iter_${iterations}.caffemodel"

step "4/5 timing: forward + backward, GPU then CPU"
"$caffe_cmd" time -model train_val.prototxt -gpu "$gpu" -iterations 200 > "$logs/time_gpu.log" 2>&1
"$caffe_cmd" time -model train_val.prototxt -iterations 20 > "$logs/time_cpu.log" 2>&1

step "5/5 features of the trained net: GPU vs CPU"
"$caffe_cmd" test -model features.prototxt -weights "$weights" -gpu "$gpu" -iterations 4 \
  > "$logs/features_gpu.log" 2>&1
"$caffe_cmd" test -model features.prototxt -weights "$weights" -iterations 4 \
  > "$logs/features_cpu.log" 2>&1

cd "$root" || exit 1
{
  echo "# siamese-caffe gpu_check, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "caffe_tool: $caffe_cmd"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/nvidia_smi: /'
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //') ($(nproc) threads)"
  echo "iterations: $iterations"
  sed 's/^/doctor: /' "$logs/doctor.log"
  PYTHONPATH="$root" python3 -m siamese_caffe.gpu_check summarize "$work"
} > "$out"
status=$?
cat "$out"
exit $status
