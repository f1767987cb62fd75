#!/usr/bin/env bash
# Runs every unit test binary and every integration script; counts TAP-style
# "ok"/"not ok" lines. The last line printed is "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
export BUILD="${BUILD:-build}"
pass=0 fail=0
log=$(mktemp); trap 'rm -f "$log"' EXIT

count() { # $1 = name, $2 = exit status; reads the TAP lines in $log
  local p f
  p=$(grep -cE '^ok ' "$log"); f=$(grep -cE '^not ok ' "$log")
  if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $1 exited with status $2"; f=1
  fi
  pass=$((pass + p)); fail=$((fail + f))
}

only="${TESTS:-}"
# TESTS_SKIP: names (substrings) of tests to leave out, e.g. in the sanitizer runs those
# that exercise no C code beyond the normal run (install files, YAML, the Dockerfile).
skip="${TESTS_SKIP:-}"
skipped() { local s; for s in $skip; do [[ "$1" == *$s* ]] && return 0; done; return 1; }
for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  skipped "$t" && continue
  echo "# unit: ${t##*/}"
  CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$t" >"$log" 2>&1; rc=$?
  grep -E '^(ok|not ok) |^#' "$log" | grep -v '^# ok' | sed 's/^/  /'
  count "${t##*/}" $rc
done
for t in tests/integration/test_*.sh; do
  [ -f "$t" ] || continue
  [ -n "$only" ] && [[ "$t" != *$only* ]] && continue
  if skipped "$t"; then echo "# integration: ${t##*/}: skipped in this run (TESTS_SKIP)"; continue; fi
  echo "# integration: ${t##*/}"
  timeout 600 bash "$t" >"$log" 2>&1; rc=$?
  sed 's/^/  /' "$log" | grep -E '^  (ok|not ok|#)' 
  grep -qE '^not ok ' "$log" && grep -vE '^(ok|not ok) ' "$log" | tail -30 | sed 's/^/  | /'
  count "${t##*/}" $rc
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
