#!/bin/sh
# docs/cookbook.md must be exactly what `matcalc rules --format markdown`
# prints now. Usage: check_cookbook.sh MATCALC SOURCE_DIR
set -eu
matcalc=$1
doc=$2/docs/cookbook.md
if ! "$matcalc" rules --format markdown | diff -u "$doc" -; then
  echo "docs/cookbook.md is out of date: run 'cmake --build build --target cookbook' and commit it" >&2
  exit 1
fi
