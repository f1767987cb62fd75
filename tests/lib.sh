# Shared helpers for integration tests (bash). Source it; each check prints a TAP line.
# Tests only ever talk to servers on 127.0.0.1.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BUILD:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
RESEND="$BUILD/ottu-resend"
MOCK="$BUILD/ottu-mock"
DATA="$ROOT/tests/data"
T="$(mktemp -d "${TMPDIR:-/tmp}/ottu-test.XXXXXX")"
# OTTU_TEST_HTTP2=1 (tests/integration/test_http2.sh): every send goes through --http2, the
# event loop, so the same checks prove it (the ledger subcommand takes no such option).
if [ -n "${OTTU_TEST_HTTP2:-}" ]; then
  printf '#!/bin/sh\n[ "${1:-}" = ledger ] && exec "%s" "$@"\nexec "%s" --http2 "$@"\n' "$RESEND" "$RESEND" >"$T/ottu-resend"
  chmod +x "$T/ottu-resend"
  RESEND="$T/ottu-resend"
fi
MOCK_PIDS=()
PGT=""
cleanup() {
  local p
  for p in "${MOCK_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  [ -n "$PGT" ] && pg_stop && rm -rf "$PGT"
  rm -rf "$T"
}
trap cleanup EXIT
export OTTU_API_KEY=test-key
# The ledger is always on: each test script gets its own state folder (never the user's).
export XDG_STATE_HOME="$T/state"
unset OTTU_LEDGER
# new_ledger: a fresh ledger for the next scenario of a script whose scenarios reuse
# identifiers (the always-on ledger would otherwise skip them as sent within 24h).
LEDGER_N=0
new_ledger() { LEDGER_N=$((LEDGER_N + 1)); export OTTU_LEDGER="$T/ledger.$LEDGER_N.db"; }
unset OTTU_BASE_URL

# plan N: the number of checks this script runs, first thing after sourcing this file;
# tests/run.sh fails a script that ran another number (it died half-way, a check vanished)
# or declared none.
plan()   { echo "1..$1"; }
ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# skip N REASON: N checks that cannot run here, counted as skipped (never a bare exit 0)
skip()   { local i; for ((i = 0; i < $1; i++)); do echo "ok - # SKIP $2"; done; }
# check NAME CMD...: ok when CMD succeeds
check()  { local n="$1"; shift; if "$@"; then ok "$n"; else not_ok "$n"; fi; }
# check_eq NAME EXPECTED ACTUAL
check_eq() {
  if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1"; printf '#   expected: %q\n#   actual:   %q\n' "$2" "$3"; fi
}

# start_mock [ottu-mock options...]: starts the mock on a free port; sets MOCK_URL, MOCK_PID.
start_mock() {
  local out="$T/mock.$RANDOM.out" i
  "$MOCK" --port 0 "$@" >"$out" 2>"$out.err" &
  MOCK_PID=$!; MOCK_PIDS+=("$MOCK_PID")
  for i in $(seq 1 100); do
    if grep -q '^listening on ' "$out" 2>/dev/null; then
      MOCK_URL=$(head -1 "$out" | sed 's/^listening on //'); return 0
    fi
    sleep 0.05
  done
  echo "# ottu-mock did not start: $(cat "$out.err")"; return 1
}
stop_mock() { kill "${1:-$MOCK_PID}" 2>/dev/null; wait "${1:-$MOCK_PID}" 2>/dev/null; true; }

# col FILE NAME: prints column NAME of a CSV file, one value per line (python's csv module,
# an independent reader).
col() {
  python3 - "$1" "$2" <<'PY'
import csv, signal, sys
signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `col F C | head` is fine
csv.field_size_limit(sys.maxsize)
with open(sys.argv[1], newline='', encoding='utf-8-sig', errors='surrogateescape') as f:
    for r in csv.DictReader(f):
        sys.stdout.buffer.write(r[sys.argv[2]].encode('utf-8', 'surrogateescape') + b'\n')
PY
}
# rows FILE: number of data records (python's csv module)
rows() { python3 -c 'import csv,sys; csv.field_size_limit(sys.maxsize); print(sum(1 for _ in csv.reader(open(sys.argv[1], newline="", encoding="utf-8-sig", errors="surrogateescape")))-1)' "$1"; }

