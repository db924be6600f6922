#!/usr/bin/env bash
# List the Debian packages the final image needs to run what the build stage made:
# every shared library that the ELF files under the given folders load (ldd), mapped
# to the package that owns it (dpkg -S). Libraries inside those folders or under /opt
# (Caffe itself, the venv's wheels, NVIDIA's wheels) travel with them: not listed.
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
      if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then echo "$f"; fi
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

libs=$(elf_files "$@" | while read -r f; do
  { LD_LIBRARY_PATH="" ldd "$f" 2>/dev/null || true; } | while read -r name arrow path _; do
    if [ "$arrow" = "=>" ] && [ "$path" = "not" ]; then echo "MISSING $name"
    elif [ "$arrow" = "=>" ] && [ -n "$path" ]; then echo "$path"
    fi
  done
done | sort -u)

# A wheel's vendored libraries (numpy.libs/, pillow.libs/) find each other only once
# the extension module that needs them has loaded them; they are not missing.
shipped=$(find "$@" -type f -printf '%f\n' | sort -u)
missing=$(grep '^MISSING ' <<<"$libs" | while read -r _ name; do
  grep -qxF "$name" <<<"$shipped" || echo "$name"
done | tr '\n' ' ')
[ -z "$missing" ] || { echo "runtime-packages.sh: not found: $missing" >&2; exit 1; }

inside() {
  # Whether library $1 lies in one of the scanned folders (it travels with them).
  local real dir
  real=$(readlink -f "$1")
  for dir in "${folders[@]}"; do case "$real" in "$dir"/*) return 0 ;; esac; done
  return 1
}

folders=()
for dir in "$@"; do folders+=("$(readlink -f "$dir")"); done
packages=() orphans=()
for lib in $(grep -v '^MISSING ' <<<"$libs"); do
  case "$lib" in /opt/*) continue ;; esac
  if inside "$lib"; then continue; fi
  if package=$(owner "$lib"); then packages+=("$package"); else orphans+=("$lib"); fi
done
[ ${#orphans[@]} = 0 ] || { echo "runtime-packages.sh: in no Debian package: ${orphans[*]}" >&2; exit 1; }
printf '%s\n' "${packages[@]}" | sort -u
