#!/usr/bin/env bash
# The PostgreSQL ledger (issue 17) against a real server started here: initdb into a temp
# folder (as the postgres user when run as root: initdb refuses root), pg_ctl on 127.0.0.1
# with a free port, stopped at the end. The ledger's unit tests of claims, settlements,
# budget and concurrent processes run against it (test_ledger with OTTU_TEST_PG), then the
# real binary: a password in the URI refused, an unreachable server, a job recorded in
# PostgreSQL and skipped by a job from another HOME, `ledger stats`; then end to end:
# four processes with their own HOME ("hosts") over overlapping inputs at once (each
# channel delivered once, the mock's deliveries say so), the next night from a fifth
# host (all skipped), the database stopped mid-job (the job stops, nothing sent after)
# and started again for --resume (every row accounted for, nobody notified twice); a new
# ledger's storage (keys in byte order, room for HOT settlements), and a ledger made by an
# earlier release (keys in the database's collation, fillfactor 60) still used correctly.
source "$(dirname "$0")/../lib.sh"
plan 42  # and test_ledger's own checks against the server, which declare their own plan
cd "$T" || exit 1

if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  skip 42 "PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin; tests/deps.sh installs postgresql)"
  exit 0
fi
if ! pg_usable; then
  skip 42 "running as root without a postgres user to run initdb as"
  exit 0
fi
if ! pg_server; then
  not_ok "PostgreSQL server started"; exit 1
fi
URI="$PG_URI"
echo "# PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT"

# ---------------------------------------------------------------------------------------
# 1. The ledger's own tests against this server (cmocka, TAP lines).
OTTU_TEST_PG="$URI" CMOCKA_MESSAGE_OUTPUT=TAP timeout 300 "$BUILD/tests/test_ledger" >unit.out 2>&1; rc=$?
# (its own plan line too: tests/run.sh adds it to this script's plan)
grep -E '^(ok|not ok) |^# |^1\.\.' unit.out
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
check "a password in the URI: never printed" lacks hunter2 pw.err
run --ledger postgresql://127.0.0.1:1/postgres?connect_timeout=2 -o down.csv in.csv 2>down.err; rc=$?
check_eq "database unreachable at start: exit 2" 2 "$rc"
check "database unreachable: the message names the ledger" grep -q 'postgresql://127.0.0.1:1' down.err
check_eq "database unreachable: nothing sent" 0 "$(curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["requests"])')"

HOME="$T/host-a" run --ledger "$URI" -o a.csv in.csv 2>a.err; rc=$?
check_eq "job on host A with the PostgreSQL ledger: exit 0" 0 "$rc"
check_eq "host A: 5 channels in the ledger" 5 "$(psql_q "SELECT count(*) FROM ottu_resend.send_log")"
check_eq "host A: the schema version table says 2 (created as 1, migrated: per-API records, leases, identity)" 2 "$(psql_q "SELECT max(version) FROM ottu_resend.version")"
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
OTTU_LEDGER="postgres://postgres:hunter2@127.0.0.1:$PORT/postgres" run -o pw2.csv in.csv 2>pw2.err; rc=$?
check_eq "a password in OTTU_LEDGER (postgres://): exit 2, never printed" "2 0" "$rc $(grep -c hunter2 pw2.err)"

# ---------------------------------------------------------------------------------------
# 3. Four hosts at once over overlapping inputs: host i has identifiers C-(150 i)..+399,
# channels sms;email on even hosts and email;whatsapp on odd ones, so most pairs are
# wanted by two or three processes. Two pass --ledger, two OTTU_LEDGER.
start_mock --deliveries "$T/conc.del"
python3 - "$T" <<'PY'
import sys
t = sys.argv[1]
want = set()
for i in range(4):
    chans = ["sms", "email"] if i % 2 == 0 else ["email", "whatsapp"]
    with open(f"{t}/conc{i}.csv", "w") as f:
        f.write("order_no,channels\n")
        for n in range(150 * i, 150 * i + 400):
            f.write(f"C-{n:05d},{';'.join(chans)}\n")
            want.update((f"C-{n:05d}", c) for c in chans)
