#!/bin/sh
# The images' entry point: runs `siamese-caffe "$@"` in /work.
#
# Files written into the mounted /work must belong to the caller, not to root.
# `docker run -u "$(id -u):$(id -g)" ...` does that directly. Without -u the
# container starts as root, and this script drops to the owner of /work (the
# folder mounted from the host) before running anything, so the result is the
# same. A root-owned /work (or SIAMESE_CAFFE_AS_ROOT=1) keeps root.
set -eu

if [ "$(id -u)" = 0 ] && [ "${SIAMESE_CAFFE_AS_ROOT:-0}" != 1 ] && [ -d /work ]; then
  uid=$(stat -c %u /work)
  gid=$(stat -c %g /work)
  if [ "$uid" != 0 ]; then
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups \
      env HOME=/tmp siamese-caffe "$@"
  fi
fi
exec siamese-caffe "$@"
