#!/usr/bin/env bash
# Follows README.md's section "Install and use from CMake" word for word, as a new user would: in an empty
# folder holding ist's source as `ist/`, the section's fenced blocks are taken in order; a ```sh block is
# run (bash -e, from that folder), any other block whose first line is a comment naming a file
# (`# myapp/CMakeLists.txt`) is written to that file. The commands are the README's own text, so the test
# fails when the README stops working (e.g. installing from a configure-only tree, ist::native, a consumer
# building a custom decomposer against the installed package).
#
#   readme.sh <ist source> <scratch folder, emptied> [<C++ compiler>]
#
# Exit 77 (ctest: skipped) when a command fails because a data set the README uses (/usr/share/datasets/...)
# is not installed.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "readme.sh: expected <ist source> <scratch folder> [<C++ compiler>], found $# arguments" >&2
  exit 2
fi
src=$(realpath "$1")
scratch=$(realpath -m "$2")
[ $# -ge 3 ] && export CXX="$3"
readme="$src/README.md"
section="## Install and use from CMake"
grep -qx "$section" "$readme" || { echo "readme.sh: $readme: expected a section '$section', found none" >&2; exit 1; }

rm -rf "$scratch"
mkdir -p "$scratch/blocks"
ln -s "$src" "$scratch/ist"

# Split the section into blocks/NN.<info string> files, in order.
awk -v section="$section" -v out="$scratch/blocks" '
  $0 == section { on = 1; next }
  on && /^## / { exit }
  !on { next }
  !fence && /^```/ { fence = 1; n++; info = substr($0, 4); if (info == "") info = "txt"
                     file = sprintf("%s/%02d.%s", out, n, info); printf "" > file; next }
  fence && /^```/ { fence = 0; close(file); next }
  fence { print >> file }
' "$readme"

cd "$scratch"
ran=0
for block in blocks/*; do
  case "$block" in
    *.sh)
      echo "== readme.sh: running README block $(basename "$block"):"
      sed 's/^/   $ /' "$block"
      if ! bash -e "$block"; then
        for data in $(grep -o '/usr/share/datasets/[^ ]*' "$block"); do
          if [ ! -e "$data" ]; then
            echo "SKIPPED: $data not installed, which README.md's commands need"
            exit 77
          fi
        done
        echo "readme.sh: README.md block $(basename "$block") failed" >&2
        exit 1
      fi
      ran=$((ran + 1))
      ;;
    *)
      target=$(head -1 "$block" | sed -En 's:^(#|//) *([A-Za-z0-9_./-]+)$:\2:p')
      if [ -n "$target" ] && [ "${target#/}" = "$target" ]; then
        echo "== readme.sh: writing $target from README block $(basename "$block")"
        mkdir -p "$(dirname "$target")"
        cp "$block" "$target"
      else
        echo "== readme.sh: README block $(basename "$block") names no file on its first line: not used"
      fi
      ;;
  esac
done
if [ "$ran" -lt 2 ]; then
  echo "readme.sh: expected at least 2 sh blocks (install, build a consumer) in '$section', found $ran" >&2
  exit 1
fi
echo "readme.sh: README.md's install and consumer steps work ($ran command blocks)"
