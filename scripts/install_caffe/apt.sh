# shellcheck shell=bash
# Sourced by install_caffe.sh: the Debian packages Caffe's build needs.

apt_packages() {
  # One package a line: the build tools and libraries, and the BLAS of --blas.
  printf '%s\n' build-essential cmake pkg-config dpkg-dev patch \
    libboost-filesystem-dev libboost-system-dev libboost-thread-dev libboost-python-dev \
    libgflags-dev libgoogle-glog-dev libhdf5-dev liblmdb-dev libopencv-dev \
    libprotobuf-dev protobuf-compiler \
    graphviz            # pycaffe's caffe.draw renders network pictures with it
  case "$blas" in
    openblas-openmp|openblas-pthread) echo "lib$blas-dev" ;;
    blis) echo libblis-openmp-dev ;;
    atlas) echo libatlas-base-dev ;;
    mkl) ;;             # from PyPI, see fetch_mkl
  esac
  [ -n "$dsc_file" ] || echo debian-archive-keyring
}

missing_apt_packages() {
  local p
  for p in $(apt_packages); do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

ensure_apt_packages() {
  local missing
  missing=$(missing_apt_packages | tr '\n' ' ')
  [ -z "${missing// /}" ] && return 0
  if [ "$install_apt" = no ] || [ "$(id -u)" != 0 ]; then
    die "missing build packages; run: sudo apt-get install -y --no-install-recommends $missing"
  fi
  say "installing build packages: $missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >&2 || die "apt-get install failed: $missing"
}
