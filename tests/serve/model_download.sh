#!/bin/sh
# Download a trained model with DIGITS' route and curl, and run it unpacked, away from
# siamese-caffe, with plain pycaffe (tests/use/run_unpacked_bundle.py).
#   SERVER   e.g. http://localhost:5000
#   MODEL    the model's job id
#   PYTHON   an interpreter with pycaffe, numpy and PIL (default: python3)
#   EPOCH    optional: the snapshot's epoch (DIGITS' ?epoch=; default the last)
#   FORMAT   optional: tar.gz (default) or zip
# The arguments are images (pair pictures or grayscale digits); the features go to stdout.
set -eu
SERVER=${SERVER:-http://localhost:5000}
PYTHON=${PYTHON:-python3}
READER=$(cd "$(dirname "$0")/../use" && pwd)/run_unpacked_bundle.py
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

URL="$SERVER/models/$MODEL/download"
[ "${FORMAT:-tar.gz}" = zip ] && URL="$URL.zip"
[ -n "${EPOCH:-}" ] && URL="$URL?epoch=$EPOCH"
curl -sf "$URL" -o "$WORK/model.${FORMAT:-tar.gz}"
mkdir "$WORK/model"
if [ "${FORMAT:-tar.gz}" = zip ]; then
    "$PYTHON" -m zipfile -e "$WORK/model.zip" "$WORK/model"
else
    tar -xzf "$WORK/model.tar.gz" -C "$WORK/model"
fi
echo "unpacked: $(cd "$WORK/model" && ls | tr '\n' ' ')" >&2
cd "$WORK/model"
"$PYTHON" "$READER" . "$@"
