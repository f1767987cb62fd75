#!/usr/bin/env bash
# Behaviour mutants: ottu-resend built broken on purpose, one way at a time, and run
# against the test scripts that should notice. A mutant is killed when at least one check
# fails; one that survives means the suite would pass a product that misbehaves so.
#
# How a mutant is made: a copy of src/ (mtimes kept, with the normal build's objects, so
# only the patched file is compiled again) and one sed edit of one well-defined line. No
# #ifdef in the product: the product files stay as they are. When the product changes so
# that an edit no longer applies, the mutant is reported "not built" and counts as a
# failure: update its line below.
#
# Each mutant's scripts run until their first failing check (then they are stopped).
#   MUTANTS="a b"  only these mutants;  MUTANT_JOBS=N  mutants at once (default 3)
#   MUTANT_TIMEOUT=S  a script that neither fails nor ends within S seconds (default 300)
#                     leaves its mutant alive
# Last lines: "mutants: K killed / N total" and "K passed, N failed, 0 skipped".
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
only="${MUTANTS:-}"
MJOBS="${MUTANT_JOBS:-3}"

# (Not here: engine.c's scrub_answer skipped alone survives, because the detail and the stop
# message are scrubbed again where they are made; key_not_scrubbed turns off both.)
# name @ file @ sed expression (must change exactly one line) @ test scripts that must notice
table=$(cat <<'EOF'
retry_ambiguous@src/retry.c@s/decide(retry_ambiguous ? RETRY_AGAIN : RETRY_UNKNOWN,/decide(RETRY_AGAIN,/@test_at_most_once
zero_cooldown@src/cli.c@s/cfg->cooldown_ms = 24LL \* 3600 \* 1000;/cfg->cooldown_ms = 0;/@test_ledger_cli
no_retries@src/engine.c@s/if (made >= e->o.max_attempts) {/if (made >= 1) {/@test_send
no_preflight@src/main.c@s/if (cfg->dry_run || cfg->no_preflight)$/if (1)/@test_tls
http_any_host@src/http.c@s/^\( *\)if (loopback)$/\1if (loopback || 1)/@test_cli
ledger_off@src/pipeline.c@s/^    if (cfg->ledger) {$/    if (0) {/@test_at_most_once
curl_resends_post@src/http.c@s/^        return CURL_PREREQFUNC_ABORT;$/        return CURL_PREREQFUNC_OK;/@test_at_most_once
key_not_scrubbed@src/text.c@/^int text_scrub_secret(char \*s, size_t size, const char \*secret)$/{n;s/^{$/{ return 0;/}@test_at_most_once
EOF
)

if [ ! -x "$BUILD/ottu-resend" ] || [ ! -x "$BUILD/ottu-mock" ] || [ ! -d "$BUILD/obj" ]; then
  echo "not ok - the normal build is missing ($BUILD): make all first"
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/ottu-mutants.XXXXXX")
mkdir -p "$W/tmp"
trap 'rm -rf "$W"' EXIT

# build NAME FILE SED: the mutant's ottu-resend in $W/NAME/build (ottu-mock as is)
build() {
  local d="$W/$1" f="$2" e="$3"
  mkdir -p "$d/build"
  cp -rp "$ROOT/src" "$ROOT/include" "$ROOT/Makefile" "$d/" &&
    cp -rp "$BUILD/obj" "$d/build/" && cp -p "$BUILD/ottu-mock" "$d/build/" || return 1
  sed -i "$e" "$d/$f"
  local changed
  changed=$(diff "$ROOT/$f" "$d/$f" | grep -c '^>')
  if [ "$changed" -ne 1 ]; then echo "# $1: the edit changed $changed lines of $f, not 1"; return 1; fi
  diff "$ROOT/$f" "$d/$f" | sed 's/^/# /'
  make -s -C "$d" BUILD=build build/ottu-resend >"$d/build.log" 2>&1 || { sed 's/^/# /' "$d/build.log" | tail -20; return 1; }
}

# probe SCRIPT BUILD OUT: runs one test script against a mutant's build until its first
# failing check (then stops it: the mutant is caught); 0 when a check failed, 1 when the
# script ended (or timed out) without one. Its temp files are under $W (TMPDIR).
probe() {
  local t="tests/integration/$1.sh" out="$3" pid i limit=$((${MUTANT_TIMEOUT:-300} * 5))
  : >"$out" # before the script starts: the loop below may read it before the child's redirect
  BUILD="$2" TMPDIR="$W/tmp" setsid bash "$t" >"$out" 2>&1 </dev/null &
  pid=$!
  for ((i = 0; i < limit; i++)); do
    if grep -q '^not ok' "$out"; then
      kill -TERM -- "-$pid" 2>/dev/null; wait "$pid" 2>/dev/null; return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "# $1 timed out after ${MUTANT_TIMEOUT:-300}s" >>"$out"
    kill -TERM -- "-$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  grep -q '^not ok' "$out"
}

# one NAME FILE SED TESTS: builds and runs one mutant; its verdict in $W/NAME.log
one() {
  local n="$1" f="$2" e="$3" tests="$4" log="$W/$1.log" t t1 caught=""
  {
    if ! build "$n" "$f" "$e"; then
      echo "not ok - mutant $n: not built (its edit of $f no longer applies: update tests/mutants/run.sh)"
      return
    fi
    for t in $tests; do
      t1=$(date +%s)
      if probe "$t" "$W/$n/build" "$W/$n.$t.out"; then
        caught="$t"
        echo "ok - mutant $n killed by $t in $(($(date +%s) - t1))s"
        grep -m1 '^not ok' "$W/$n.$t.out" | sed 's/^not ok - /#   first failed check: /'
        break
      fi
    done
    [ -n "$caught" ] || {
      echo "not ok - mutant $n survived $tests: add a check that catches it"
      for t in $tests; do echo "#   $t: $(grep -c '^ok' "$W/$n.$t.out") checks passed"; grep '^# .*timed out' "$W/$n.$t.out"; done
    }
  } >"$log" 2>&1
}

t0=$(date +%s)
names=() running=0
while IFS='@' read -r n f e tests; do
  [ -z "$n" ] && continue
  if [ -n "$only" ] && [[ " $only " != *" $n "* ]]; then continue; fi
  names+=("$n")
  if [ "$running" -ge "$MJOBS" ]; then wait -n; running=$((running - 1)); fi
  one "$n" "$f" "$e" "$tests" &
  running=$((running + 1))
done <<<"$table"
wait

killed=0 total=0
for n in "${names[@]}"; do
  total=$((total + 1))
  cat "$W/$n.log"
  grep -q '^ok - mutant' "$W/$n.log" && killed=$((killed + 1))
done
echo "mutants: $killed killed / $total total in $(($(date +%s) - t0))s"
echo "$killed passed, $((total - killed)) failed, 0 skipped"
[ "$killed" -eq "$total" ] && [ "$total" -gt 0 ]
