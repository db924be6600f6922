#!/usr/bin/env bash
# Pack the `caffe` command-line tool of a build (scripts/install_caffe.sh) with the
# shared libraries it needs, except the CUDA ones, into a relocatable folder or
# .tar.xz. For a GPU host that has the NVIDIA driver and CUDA runtime libraries
# but not Boost, glog, protobuf, OpenCV or OpenBLAS (so pycaffe cannot run there).
#
#   bash scripts/bundle_caffe_tool.sh PREFIX OUT_DIR [--tar FILE.tar.xz]
#   OUT_DIR/caffe --version            # the wrapper: same arguments as Caffe's tool
#   OUT_DIR/caffe_layer_tests ...      # Caffe's layer tests, when the build installed them
#                                      # (install_caffe.sh --gpu compiles them, bin/caffe_layer_tests)
#
# The wrapper starts the tool through the bundled dynamic loader and C library, so
# it does not depend on the host's glibc version; the CUDA libraries (libcudart,
# libcublas, libcurand, the driver's libcuda) are looked up on the host, or taken
# from $CAFFE_CUDA_LIBS (colon-separated folders).
set -euo pipefail

die() { echo "bundle_caffe_tool.sh: error: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: bundle_caffe_tool.sh PREFIX OUT_DIR [--tar FILE.tar.xz]"
prefix=$1 out=$2 tarball=""
shift 2
while [ $# -gt 0 ]; do
  case "$1" in
    --tar) tarball=${2:?--tar needs a file}; shift ;;
    *) die "unknown option '$1'" ;;
  esac
  shift
done
[ -x "$prefix/bin/caffe" ] || die "$prefix/bin/caffe is not a built caffe tool"

# Libraries the host provides: the GPU driver and the CUDA toolkit's runtime libraries.
# cuDNN too (its libcudnn.so.9 loads its other libraries from its own folder).
host_provided='^(linux-vdso|libcuda\.|libcudart\.|libcublas|libcublasLt\.|libcurand\.|libcudnn|libnvidia)'

rm -rf "$out"
mkdir -p "$out/bin" "$out/lib"
tools=(caffe)
[ -x "$prefix/bin/caffe_layer_tests" ] && tools+=(caffe_layer_tests)
for tool in "${tools[@]}"; do cp -L "$prefix/bin/$tool" "$out/bin/$tool.bin"; done
for tool in "${tools[@]}"; do
  LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$prefix/bin/$tool"
done | sort -u |
  awk '/=>/ { print $1, $3 } !/=>/ && /ld-linux/ { print "ld-linux-x86-64.so.2", $1 }' |
  while read -r name path; do
    if echo "$name" | grep -Eq "$host_provided"; then continue; fi
    [ "$path" = "not" ] && continue   # "not found": a CUDA library absent on this machine
    cp -L "$path" "$out/lib/$name"
  done
[ -e "$out/lib/ld-linux-x86-64.so.2" ] || die "no dynamic loader found in ldd's output"
# Symbol tables are not needed to run; the C library and the loader stay untouched.
if command -v strip >/dev/null; then
  find "$out/bin" "$out/lib" -type f ! -name 'ld-linux*' ! -name 'libc.so*' \
    -exec strip --strip-unneeded {} + 2>/dev/null || true
fi

for tool in "${tools[@]}"; do
cat > "$out/$tool" <<'EOF'
#!/bin/sh
# Runs the bundled tool of the same name; see bundle_caffe_tool.sh.
here=$(cd "$(dirname "$0")" && pwd)
tool=$(basename "$0")
cuda=${CAFFE_CUDA_LIBS:+:$CAFFE_CUDA_LIBS}
if [ -z "$cuda" ]; then
  for lib in libcuda.so.1 libcudart.so.13 libcudart.so.12 libcublas.so.13 libcublas.so.12 \
             libcurand.so.10 libcudnn.so.9; do
    dir=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/local/cuda/lib64 /usr/local/cuda/targets \
               /opt /usr/local/lib /usr/lib/python3 -name "$lib" 2>/dev/null | head -n 1)
    [ -n "$dir" ] && cuda="$cuda:$(dirname "$dir")"
  done
fi
exec "$here/lib/ld-linux-x86-64.so.2" --library-path "$here/lib$cuda" "$here/bin/$tool.bin" "$@"
EOF
chmod +x "$out/$tool"
done
echo "bundle_caffe_tool.sh: $(ls "$out/lib" | wc -l) libraries, $(du -sh "$out" | cut -f1) in $out" >&2

if [ -n "$tarball" ]; then
  tar -C "$(dirname "$out")" -cJf "$tarball" "$(basename "$out")"
  echo "bundle_caffe_tool.sh: $(du -h "$tarball" | cut -f1) in $tarball" >&2
fi
