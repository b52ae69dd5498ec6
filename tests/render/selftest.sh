#!/usr/bin/env bash
# The render check can fail: broken LaTeX and broken Markdown math are
# reported (with the right line numbers), well-formed fixtures render, code
# spans are not math, and a missing node_modules says to run scripts/setup.
# Usage: tests/render/selftest.sh
set -uo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
fx="$root/tests/render/fixtures"
render="$root/tools/render/render.mjs"

. "$root/tests/render/prerequisites.sh"
require_renderer selftest "$root"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# expect NAME STATUS PATTERN... -- COMMAND...: the command exits with STATUS,
# and its stdout's lines, each cut at its first ": " after the location, are
# exactly the PATTERNs (grep -E, whole line) in order.
expect() {
  local name="$1" want_status="$2"
  shift 2
  local patterns=()
  while [ "$1" != "--" ]; do patterns+=("$1"); shift; done
  shift
  local status=0
  "$@" >"$tmp/out" 2>"$tmp/err" || status=$?
  local problem=""
  if [ "$status" -ne "$want_status" ]; then
    problem="exit $status, expected $want_status"
  else
    mapfile -t lines <"$tmp/out"
    if [ ${#lines[@]} -ne ${#patterns[@]} ]; then
      problem="${#lines[@]} failure line(s), expected ${#patterns[@]}"
    else
      for i in "${!patterns[@]}"; do
        if ! grep -Eqx -- "${patterns[$i]}" <<<"${lines[$i]}"; then
          problem="line $((i + 1)) does not match /${patterns[$i]}/"
          break
        fi
      done
    fi
  fi
  if [ -n "$problem" ]; then
    echo "FAIL $name: $problem"
    sed 's/^/  stdout: /' "$tmp/out"
    sed 's/^/  stderr: /' "$tmp/err"
    fail=$((fail + 1))
  else
    echo "ok   $name"
    pass=$((pass + 1))
  fi
}

# Also checks stderr: the summary line counts the math items rendered.
expect_items() {
  if grep -q "ok: $1 math item(s)" "$tmp/err"; then
    echo "ok   $2 renders $1 math items"
    pass=$((pass + 1))
  else
    echo "FAIL $2: expected $1 math items; stderr: $(cat "$tmp/err")"
    fail=$((fail + 1))
  fi
}

kerr='KaTeX parse error: .+'

# LaTeX mode.
expect "latex: \\frac{1}{ fails" 1 "stdin:1: $kerr" -- \
  sh -c 'printf "%s\n" "\\frac{1}{" | node "$1" latex' sh "$render"
expect "latex: well-formed formulas render" 0 -- \
  sh -c 'printf "%s\n" "x^{2}" "" "\\frac{1}{2}\\,\\left\\|x\\right\\|_2^{2}" | node "$1" latex' sh "$render"
expect "latex: bad.tex fails on lines 2 and 3 only" 1 "bad.tex:2: $kerr" "bad.tex:3: $kerr" -- \
  node "$render" latex --label bad.tex "$fx/bad.tex"
expect "latex --json: the second item fails" 1 "stdin\\[2\\]: $kerr" -- \
  sh -c 'printf "%s" "[\"x^{2}\", \"\\\\frac{1}{\"]" | node "$1" latex --json' sh "$render"
expect "latex: strict mode rejects LaTeX-incompatible input" 1 "stdin:1: KaTeX parse error: LaTeX-incompatible input.*" -- \
  sh -c 'printf "%s\n" "x % comment" | node "$1" latex' sh "$render"

# Markdown mode.
expect "markdown: good.md renders" 0 -- node "$render" markdown "$fx/good.md"
expect_items 13 "markdown: good.md (code spans and fences are not math)"
expect "markdown: bad.md fails on each broken span" 1 \
  "bad.md:3: $kerr" \
  "bad.md:5: unbalanced \\$: .+" \
  "bad.md:9: $kerr" \
  "bad.md:12: $kerr" \
  "bad.md:15: unbalanced \\$\\$: .+" \
  "bad.md:17: unbalanced \\$\\$: .+" -- \
  node "$render" markdown --label bad.md "$fx/bad.md"
expect "markdown: a broken inline span fails" 1 "stdin:2: $kerr" -- \
  sh -c 'printf "%s\n" "Text \$x\$ and" "\$\\frac{1}{\$ broken." | node "$1" markdown' sh "$render"
expect "markdown: --html writes the page even on failure" 1 "bad.md:3: $kerr" -- \
  sh -c 'printf "%s\n" "" "" "\$\\frac{1}{\$" | node "$1" markdown --label bad.md --html "$2"' sh "$render" "$tmp/page.html"
if grep -q 'class="render-error"' "$tmp/page.html" 2>/dev/null; then
  echo "ok   markdown: the page marks the failure"; pass=$((pass + 1))
else
  echo "FAIL markdown: no render-error in the page"; fail=$((fail + 1))
fi

# render_outputs.sh: a case whose output KaTeX rejects, and a failing command,
# fail the run (cat stands in for matcalc).
printf '%s\n' "# comment" "$fx/bad.tex" >"$tmp/cases_bad.txt"
expect "render_outputs.sh: a rejected output fails" 1 \
  "cases_bad.txt:2 \\(.*\\):2: $kerr" "cases_bad.txt:2 \\(.*\\):3: $kerr" -- \
  bash "$root/tests/render/render_outputs.sh" --matcalc /bin/cat latex "$tmp/cases_bad.txt"
printf '%s\n' "$fx/good.md" "$tmp/no-such-file" >"$tmp/cases_missing.txt"
expect "render_outputs.sh: a failing command fails" 1 "cases_missing.txt:2 \\(.*\\): matcalc failed: .*" -- \
  bash "$root/tests/render/render_outputs.sh" --matcalc /bin/cat markdown "$tmp/cases_missing.txt"

# Without node_modules the renderer fails and says to run scripts/setup.
mkdir "$tmp/bare"
cp "$render" "$root/tools/render/package.json" "$root/tools/render/package-lock.json" "$tmp/bare/"
expect "no node_modules: fails" 2 -- sh -c 'echo x | node "$1" latex' sh "$tmp/bare/render.mjs"
if grep -q "run scripts/setup" "$tmp/err"; then
  echo "ok   no node_modules: says to run scripts/setup"; pass=$((pass + 1))
else
  echo "FAIL no node_modules: no hint to run scripts/setup: $(cat "$tmp/err")"; fail=$((fail + 1))
fi

echo "selftest: $pass checks ok, $fail failed"
[ "$fail" -eq 0 ]
