#!/usr/bin/env bash
# Prepare the kit scripts/gpu_bench.sh runs on a lent GPU host (the GPU device check),
# here, where pycaffe runs. It carries no LMDB (the host writes its own from the digits):
#
#   bash scripts/gpu_bench_prepare.sh [--old PREFIX] [--batched PREFIX] [--cudnn PREFIX]
#                                     [--kit DIR] [--pairs N] [--epochs E]
#
#   --old      a --gpu build without patch 0004 (image by image), e.g. made in a worktree
#              of the commit before it:  install_caffe.sh --gpu --without-opencv --without-python
#   --batched  this checkout's  install_caffe.sh --gpu --without-opencv --without-python
#   --cudnn    this checkout's  install_caffe.sh --cudnn --without-opencv --without-python
#   (any of them may be left out; the kit then times the others)
#   --kit      default gpu_bench_kit/ in the checkout (kept out of git by .git/info/exclude,
#              carried by the device tool's `carry`); it must stay under 64 MiB.
#
# Each build is packed by bundle_caffe_tool.sh (the caffe tool, and caffe_layer_tests when
# the build installed it) as bundles/NAME in KIT/bundles.tar.xz; bench/gpu_kit.py writes the nets, solver and
# digits; the lmdb wheel for the host's Python 3.12 goes to KIT/wheels.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
kit="$root/gpu_bench_kit"
pairs=100000
epochs=30
declare -A builds=()
python=${PYTHON:-$root/.venv/bin/python}
die() { echo "gpu_bench_prepare.sh: error: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case "$1" in
    --old|--batched|--cudnn) builds[${1#--}]=${2:?$1 needs a prefix}; shift ;;
    --kit) kit=${2:?}; shift ;;
    --pairs) pairs=${2:?}; shift ;;
    --epochs) epochs=${2:?}; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift
done
rm -rf "$kit"
mkdir -p "$kit/wheels"
for name in "${!builds[@]}"; do
  bash "$here/bundle_caffe_tool.sh" "${builds[$name]}" "$kit/bundles/$name"
done
# One archive, each library the bundles share stored once (hard links).
if [ ${#builds[@]} -gt 0 ]; then
  first=""
  for dir in "$kit"/bundles/*/; do
    if [ -z "$first" ]; then first=$dir; continue; fi
    for f in "$dir"lib/*; do
      twin="${first}lib/$(basename "$f")"
      if [ -f "$twin" ] && cmp -s "$f" "$twin"; then ln -f "$twin" "$f"; fi
    done
  done
  tar -C "$kit" -cf - bundles | xz -9 -T2 > "$kit/bundles.tar.xz"
  rm -rf "${kit:?}/bundles"
fi
"$python" "$root/bench/gpu_kit.py" "$kit" --pairs "$pairs" --epochs "$epochs"
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
  --implementation cp --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$kit/wheels" lmdb ||
  echo "gpu_bench_prepare.sh: no lmdb wheel downloaded; the host must have the lmdb module" >&2
size=$(du -sm "$kit" | cut -f1)
echo "gpu_bench_prepare.sh: kit $kit, ${size} MiB (carry limit 64 MiB with the checkout)" >&2
[ "$size" -lt 60 ] || die "the kit is ${size} MiB: too large to carry"
