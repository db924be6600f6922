#!/usr/bin/env bash
# Make the base image the Dockerfiles start from (debian:bookworm-slim) locally,
# from Debian's own packages, for hosts that cannot reach an image registry.
#
#   sudo bash scripts/make_base_image.sh                 # -> debian:bookworm-slim
#   sudo bash scripts/make_base_image.sh --tag local/bookworm-slim --mirror URL
#
# This is the fallback. The normal path is `docker pull debian:bookworm-slim`
# (docker build pulls it by itself). What this script makes is close to the
# official slim image: debootstrap's minbase variant (essential + apt), no
# documentation, man pages or locales, no apt lists, and apt told to keep it so.
set -euo pipefail

suite=bookworm
tag=debian:bookworm-slim
mirror=""
keep=0

usage() {
  cat <<EOF
usage: bash scripts/make_base_image.sh [options]     (as root; needs debootstrap and docker)

Builds a minimal Debian $suite root file system with debootstrap and imports it
into the local Docker engine as $tag.

options:
  --tag NAME        the image name to give it (default: $tag)
  --mirror URL      the Debian mirror to bootstrap from (default: the first Debian
                    mirror in this machine's own apt sources)
  --keep            keep the unpacked root file system (its path is printed)
  -h, --help        this text
EOF
}

die() { echo "make_base_image.sh: error: $*" >&2; exit 1; }
say() { echo "make_base_image.sh: $*" >&2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --tag) tag=${2:?--tag needs a value}; shift ;;
    --mirror) mirror=${2:?--mirror needs a value}; shift ;;
    --keep) keep=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
  shift
done

[ "$(id -u)" = 0 ] || die "debootstrap needs root"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (is dockerd running?)"

# shellcheck source=apt_mirrors.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt_mirrors.sh"

if [ -z "$mirror" ]; then
  mirror=$(system_debian_mirror || true)
  [ -n "$mirror" ] || die "no Debian mirror in this machine's apt sources; pass --mirror URL"
fi
mirror=${mirror%/}
security=$(apt_mirrors | grep -E '/debian-security/?$' | head -n 1 || true)
security=${security%/}
security=${security:-${mirror}-security}

root=$(mktemp -d /var/tmp/bookworm-slim.XXXXXX)
cleanup() { [ "$keep" = 1 ] || rm -rf "$root"; }
trap cleanup EXIT

say "debootstrap --variant=minbase $suite from $mirror into $root"
debootstrap --variant=minbase --components=main "$suite" "$root" "$mirror" >&2 ||
  die "debootstrap failed (log: $root/debootstrap/debootstrap.log)"

# apt sources as the official image has them (deb822), pointing at the same mirror.
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

# Keep it slim: no documentation or locales from later installs either, no apt lists.
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
cat > "$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' > "$root/etc/apt/apt.conf.d/docker-no-languages"
echo 'APT::AutoRemove::SuggestsImportant "false";' > "$root/etc/apt/apt.conf.d/docker-autoremove-suggests"
find "$root/usr/share/doc" -mindepth 2 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/groff/* "$root"/usr/share/lintian/*
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -rf "$root"/var/log/* "$root"/tmp/* "$root"/debootstrap
: > "$root/etc/hostname"
: > "$root/etc/resolv.conf"
rm -f "$root/etc/machine-id" && : > "$root/etc/machine-id"

say "importing into docker as $tag"
tar --numeric-owner --xattrs -C "$root" -c . |
  docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --message "debootstrap --variant=minbase $suite (scripts/make_base_image.sh)" - "$tag" >&2 ||
  die "docker import failed"
[ "$keep" = 0 ] || say "root file system kept in $root"
docker image ls "$tag" >&2
echo "$tag"