open(f"{t}/conc.want", "w").write(str(len(want)))
PY
pids=()
for i in 0 1 2 3; do
  mkdir -p "$T/host$i"
  if [ $((i % 2)) -eq 0 ]; then
    HOME="$T/host$i" XDG_STATE_HOME="$T/host$i/state" run -j 8 --ledger "$URI" -o "$T/conc$i.out.csv" "$T/conc$i.csv" 2>"$T/conc$i.err" &
  else
    HOME="$T/host$i" XDG_STATE_HOME="$T/host$i/state" OTTU_LEDGER="$URI" run -j 8 -o "$T/conc$i.out.csv" "$T/conc$i.csv" 2>"$T/conc$i.err" &
  fi
  pids+=($!)
done
rcs=""
for p in "${pids[@]}"; do wait "$p"; rcs+="$? "; done
check_eq "four hosts at once: every process exit 0" "0 0 0 0 " "$rcs"
check_eq "four hosts at once: no (identifier, channel) delivered twice" "" "$(twice "$T/conc.del")"
check_eq "four hosts at once: every wanted pair delivered once" "$(cat "$T/conc.want")" "$(delivered "$T/conc.del")"
check_eq "four hosts at once: the ledger holds exactly the deliveries" "$(delivered "$T/conc.del")" \
  "$(psql_q "SELECT count(*) FROM ottu_resend.send_log WHERE identifier LIKE 'C-%' AND state = 'sent'")"
check_eq "four hosts at once: no claim left open" 0 \
  "$(psql_q "SELECT count(*) FROM ottu_resend.claims WHERE identifier LIKE 'C-%' AND state = 'claimed'")"
skipped=$(for i in 0 1 2 3; do col "$T/conc$i.out.csv" result_detail; done | grep -c 'within the cooldown')
check "four hosts at once: the overlap shows up as skipped channels ($skipped rows)" [ "$skipped" -gt 0 ]

# The next night, from a fifth host: everything was sent within the cooldown.
before=$(delivered "$T/conc.del")
cat "$T/conc0.csv" >"$T/night.csv"; tail -n +2 "$T/conc3.csv" >>"$T/night.csv"
mkdir -p "$T/host4"
HOME="$T/host4" XDG_STATE_HOME="$T/host4/state" run -j 8 --ledger "$URI" -o "$T/night.out.csv" "$T/night.csv" 2>"$T/night.err"; rc=$?
check_eq "the next night from another host: exit 0, every row skipped" "0 skipped 800" "$rc $(statuses "$T/night.out.csv")"
check_eq "the next night: nothing delivered" "$before" "$(delivered "$T/conc.del")"
"$RESEND" ledger stats "$URI" >stats2.out 2>&1; rc=$?
check_eq "ledger stats after the hosts: exit 0, records = deliveries + host A's 5" "0 $((before + 5))" \
  "$rc $(awk '$1 == "records:" {print $2}' stats2.out)"
check "ledger stats: no open claims" grep -qE '^open claims:[[:space:]]+0$' stats2.out
stop_mock

