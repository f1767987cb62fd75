#!/usr/bin/env bash
# Power loss (issue 26): a job runs with build/tests/libpowerloss.so preloaded, which keeps
# for every file of the job's state folder (journal, OUTPUT.job, result .partial, SQLite
# ledger and its -wal) only what was fsynced; it is killed with SIGKILL once K deliveries
# were made (many K), the folder is replaced by that crash image, and `--resume` (without
# --resend-unknown) finishes the job. From ottu-mock's deliveries: no (identifier, channel)
# twice; every input row in the result once; at most -j rows unknown. With the SQLite
# ledger (in the crash image) and with PostgreSQL (a real server that stays up: only the
# host's files lose what was not synced), and once through --http2. Then the journal lost
# beyond a power cut (emptied: refused; deleted while OUTPUT.job says the job is open: a new
# job, the lost job's claimed rows unknown, never sent). OTTU_POWERLOSS_QUICK=1: fewer kill
# points. Run on the code before issue 26 (journal synced once a second) it finds hundreds
# of pairs sent twice.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1

SHIM="$BUILD/tests/libpowerloss.so"
if [ ! -f "$SHIM" ]; then
  not_ok "the power-loss shim $SHIM is built (make unit)"; exit 1
fi
# A sanitizer runtime linked dynamically wants to come first; the shim is harmless to it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

start_mock --deliveries "$T/del.csv" --latency-ms 20 --jitter-ms 30 --seed 7
N=0 # scenarios run, for unique identifiers

