# shellcheck shell=bash
# Sourced by install_caffe.sh: messages and the one SHA-256 check.

die() { echo "install_caffe.sh: error: $*" >&2; exit 1; }
say() { echo "install_caffe.sh: $*" >&2; }

check_sha256() {
  # check_sha256 FILE EXPECTED: the file exists and its SHA-256 is the pinned one.
  [ -f "$1" ] || die "missing source file $1"
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || die "$1: sha256 $got is not the pinned $2 (not the version this script builds?)"
}

has_flags() {
  # has_flags " FLAG FLAG ... " WANTED...: every wanted flag is in the space-padded list.
  local all=$1 flag
  shift
  for flag in "$@"; do [[ "$all" == *" $flag "* ]] || return 1; done
}

publish_folder() {
  # publish_folder BUILT ENTRY: mark a finished folder complete and move it into place
  # (a reader tests ENTRY/.complete, so it never sees a half-made entry).
  touch "$1/.complete"
  rm -rf "$2"
  mv "$1" "$2"
}
