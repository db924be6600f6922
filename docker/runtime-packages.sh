#!/usr/bin/env bash
# List the Debian packages the final image needs to run what the build stage made:
# every shared library that the ELF files under the given folders load (ldd), mapped
# to the package that owns it (dpkg -S). Libraries under /opt (Caffe itself, the
# venv's wheels, NVIDIA's wheels) travel with their folders and are not listed.
#
#   bash docker/runtime-packages.sh FOLDER... > runtime-packages.txt
#
# Fails when a library cannot be found, or belongs to no package and lies outside
# /opt: the final image would not run.
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: runtime-packages.sh FOLDER..." >&2; exit 2; }

elf_files() {
  find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 |
    while IFS= read -r -d '' f; do
      [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] && echo "$f"
    done
}

owner() {
  # The package owning library $1, trying the path as given, resolved, and /usr-merged.
  local p=$1 q
  for q in "$p" "$(readlink -f "$p")" "${p#/usr}" "/usr$p"; do
    dpkg -S "$q" 2>/dev/null | head -n 1 | cut -d: -f1 && return 0
  done
  return 1
}

status=0
libs=$(elf_files "$@" | while read -r f; do
  LD_LIBRARY_PATH="" ldd "$f" 2>/dev/null | while read -r name arrow path _; do
    if [ "$arrow" = "=>" ] && [ "$path" = "not" ]; then echo "MISSING $name (needed by $f)"
    elif [ "$arrow" = "=>" ] && [ -n "$path" ]; then echo "$path"
    fi
  done
done | sort -u)

missing=$(grep '^MISSING ' <<<"$libs" || true)
if [ -n "$missing" ]; then echo "runtime-packages.sh: $missing" >&2; status=1; fi

for lib in $(grep -v '^MISSING ' <<<"$libs"); do
  case "$lib" in /opt/*) continue ;; esac
  if ! owner "$lib"; then
    echo "runtime-packages.sh: $lib belongs to no Debian package" >&2; status=1
  fi
done | sort -u
exit $status