# wait_deliveries K PID: until the mock has delivered K more pairs than at the start (or
# the job ended); BASE is the count at the start.
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
wait_deliveries() {
  local k=$1 pid=$2 i
  for i in $(seq 1 3000); do
    [ "$(( $(lines "$T/del.csv") - BASE ))" -ge "$k" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.005
  done
  return 1
}

# scenario NAME ROWS K LEDGER_SPEC OPTIONS...: the whole cycle for one kill point.
# LEDGER_SPEC "sqlite" puts the ledger in the crash-imaged folder; otherwise a URI.
scenario() {
  local name=$1 rows=$2 k=$3 spec=$4; shift 4
  N=$((N + 1))
  local d="$T/s$N" s="$T/s$N/state" h="$T/s$N/image" led j
  mkdir -p "$s" "$h"
  gen_rows "$rows" "$d/in.csv" sms "P${N}-"
  if [ "$spec" = sqlite ]; then led="$s/ledger.db"; else led="$spec"; fi
  j=$(printf '%s\n' "$@" | awk 'p {print; exit} /^-j$/ {p=1}')
  BASE=$(lines "$T/del.csv")
  LD_PRELOAD="$SHIM" POWERLOSS_DIR="$s" POWERLOSS_SHADOW="$h" \
    "$RESEND" --base-url "$MOCK_URL" -q --ledger "$led" -o "$s/out.csv" "$@" "$d/in.csv" 2>"$d/run1.err" &
  local pid=$!
  wait_deliveries "$k" "$pid"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  # The power comes back: the folder holds only what reached the disk.
  rm -rf "$s" && mkdir -p "$s" && cp -a "$h/." "$s/" && rm -f "$s"/.pl-tmp.*
  local before=$(($(lines "$T/del.csv") - BASE))
  "$RESEND" --base-url "$MOCK_URL" -q --ledger "$led" -o "$s/out.csv" --resume "$@" "$d/in.csv" 2>"$d/run2.err"
  local rc=$? dup once unknown
  dup=$(twice "$T/del.csv" | tr ' ' '\n' | grep "^P${N}-" | paste -sd' ' -)
  once=$(col "$s/out.csv" order_no 2>/dev/null | sort | uniq -u | wc -l)
  unknown=$(col "$s/out.csv" result_status 2>/dev/null | grep -c '^unknown$')
  echo "# $name: killed after $before deliveries; resume exit $rc; $(statuses "$s/out.csv" 2>/dev/null)"
  if [ -z "$dup" ] && [ "$once" -eq "$rows" ] && [ "$(rows "$s/out.csv" 2>/dev/null)" = "$rows" ] &&
     [ "$unknown" -le "$j" ] && { [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]; }; then
    ok "$name: nobody twice, every row once, $unknown unknown (<= -j $j)"
  else
    not_ok "$name: twice [${dup:0:300}] rows once $once of $rows, unknown $unknown (-j $j), resume exit $rc"
    sed 's/^/#   /' "$d/run2.err" | head -5
  fi
  TWICE_TOTAL=$((TWICE_TOTAL + $(echo "$dup" | wc -w)))
}

if [ -n "${OTTU_POWERLOSS_QUICK:-}" ]; then KS="5 60"; KS64="40 300"; else KS="1 20 60 150"; KS64="10 64 200 500 900"; fi
# Per backend: a scenario per kill point and one at -r 10; then one --http2 scenario and the
# lost journal's nine checks; without a PostgreSQL server its scenarios are counted skips.
set -- $KS $KS64
PER_BACKEND=$(($# + 1))
plan $((2 * PER_BACKEND + 1 + 9))

run_backend() {
  local spec=$1 label=$2 k
  TWICE_TOTAL=0
  for k in $KS; do scenario "$label -j 8, killed after $k" 300 "$k" "$spec" -r 0 -j 8; done
  for k in $KS64; do scenario "$label -j 64, killed after $k" 1200 "$k" "$spec" -r 0 -j 64; done
  # The default rate (-r 10): requests start one by one.
  scenario "$label -r 10 (default), killed after 8" 30 8 "$spec" -j 8
  echo "# $label: $TWICE_TOTAL pairs delivered twice in all"
}

run_backend sqlite "SQLite ledger"
# --http2: the feeders write the begin records, the event loop's thread only the outcomes.
scenario "SQLite ledger --http2 -j 64, killed after 200" 1200 200 sqlite -r 0 -j 64 --http2

# ---------------------------------------------------------------------------------------
# The journal lost beyond a power cut (a disk replaced, the file deleted or emptied) while
# OUTPUT.job and the ledger's claims of the job survive: nothing proves a claimed row was
# never sent, so none is sent again.
N=$((N + 1)); d="$T/s$N"; mkdir -p "$d"
gen_rows 300 "$d/in.csv" sms "P${N}-"
BASE=$(lines "$T/del.csv")
"$RESEND" --base-url "$MOCK_URL" -q --ledger "$d/l.db" -r 0 -j 8 -o "$d/out.csv" "$d/in.csv" 2>/dev/null &
pid=$!; wait_deliveries 40 "$pid"; kill -9 "$pid"; wait "$pid" 2>/dev/null
check "journal lost: OUTPUT.job says the job is open" grep -q ' open$' "$d/out.csv.job"
: >"$d/out.csv.journal"
"$RESEND" --base-url "$MOCK_URL" -q --ledger "$d/l.db" -r 0 -j 8 -o "$d/out.csv" --resume "$d/in.csv" 2>"$d/empty.err"
rc=$?; after=$(lines "$T/del.csv")
check_eq "journal emptied: --resume refused (exit 2), nothing sent" "2 $after" "$rc $(lines "$T/del.csv")"
check "journal emptied: the message says it is empty" grep -q 'is empty' "$d/empty.err"
rm -f "$d/out.csv.journal"
"$RESEND" --base-url "$MOCK_URL" -q --ledger "$d/l.db" -r 0 -j 8 -o "$d/out.csv" --resume "$d/in.csv" 2>"$d/lost.err"
rc=$?
sent1=$((after - BASE))
echo "# journal lost after $sent1 deliveries: resume exit $rc; $(statuses "$d/out.csv")"
check_eq "journal lost: nobody twice" "" "$(twice "$T/del.csv" | tr ' ' '\n' | grep "^P${N}-" | paste -sd' ' -)"
check_eq "journal lost: every row once in the result" 300 "$(col "$d/out.csv" order_no | sort -u | wc -l)"
check "journal lost: the run says the journal of that job is missing" grep -q 'its journal .* is missing' "$d/lost.err"
check_eq "journal lost: exit 1 (rows need attention)" 1 "$rc"
check "journal lost: rows the lost run claimed are unknown, naming it" \
  grep -Eq 'unknown,.*(claimed|maybe sent \(outcome unknown\)) .*by job .* journal is missing' "$d/out.csv"
check "journal lost: OUTPUT.job now names the finished new job" grep -q ' done$' "$d/out.csv.job"

# ---------------------------------------------------------------------------------------
# PostgreSQL: a real server (as in test_pg.sh) that stays up.
if ! pg_usable; then
  skip "$PER_BACKEND" "PostgreSQL server binaries or the postgres user missing"; exit 0
fi
if ! pg_server; then
  not_ok "PostgreSQL server started"; exit 1
fi
run_backend "$PG_URI" "PostgreSQL ledger"
