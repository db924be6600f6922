# shellcheck shell=bash
# Sourced by install_caffe.sh: BUILD_INFO.json, the record of a cache entry that
# `siamese-caffe doctor` prints and the CPU-flag check reads (siamese_caffe/runtime/caffe_env.py).

write_build_info() {
  # write_build_info ROOT: ROOT/BUILD_INFO.json with the source, the patches applied, the
  # flavor, the BLAS (for openblas-native also its kernel set and the CPU flags that set
  # needs), the interpreter's tag, the CMake flags, pycaffe's folder and the build time.
  local root=$1 target="" needs="" p patches=()
  if [ "$blas" = openblas-native ]; then
    target=$openblas_target
    needs=$(openblas_target_cpu_flags "$target")
  fi
  for p in $(patch_files); do patches+=("${p#"$patch_dir"/}"); done
  "$python_bin" - "$root/BUILD_INFO.json" "$CAFFE_SOURCE_PACKAGE $CAFFE_DEBIAN_VERSION" \
      "$flavor" "$blas" "$target" "$needs" "$python_tag" "$(cmake_flags | tr '\n' ' ' | sed 's/ $//')" \
      "$prefix/lib/python3/dist-packages" "${patches[@]}" <<'PY' || die "could not write $root/BUILD_INFO.json"
import datetime, json, sys
path, source, flavor, blas, target, cpu_flags, python, cmake_flags, pythonpath, *patches = sys.argv[1:]
info = {"source": source, "patches": patches, "flavor": flavor, "blas": blas}
if target:
    info.update(blas_target=target, cpu_flags=cpu_flags)
info.update(python=python, cmake_flags=cmake_flags, pythonpath=pythonpath,
            built=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
with open(path, "w") as f:
    json.dump(info, f, indent=2)
    f.write("\n")
PY
}