# The witnesses below read ottu-mock's --deliveries file (the mock creates it at start). A
# file that is missing or not CSV makes them print an ERROR line, never the "all is well"
# answer: "nobody twice" must not pass on a run that never started.
# twice DELIVERIES: prints the (identifier, channel) pairs the mock delivered more than
# once, "" when none: the witness of "at most once".
twice() {
  python3 - "$1" <<'PY'
import csv, sys, collections
try:
    with open(sys.argv[1], newline='') as f:
        c = collections.Counter((r[2], r[3]) for r in csv.reader(f) if len(r) > 3)
except Exception as e:
    print(f'ERROR: deliveries file {sys.argv[1]}: {e}'); sys.exit(1)
print(' '.join(f'{i}/{ch}x{n}' for (i, ch), n in sorted(c.items()) if n > 1))
PY
}
# delivered DELIVERIES: number of (identifier, channel) deliveries
delivered() {
  python3 - "$1" <<'PY'
import csv, sys
try:
    with open(sys.argv[1], newline='') as f:
        print(sum(1 for r in csv.reader(f) if len(r) > 3))
except Exception as e:
    print(f'ERROR: deliveries file {sys.argv[1]}: {e}'); sys.exit(1)
PY
}
# lacks TEXT FILE...: every FILE exists and none holds TEXT (`! grep -q TEXT f1 f2` passes
# when a file is missing: grep's status 2 is negated too)
lacks() {
  local s="$1" f; shift
  for f; do [ -f "$f" ] || { echo "# lacks: $f is missing"; return 1; }; done
  ! grep -qF -- "$s" "$@"
}
# xlsx_lacks TEXT WORKBOOK [MEMBERS]: the workbook exists, unzips, and no member holds TEXT
xlsx_lacks() {
  [ -s "$2" ] && unzip -tqq "$2" >/dev/null 2>&1 || { echo "# xlsx_lacks: $2 is missing or not a zip"; return 1; }
  ! unzip -p "$2" ${3:+"$3"} | grep -qE -- "$1"
}
# wait_for SECONDS CMD...: runs CMD every 20 ms until it succeeds; after SECONDS, a # line
# and status 1 (the check that follows then fails: no fixed sleeps, no endless waits)
wait_for() {
  local n=$(($1 * 50)) i; shift
  for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.02; done
  echo "# wait_for: gave up: $*"; return 1
}
# lines_ge FILE N: FILE (a deliveries file) has at least N lines
lines_ge() { [ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]; }
# requests_ge N: the mock has answered or holds at least N notification requests
requests_ge() { [ "$(mock_stat requests)" -ge "$1" ]; }
# delayed_ge N: at least N requests are held by the mock's --latency-ms right now
delayed_ge() { [ "$(mock_stat delayed_now)" -ge "$1" ]; }
# mock_idle: the mock holds no request (what a killed client had in flight has landed)
mock_idle() { [ "$(mock_stat delayed_now)" -eq 0 ]; }
# statuses FILE: "status count" pairs of result_status, sorted
statuses() { col "$1" result_status | sort | uniq -c | awk '{printf "%s %s ", $2, $1}' | sed 's/ $//'; }
# mock_stat KEY: a number from the mock's /__mock/stats
# (grep, not python: the wait helpers below ask it every 20 ms; the top-level keys come first)
mock_stat() {
  local v
  v=$(curl -s "$MOCK_URL/__mock/stats" | grep -oE "\"$1\": [0-9]+" | head -1 | grep -oE '[0-9]+$')
  echo "${v:-0}"
}
# gen_rows N FILE [CHANNELS] [PREFIX]: a message-mode input of N rows
gen_rows() {
  python3 -c "
import sys
n, ch, p = int(sys.argv[1]), sys.argv[2], sys.argv[3]
print('order_no,channels')
for i in range(1, n + 1): print(f'{p}{i:05d},\"{ch}\"')" "$1" "${3:-sms}" "${4:-R}" >"$2"
}

# ---- a real PostgreSQL server for a test (initdb as the postgres user: it refuses root) ----
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
# pg_usable: the server binaries are here, and (as root) a postgres user to run them as.
pg_usable() { [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && { [ "$(id -u)" -ne 0 ] || id postgres >/dev/null 2>&1; }; }
# pg_server: initdb into a folder of its own (reachable by the postgres user; $T is private)
# and pg_start on 127.0.0.1 with a free port; sets PGT, PORT and PG_URI. The server is
# stopped and its folder removed at exit (cleanup). 1 when it could not start (its logs as
# comments).
pg_server() {
  PGT=$(mktemp -d "${TMPDIR:-/tmp}/ottu-pg.XXXXXX")
  chmod 0755 "$PGT"
  [ "$(id -u)" -eq 0 ] && chown postgres "$PGT"
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PG_URI="postgresql://postgres@127.0.0.1:$PORT/postgres"
  if ! as_pg "$PGBIN/initdb" -D "$PGT/data" -A trust -U postgres --no-sync >"$PGT/initdb.log" 2>&1 || ! pg_start; then
    tail -20 "$PGT/initdb.log" "$PGT/server.log" 2>/dev/null | sed 's/^/# /'
    return 1
  fi
}
pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -l "$PGT/server.log" -w -t 60 \
    -o "-p $PORT -k $PGT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" start >/dev/null
}
pg_stop() { as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m immediate stop >/dev/null 2>&1; return 0; }
