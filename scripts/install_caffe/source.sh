# shellcheck shell=bash
# Sourced by install_caffe.sh: fetching, checking and unpacking Debian source packages
# (Caffe's, and OpenBLAS's for --blas openblas-native), and applying our patches.

fetch_debian_source() {
  # fetch_debian_source DEST PACKAGE VERSION SUITE: download a pinned source package into
  # DEST through a private apt configuration (its own sources, lists and cache), so the
  # system's apt setup is left alone.
  local dest=$1 package=$2 version=$3 suite=$4 apt_dir=$1/apt url
  # the first Debian mirror of this machine's apt sources (read only when no --mirror is
  # given; a build from --dsc, as in Dockerfile.cuda, never comes here)
  # shellcheck source=../apt_mirrors.sh
  url=${mirror:-$(source "$scripts_dir/apt_mirrors.sh"; system_debian_mirror)}
  [ -n "$url" ] || die "no Debian mirror found in this machine's apt sources; pass --mirror URL or --dsc FILE"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/sources.list.d"
  cat > "$apt_dir/sources.list.d/$package-src.sources" <<SOURCES
Types: deb-src
URIs: $url
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  local opts=(-o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$apt_dir/sources.list.d"
              -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir"
              -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  say "fetching $package $version from $url ($suite)"
  apt-get "${opts[@]}" update -qq >&2 ||
    die "apt-get update for $url $suite failed (offline? suite retired? try --mirror or --dsc)"
  (cd "$dest" && apt-get "${opts[@]}" source --download-only -qq "$package=$version" >&2) ||
    die "could not download $package=$version from $url"
  rm -rf "$apt_dir"
}

verify_source_package() {
  # verify_source_package DSC PACKAGE VERSION DSC_SHA256 ORIG_SHA256 DEBIAN_SHA256: the
  # .dsc says it is VERSION, and it, its .orig tarball and its .debian tarball (beside
  # it, named as Debian names them) have the pinned SHA-256 sums.
  local dsc=$1 version=$3 found base origs
  found=$(sed -n 's/^Version: //p' "$dsc" | head -n 1)
  [ "$found" = "$version" ] || die "$dsc: Version is '$found', this script builds $version"
  base=$(dirname "$dsc")/$2
  origs=("${base}_${version%-*}".orig.tar.*)
  check_sha256 "$dsc" "$4"
  check_sha256 "${origs[0]}" "$5"
  check_sha256 "${base}_$version.debian.tar.xz" "$6"
}

fetch_source() {
  # The pinned Caffe source package into $1; sets dsc_file.
  fetch_debian_source "$1" "$CAFFE_SOURCE_PACKAGE" "$CAFFE_DEBIAN_VERSION" "$CAFFE_SOURCE_SUITE"
  dsc_file="$1/${CAFFE_SOURCE_PACKAGE}_${CAFFE_DEBIAN_VERSION}.dsc"
}

verify_source() {
  verify_source_package "$dsc_file" "$CAFFE_SOURCE_PACKAGE" "$CAFFE_DEBIAN_VERSION" \
    "$DSC_SHA256" "$ORIG_SHA256" "$DEBIAN_SHA256"
}

unpack_and_patch() {
  # Unpack with Debian's patches applied (dpkg-source), then apply ours in order.
  local src=$1 p
  dpkg-source --no-check -x "$dsc_file" "$src" >&2 || die "dpkg-source could not unpack $dsc_file"
  for p in $(patch_files); do
    say "applying ${p#"$patch_dir"/}"
    patch -d "$src" -p1 --forward --batch --quiet < "$p" >&2 || die "patch $(basename "$p") does not apply"
  done
}

download_source_only() {
  # --download-only DIR: fetch and check the Caffe source package, build nothing.
  mkdir -p "$download_only"
  download_only=$(cd "$download_only" && pwd)   # apt-get source runs in it: no relative paths
  fetch_source "$download_only"
  verify_source
  say "source package checked; build later with --dsc $dsc_file"
  echo "$dsc_file"
}
