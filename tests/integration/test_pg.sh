#!/usr/bin/env bash
# The PostgreSQL ledger (issue 17) against a real server started here: initdb into a temp
# folder (as the postgres user when run as root: initdb refuses root), pg_ctl on 127.0.0.1
# with a free port, stopped at the end. The ledger's unit tests of claims, settlements,
# budget and concurrent processes run against it (test_ledger with OTTU_TEST_PG), then the
# real binary: a password in the URI refused, an unreachable server, a job recorded in
# PostgreSQL and skipped by a job from another HOME, `ledger stats`.
source "$(dirname "$0")/../lib.sh"
cd "$T" || exit 1

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "ok - # SKIP PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin; apt-get install postgresql)"
  exit 0
fi
as_pg() { if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  echo "ok - # SKIP running as root without a postgres user to run initdb as"
  exit 0
fi

# The server's folder must be reachable by the postgres user; $T is private to us.
PGT=$(mktemp -d "${TMPDIR:-/tmp}/ottu-pg.XXXXXX")
chmod 0755 "$PGT"
[ "$(id -u)" -eq 0 ] && chown postgres "$PGT"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pg_stop() {
  as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m immediate stop >/dev/null 2>&1
  rm -rf "$PGT"
  cleanup
}
trap pg_stop EXIT
if ! as_pg "$PGBIN/initdb" -D "$PGT/data" -A trust -U postgres --no-sync >"$PGT/initdb.log" 2>&1; then
  not_ok "initdb failed"; sed 's/^/# /' "$PGT/initdb.log" | tail -20; exit 1
fi
pg_start() {
  as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -l "$PGT/server.log" -w -t 60 \
    -o "-p $PORT -k $PGT -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60" start >/dev/null
}
if ! pg_start; then
  not_ok "pg_ctl start failed"; tail -20 "$PGT/server.log" | sed 's/^/# /'; exit 1
fi
URI="postgresql://postgres@127.0.0.1:$PORT/postgres"
echo "# PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"

# ---------------------------------------------------------------------------------------
# 1. The ledger's own tests against this server (cmocka, TAP lines).
OTTU_TEST_PG="$URI" CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$BUILD/tests/test_ledger" >unit.out 2>&1; rc=$?
grep -E '^(ok|not ok) |^# ' unit.out
check_eq "test_ledger against PostgreSQL: exit 0" 0 "$rc"

# ---------------------------------------------------------------------------------------
# 2. The real binary.
psql_q() { "$PGBIN/psql" -X -A -t -q "$URI" -c "$1" 2>&1; }
psql_q "DROP SCHEMA IF EXISTS ottu_resend CASCADE" >/dev/null

start_mock --deliveries "$T/del.csv"
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q "$@"; }
cat >in.csv <<'EOF'
order_no,session_id,channels
P-1,,sms
P-2,,email
P-3,,sms;email
,S-4,whatsapp
EOF
run --ledger "postgresql://postgres:hunter2@127.0.0.1:$PORT/postgres" -o pw.csv in.csv 2>pw.err; rc=$?
check_eq "a password in the URI: exit 2" 2 "$rc"
check "a password in the URI: the message says where passwords go" grep -q PGPASSFILE pw.err
check "a password in the URI: never printed" bash -c '! grep -q hunter2 pw.err'
run --ledger postgresql://127.0.0.1:1/postgres?connect_timeout=2 -o down.csv in.csv 2>down.err; rc=$?
check_eq "database unreachable at start: exit 2" 2 "$rc"
check "database unreachable: the message names the ledger" grep -q 'postgresql://127.0.0.1:1' down.err
check_eq "database unreachable: nothing sent" 0 "$(curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')"

HOME="$T/host-a" run --ledger "$URI" -o a.csv in.csv 2>a.err; rc=$?
check_eq "job on host A with the PostgreSQL ledger: exit 0" 0 "$rc"
check_eq "host A: 5 channels in the ledger" 5 "$(psql_q "SELECT count(*) FROM ottu_resend.send_log")"
check_eq "host A: the schema version table says 1" 1 "$(psql_q "SELECT max(version) FROM ottu_resend.version")"
HOME="$T/host-b" OTTU_LEDGER="$URI" run -o b.csv in.csv 2>b.err; rc=$?
check_eq "the next job from host B (OTTU_LEDGER): exit 0" 0 "$rc"
check_eq "host B: every row skipped" "skipped|skipped|skipped|skipped" \
  "$(col b.csv result_status | paste -sd'|' -)"
check_eq "each channel delivered once" 5 "$(python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1]))))' del.csv)"

"$RESEND" ledger stats "$URI" >stats.out 2>stats.err; rc=$?
check_eq "ledger stats on PostgreSQL: exit 0" 0 "$rc"
check "ledger stats: 5 records" grep -qE '^records:[[:space:]]+5$' stats.out
"$RESEND" ledger prune --older-than 1d --dry-run "$URI" >prune.out 2>&1; rc=$?
check_eq "ledger prune --dry-run on PostgreSQL: exit 0, nothing to prune" "0 would prune 0" "$rc $(cut -d' ' -f1-3 prune.out)"
stop_mock
