# shellcheck shell=bash
# Sourced by install_caffe.sh: Intel MKL from PyPI (--blas mkl).

fetch_mkl() {
  # Unpack the pinned mkl and mkl-include wheels into $cache_dir/mkl-$MKL_VERSION
  # (include/, lib/ with the unversioned libmkl_rt.so CMake looks for); prints it.
  local root="$cache_dir/mkl-$MKL_VERSION" tmp
  if [ -f "$root/.complete" ]; then echo "$root"; return; fi
  tmp=$(mktemp -d "$cache_dir/.mkl-XXXXXX")
  say "fetching Intel MKL $MKL_VERSION (mkl, mkl-include) from PyPI"
  "$python_bin" -m pip download -q --no-deps --only-binary :all: --dest "$tmp" \
      "mkl==$MKL_VERSION" "mkl-include==$MKL_VERSION" >&2 ||
    die "could not download mkl==$MKL_VERSION / mkl-include==$MKL_VERSION from PyPI"
  check_sha256 "$(ls "$tmp"/mkl-"$MKL_VERSION"-*.whl)" "$MKL_WHEEL_SHA256"
  check_sha256 "$(ls "$tmp"/mkl_include-"$MKL_VERSION"-*.whl)" "$MKL_INCLUDE_WHEEL_SHA256"
  "$python_bin" - "$tmp" <<'PY' >&2 || die "could not unpack the MKL wheels in $tmp"
import glob, os, shutil, sys, zipfile
tmp = sys.argv[1]
for wheel in glob.glob(os.path.join(tmp, "*.whl")):
    zipfile.ZipFile(wheel).extractall(os.path.join(tmp, "unpacked"))
for part in ("lib", "include"):
    for src in glob.glob(os.path.join(tmp, "unpacked", "*.data", "data", part)):
        shutil.copytree(src, os.path.join(tmp, "root", part), dirs_exist_ok=True, symlinks=True)
PY
  ln -sfn libmkl_rt.so.2 "$tmp/root/lib/libmkl_rt.so"
  publish_folder "$tmp/root" "$root"
  rm -rf "$tmp"
  echo "$root"
}
