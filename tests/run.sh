#!/usr/bin/env bash
# Runs every unit test binary and every integration script, several at a time, and counts
# their TAP lines. The last line printed is "N passed, N failed, N skipped".
#
#   TESTS="a b"       only the tests whose path contains one of these words
#   TESTS_SKIP="a b"  leave these out (a sanitizer tier); listed, not counted
#   JOBS=N            tests run at once (default: twice the CPUs; the tests mostly wait)
#   TEST_TIMEOUT=S    seconds a test may take (default 600)
#
# Counting: "ok" is a pass, "not ok" a failure, either with "# SKIP" a skip. A test that
# exits non-zero (a cmocka binary: with no failed test to show for it), that prints no plan
# ("1..N", tests/lib.sh `plan N`), or that runs another number of checks than it planned
# adds a failure: a script that dies half-way cannot lose its remaining checks unseen.
# Each test's output is kept apart and printed in a fixed order once all have finished.
set -u
cd "$(dirname "$0")/.."
export BUILD="${BUILD:-build}"
JOBS="${JOBS:-$(($(nproc 2>/dev/null || echo 2) * 2))}"
only="${TESTS:-}"
skip="${TESTS_SKIP:-}"
out=$(mktemp -d "${TMPDIR:-/tmp}/ottu-run.XXXXXX")
trap 'rm -rf "$out"' EXIT
# How long each test took last time (here), so that the slowest start first.
times="$BUILD/.test-times"

matches() { local w; for w in $2; do [[ "$1" == *"$w"* ]] && return 0; done; return 1; }

tests=() left_out=()
for t in "$BUILD"/tests/test_* tests/integration/test_*.sh; do
  case "$t" in *.d|*.o) continue ;; esac
  [ -f "$t" ] || continue
  case "$t" in *.sh) ;; *) [ -x "$t" ] || continue ;; esac
  [ -n "$only" ] && ! matches "$t" "$only" && continue
  if [ -n "$skip" ] && matches "$t" "$skip"; then left_out+=("${t##*/}"); continue; fi
  tests+=("$t")
done
if [ ${#tests[@]} -eq 0 ]; then
  echo "not ok - no test matched TESTS='$only' (build first: make all unit)"
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi

# run_one INDEX PATH: runs one test into $out/INDEX.{out,rc,sec}
run_one() {
  local i="$1" t="$2" start rc
  start=$(date +%s.%N)
  if [[ "$t" == *.sh ]]; then
    timeout "${TEST_TIMEOUT:-600}" bash "$t" >"$out/$i.out" 2>&1 </dev/null; rc=$?
  else
    CMOCKA_MESSAGE_OUTPUT=TAP timeout "${TEST_TIMEOUT:-600}" "$t" >"$out/$i.out" 2>&1 </dev/null; rc=$?
  fi
  echo "$rc" >"$out/$i.rc"
  awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f\n", e - s }' >"$out/$i.sec"
}

# The slowest (by last run) first, so that the pool does not end waiting on one long test.
order=$(for i in "${!tests[@]}"; do
  n="${tests[$i]##*/}"
  s=$(awk -v n="$n" '$1 == n { s = $2 } END { print s + 0 }' "$times" 2>/dev/null || echo 0)
  echo "$s $i"
done | sort -rn -k1,1 | awk '{print $2}')

t0=$(date +%s)
running=0
for i in $order; do
  if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
  run_one "$i" "${tests[$i]}" &
  running=$((running + 1))
done
wait
wall=$(($(date +%s) - t0))

pass=0 fail=0 skipped=0
: >"$out/times"
for i in "${!tests[@]}"; do
  t="${tests[$i]}" n="${tests[$i]##*/}" log="$out/$i.out"
  rc=$(cat "$out/$i.rc" 2>/dev/null || echo 255) sec=$(cat "$out/$i.sec" 2>/dev/null || echo 0)
  echo "$n $sec" >>"$out/times"
  if [[ "$t" == *.sh ]]; then kind=integration; else kind=unit; fi
  echo "# $kind: $n (${sec}s)"
  grep -E '^(ok|not ok)( |$)|^#|^1\.\.[0-9]+' "$log" | grep -vE '^# (ok|not ok) - ' | sed 's/^/  /'
  s=$(grep -ciE '^(ok|not ok)\b.*# skip' "$log")
  p=$(grep -E '^ok( |$)' "$log" | grep -civE '# skip')
  f=$(grep -E '^not ok( |$)' "$log" | grep -civE '# skip')
  ran=$((p + f + s))
  planned=$(awk -F'[.]+' '/^1\.\.[0-9]+/ { n += $2; seen = 1 } END { if (seen) print n }' "$log")
  extra=()
  if [ "$kind" = unit ]; then
    # cmocka exits with the number of failed tests: non-zero with none shown is a crash
    [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && extra+=("$n exited with status $rc")
  else
    [ "$rc" -ne 0 ] && extra+=("$n exited with status $rc$([ "$rc" -eq 124 ] && echo ' (timed out)')")
  fi
  if [ -z "$planned" ]; then
    extra+=("$n declared no plan (tests/lib.sh: plan N at the top)")
  elif [ "$ran" -ne "$planned" ]; then
    extra+=("$n planned $planned checks, ran $ran")
  fi
  for e in "${extra[@]}"; do echo "  not ok - $e"; done
  f=$((f + ${#extra[@]}))
  # the diagnostics of a failing test, to read without running it again
  if [ "$f" -gt 0 ]; then grep -vE '^(ok|not ok)( |$)|^1\.\.' "$log" | tail -30 | sed 's/^/  | /'; fi
  pass=$((pass + p)) fail=$((fail + f)) skipped=$((skipped + s))
done
[ ${#left_out[@]} -gt 0 ] && echo "# not run in this tier (TESTS_SKIP): ${left_out[*]}"
echo "# ran ${#tests[@]} tests (${JOBS} at a time) in ${wall}s; slowest: $(sort -k2 -rn "$out/times" | head -3 | awk '{printf "%s %ss ", $1, $2}')"
# keep the times of tests not run this time
if [ -w "$BUILD" ] || [ -w "$times" ]; then
  { cat "$out/times"; [ -f "$times" ] && cat "$times"; } | awk '!seen[$1]++' >"$out/times.new" \
    && mv "$out/times.new" "$times" 2>/dev/null
fi
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