# ---------------------------------------------------------------------------------------
# 4. The database stops mid-job (pg_ctl stop -m fast) under a slow API (50 ms, -j 4: about
# 80 rows/s, 600 rows): the job stops non-zero, rows left not_attempted, no request after
# the failure. Started again, --resume finishes: every row accounted for, nobody twice.
start_mock --latency-ms 50 --deliveries "$T/stop.del"
gen_rows 600 "$T/stop.csv" sms D-
mkdir -p "$T/host5"
HOME="$T/host5" XDG_STATE_HOME="$T/host5/state" run -j 4 --ledger "$URI" -o "$T/stop.out.csv" "$T/stop.csv" 2>"$T/stop.err" &
job=$!
for i in $(seq 1 100); do [ "$(delivered "$T/stop.del")" -ge 100 ] && break; sleep 0.05; done
stopped_at=$(date +%s.%N)
as_pg "$PGBIN/pg_ctl" -D "$PGT/data" -m fast -w stop >/dev/null 2>&1
timeout 120 tail --pid="$job" -f /dev/null; wait "$job"; rc=$?
check "database stopped mid-job: the job stops non-zero (exit $rc)" [ "$rc" -ne 0 ]
check "database stopped mid-job: the message names the ledger" grep -q "ledger postgresql://postgres@127.0.0.1:$PORT" "$T/stop.err"
na=$(col "$T/stop.out.csv" result_status | grep -c not_attempted)
check "database stopped mid-job: rows left not_attempted ($na)" [ "$na" -gt 0 ]
late=$(python3 - "$T/stop.del" "$stopped_at" <<'PY'
import csv, sys, datetime
stop = float(sys.argv[2])
n = 0
for r in csv.reader(open(sys.argv[1])):
    t = datetime.datetime.strptime(r[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
    # the rows already claimed and in flight may land; nothing 1.5 s after the stop
    n += t > stop + 1.5
print(n)
PY
)
check_eq "database stopped mid-job: nothing sent 1.5 s after the database went away" 0 "$late"
sent1=$(col "$T/stop.out.csv" result_status | grep -cx 'sent')
check_eq "database stopped mid-job: deliveries = rows sent" "$sent1" "$(delivered "$T/stop.del")"
if ! pg_start; then not_ok "pg_ctl start again failed"; tail -5 "$PGT/server.log" | sed 's/^/# /'; fi
HOME="$T/host5" XDG_STATE_HOME="$T/host5/state" run -j 4 --ledger "$URI" --resume -o "$T/stop.out.csv" "$T/stop.csv" 2>"$T/resume.err"; rc=$?
check_eq "--resume after the database is back: exit 0" 0 "$rc"
check_eq "--resume: every row sent once, in the results" "sent 600" "$(statuses "$T/stop.out.csv")"
check_eq "--resume: nobody notified twice" "" "$(twice "$T/stop.del")"
check_eq "--resume: 600 deliveries in all" 600 "$(delivered "$T/stop.del")"
check_eq "--resume: the ledger agrees (600 sent, no open claim)" "600 0" \
  "$(psql_q "SELECT count(*) FILTER (WHERE state = 'sent') || ' ' || count(*) FILTER (WHERE state = 'claimed') FROM ottu_resend.claims WHERE identifier LIKE 'D-%'")"
stop_mock

# ---------------------------------------------------------------------------------------
# 5. Storage. A new ledger's key columns compare bytes (COLLATE "C") and its pages leave
# room for HOT settlements (fillfactor 45). A ledger made by an earlier release has its
# keys in the database's collation and fillfactor 60: made so here after a first job
# (E-), a second job on it must still skip what the first recorded and send the rest once.
check_eq "new ledger: the key columns of gate and claims are COLLATE \"C\"" "C C C C C C" \
  "$(psql_q "SELECT string_agg(coalesce(collation_name, '-'), ' ') FROM information_schema.columns WHERE table_schema = 'ottu_resend' AND table_name IN ('gate', 'claims') AND column_name IN ('api', 'identifier', 'channel')")"
check_eq "new ledger: gate and claims with fillfactor 45" "claims fillfactor=45 gate fillfactor=45" \
  "$(psql_q "SELECT string_agg(relname || ' ' || array_to_string(reloptions, ','), ' ' ORDER BY relname) FROM pg_class WHERE relnamespace = 'ottu_resend'::regnamespace AND relname IN ('gate', 'claims')")"
start_mock --deliveries "$T/old.del"
gen_rows 200 "$T/old1.csv" sms E-
mkdir -p "$T/host6"
HOME="$T/host6" XDG_STATE_HOME="$T/host6/state" run -j 8 --ledger "$URI" -o "$T/old1.out.csv" "$T/old1.csv" 2>"$T/old1.err"
psql_q "ALTER TABLE ottu_resend.gate ALTER COLUMN identifier TYPE text COLLATE \"default\", ALTER COLUMN channel TYPE text COLLATE \"default\", ALTER COLUMN api TYPE text COLLATE \"default\", SET (fillfactor = 60)" >/dev/null
gen_rows 200 "$T/old2.csv" sms F-
head -101 "$T/old1.csv" | tail -n +2 >>"$T/old2.csv"
HOME="$T/host6" XDG_STATE_HOME="$T/host6/state" run -j 8 --ledger "$URI" -o "$T/old2.out.csv" "$T/old2.csv" 2>"$T/old2.err"; rc=$?
check_eq "an earlier release's ledger (database collation, fillfactor 60): exit 0, the new rows sent, the recorded ones skipped" \
  "0 sent 200 skipped 100" "$rc $(statuses "$T/old2.out.csv")"
check_eq "an earlier release's ledger: 400 deliveries in both jobs, nobody twice" "400 " "$(delivered "$T/old.del") $(twice "$T/old.del")"
check_eq "an earlier release's ledger: the new sends recorded, no claim left open" "200 0" \
  "$(psql_q "SELECT count(*) FILTER (WHERE c.state = 'sent') || ' ' || (SELECT count(*) FROM ottu_resend.gate WHERE claim_job IS NOT NULL) FROM ottu_resend.claims c WHERE c.identifier LIKE 'F-%'")"
stop_mock
