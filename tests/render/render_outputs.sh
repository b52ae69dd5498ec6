#!/usr/bin/env bash
# Runs matcalc on each case of a case list and renders every output with the
# real renderer (tools/render/render.mjs: KaTeX, markdown-it); fails when a
# case's matcalc fails or when KaTeX rejects anything it printed.
#
# Usage: tests/render/render_outputs.sh [--matcalc PATH] [--html FILE] [--whole]
#                                       latex|markdown CASES_FILE
#   --matcalc PATH  the binary to run (default: build/matcalc)
#   --html FILE     also write the rendered HTML of all cases to FILE
#   --whole         latex mode: a case's whole output is one (multi-line)
#                   formula, not one formula per line
#
# CASES_FILE: one matcalc command line per line, quoted as in a shell but
# without the `matcalc` (e.g. `grad "x'*A*x" --wrt x --format latex`); blank
# lines and lines starting with # are skipped. The words are split by xargs,
# so '...' and "..." quote, and nothing is expanded. Each case's output is one
# renderer input: in latex mode one formula per line, in markdown mode one
# document. A failure names the case (file:line and its arguments), then the
# line of matcalc's output, then KaTeX's message.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
matcalc="$root/build/matcalc"
render_opts=()
while [ $# -gt 0 ]; do
  case "$1" in
    --matcalc) matcalc="$2"; shift 2 ;;
    --html) render_opts+=(--html "$2"); shift 2 ;;
    --whole) render_opts+=(--whole); shift ;;
    --) shift; break ;;
    -*) echo "render_outputs: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || { echo "usage: $0 [--matcalc PATH] [--html FILE] [--whole] latex|markdown CASES_FILE" >&2; exit 2; }
mode="$1"
cases="$2"

. "$root/tests/render/prerequisites.sh"
require_renderer render_outputs "$root"
[ -x "$matcalc" ] || { echo "render_outputs: FAILED: no matcalc binary at $matcalc" >&2; exit 1; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

inputs=()
ncases=0
failed=0
lineno=0
name="$(basename "$cases")"
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
  ncases=$((ncases + 1))
  label="$name:$lineno ($line)"
  if ! mapfile -d '' args < <(printf '%s\n' "$line" | xargs printf '%s\0'); then
    echo "$label: cannot split into words (unbalanced quote?)"
    failed=$((failed + 1))
    continue
  fi
  out="$tmp/case$lineno.out"
  if ! "$matcalc" "${args[@]}" >"$out" 2>"$tmp/err"; then
    echo "$label: matcalc failed: $(tr '\n' ' ' <"$tmp/err")"
    failed=$((failed + 1))
    continue
  fi
  if [ ! -s "$out" ]; then
    echo "$label: matcalc printed nothing"
    failed=$((failed + 1))
    continue
  fi
  inputs+=(--label "$label" "$out")
done <"$cases"

if [ "$ncases" -eq 0 ]; then
  echo "render_outputs: no cases in $cases yet"
  exit 0
fi
status=0
if [ ${#inputs[@]} -gt 0 ]; then
  node "$root/tools/render/render.mjs" "$mode" "${render_opts[@]}" "${inputs[@]}" || status=$?
fi
if [ "$failed" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "render_outputs: FAILED: $mode cases of $cases: $failed matcalc failure(s), renderer exit $status" >&2
  exit 1
fi
echo "render_outputs: ok: $ncases $mode case(s) of $name rendered"
