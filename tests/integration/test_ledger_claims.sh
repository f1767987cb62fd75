#!/usr/bin/env bash
# Whose claim is it, which API, which ledger (issues 26 and 32), proved from ottu-mock's
# deliveries: a rehearsal against one mock never blocks the real run against another
# server; mixed cooldowns on one ledger (job A holding claims -- slowed, or stalled by an
# outage -- and job B with --cooldown 3s) send nobody twice; a dead job's claims block
# (maybe sent) until `ledger release` or its --resume; `ledger release` refuses a running
# job's claims; --resume on another, replaced or emptied ledger is refused with nothing
# sent; `ledger prune` under the cooldown needs --force; a schema 2 ledger (as the
# previous release wrote it) is migrated and its records, of no known API, block every
# API. The claim scenarios run on SQLite and, when its server binaries are installed, on
# a PostgreSQL server started here.
source "$(dirname "$0")/../lib.sh"
plan 88
cd "$T" || exit 1

q() { sqlite3 "$1" "$2" 2>&1; }
count() { if [ -f "$1" ]; then python3 -c 'import csv,sys; print(sum(1 for r in csv.reader(open(sys.argv[1])) if len(r) > 3))' "$1"; else echo 0; fi; }
# deliveries of FILE whose identifier starts with PREFIX
count_p() { if [ -f "$1" ]; then python3 -c 'import csv,sys; print(sum(1 for r in csv.reader(open(sys.argv[1])) if len(r) > 3 and r[2].startswith(sys.argv[2])))' "$1" "$2"; else echo 0; fi; }
# pairs (identifier, channel) of PREFIX delivered more than once
twice_p() { twice "$1" | tr ' ' '\n' | grep "^$2" | paste -sd' ' -; }
stat_of() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get(sys.argv[1], 0))' "$2"; }
jobname() { cut -d' ' -f1 "$1.job" | head -1; }
LEASE_S=30 # LEDGER_LEASE_MS

# ---- PostgreSQL, when installed (as test_pg.sh starts it) ----------------------------------
PG_URI=""
if pg_usable && ! pg_server; then
  echo "# PostgreSQL did not start: its scenarios are skipped"
  PG_URI=""
fi
pg_q() { "$PGBIN/psql" -X -A -t -q "$PG_URI" -c "$1" 2>&1; }
# open claims in LEDGER (SQLite path or PostgreSQL URI)
open_claims() {
  case "$1" in
    postgres*) pg_q "select count(*) from ottu_resend.claims where state = 'claimed'" ;;
    *) q "$1" "select count(*) from claims where state = 'claimed'" ;;
  esac
}
has_claims() { [ "$(open_claims "$1")" -ge "$2" ]; }
# job NAME's lease in LEDGER has ended (PostgreSQL: a killed job is dead a lease later;
# SQLite sees at once that its process is gone)
lease_over() {
  case "$1" in
    postgres*) [ "$(pg_q "select count(*) from ottu_resend.jobs where name = '$2' and lease_until_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint")" = 0 ] ;;
    *) true ;;
  esac
}
# the age in ms of the youngest open claim in LEDGER
claims_older_than() {
  local sql="select coalesce(max(claimed_at_ms), 0) from CLAIMS where state = 'claimed'" t
  case "$1" in
    postgres*) t=$(pg_q "${sql/CLAIMS/ottu_resend.claims}") ;;
    *) t=$(q "$1" "${sql/CLAIMS/claims}") ;;
  esac
  [ "$t" -gt 0 ] && [ $(( $(date +%s%N) / 1000000 - t )) -gt "$2" ]
}

# ---------------------------------------------------------------------------------------
# 1. A rehearsal against one ottu-mock, then the real run against another server (another
#    port, another key): the real one gets everything; the same API spelled otherwise is
#    the same API.
rehearsal() { # LEDGER TAG
  local L="$1" tag="$2" mock1 mock2 url2
  gen_rows 20 reh.$tag.csv "sms,email" "RH$tag-"
  start_mock --deliveries "$T/reh1.$tag.dlv"; mock1=$MOCK_URL
  "$RESEND" --base-url "$mock1" -r 0 -q --ledger "$L" -o reh1.$tag.out.csv reh.$tag.csv; rc=$?
  check_eq "$tag rehearsal against ottu-mock: exit 0, 40 deliveries" "0 40" "$rc $(count reh1.$tag.dlv)"
  start_mock --api-key real-key --deliveries "$T/reh2.$tag.dlv"; mock2=$MOCK_URL
  OTTU_API_KEY=real-key "$RESEND" --base-url "$mock2" -r 0 -q --ledger "$L" -o reh2.$tag.out.csv reh.$tag.csv; rc=$?
  check_eq "$tag the real run on another API after the rehearsal: exit 0, every row sent" "0 sent 20" \
    "$rc $(statuses reh2.$tag.out.csv)"
  check_eq "$tag each server got every (identifier, channel) exactly once" "40 40 |" \
    "$(count reh1.$tag.dlv) $(count reh2.$tag.dlv) $(twice reh1.$tag.dlv)|$(twice reh2.$tag.dlv)"
  # The same API spelled otherwise: upper-case scheme and host, trailing slashes.
  url2=$(echo "$mock2" | sed 's#^http://#HTTP://#; s#127.0.0.1#127.0.0.1#')//
  OTTU_API_KEY=real-key "$RESEND" --base-url "$url2" -r 0 -q --ledger "$L" -o reh3.$tag.out.csv reh.$tag.csv 2>reh3.$tag.err; rc=$?
  check_eq "$tag the same API spelled '$url2': every row skipped, nothing delivered" "0 skipped 20 40" \
    "$rc $(statuses reh3.$tag.out.csv) $(count reh2.$tag.dlv)"
  check "$tag the skip reason names the API" grep -q "for API ${mock2}/: sms sent" reh3.$tag.out.csv
  "$RESEND" ledger stats "$L" >reh.$tag.stats 2>&1
  check "$tag ledger stats: one line per API, 40 sent each" \
    bash -c "grep -qE '^${mock1}/ +40 ' reh.$tag.stats && grep -qE '^${mock2}/ +40 ' reh.$tag.stats"
  stop_mock; stop_mock "${MOCK_PIDS[-2]}"
}

# ---------------------------------------------------------------------------------------
# 2. Mixed cooldowns on one ledger: job A (default 24h) claims its rows ahead of sending
#    them; job B (--cooldown 3s) starts when A's claims are older than 3 s. A live job's
#    claims are its own: B skips them, and nobody is notified twice. Once with A slowed
#    by a slow API, once with A stalled by an outage (503s) while B runs.
mixed() { # LEDGER TAG MOCK-OPTIONS...
  local L="$1" tag="$2" a; shift 2
  gen_rows 24 mix.$tag.csv sms "MX$tag-"
  start_mock --deliveries "$T/mix.$tag.dlv" "$@"
  "$RESEND" --base-url "$MOCK_URL" -j 4 -r 10 -q --no-preflight --max-attempts 50 --backoff-base-ms 200 \
    --backoff-max-ms 500 --ledger "$L" -o mixA.$tag.csv mix.$tag.csv 2>mixA.$tag.err &
  a=$!
  wait_for 20 claims_older_than "$L" 3300 || echo "# $tag: job A's claims never got 3.3 s old"
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --no-preflight --cooldown 3s --ledger "$L" -o mixB.$tag.csv \
    mix.$tag.csv 2>mixB.$tag.err; rcb=$?
  wait $a; rca=$?
  check_eq "$tag job A (24h) and job B (--cooldown 3s) at once: both exit 0" "0 0" "$rca $rcb"
  check_eq "$tag nobody notified twice" "" "$(twice mix.$tag.dlv)"
  check_eq "$tag every row delivered once" 24 "$(count mix.$tag.dlv)"
  check_eq "$tag job B skipped A's rows (claimed by a running job)" "skipped 24" "$(statuses mixB.$tag.csv)"
  check "$tag B's skip reason: claimed by job A" grep -q "sms claimed .* by job $(jobname mixA.$tag.csv)" mixB.$tag.csv
  check_eq "$tag no claim left open" 0 "$(open_claims "$L")"
  stop_mock
}

# ---------------------------------------------------------------------------------------
# 3. A dead job's claims: A is killed (kill -9) while an outage holds its requests back
#    (nothing delivered); B within the cooldown skips them (maybe sent); `ledger release`
#    refuses while A runs, lets them go once A is dead, and a job then sends them once.
#    Then the same with A killed while its requests are in flight: --resume of A settles
#    its claims (no open claim left, nobody twice).
dead_owner() { # LEDGER TAG
  local L="$1" tag="$2" a name
  gen_rows 10 dead.$tag.csv sms "DD$tag-"
  start_mock --deliveries "$T/dead.$tag.dlv" --outage-ms 600000
  "$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 -q --no-preflight --max-attempts 100 --backoff-base-ms 100 \
    --backoff-max-ms 300 --ledger "$L" -o deadA.$tag.csv dead.$tag.csv 2>deadA.$tag.err &
  a=$!
  wait_for 20 has_claims "$L" 10 || echo "# $tag: job A never claimed its 10 rows"
  name=$(jobname deadA.$tag.csv)
  "$RESEND" ledger release --job "$name" "$L" >rel0.$tag.out 2>rel0.$tag.err; rc=$?
  check_eq "$tag ledger release of a running job: exit 2, nothing released" "2 10" "$rc $(open_claims "$L")"
  check "$tag ledger release of a running job: says it is running" grep -q "is running" rel0.$tag.err
  kill -9 $a; wait $a 2>/dev/null
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$L" -o deadB0.$tag.csv dead.$tag.csv
  check_eq "$tag right after the kill: every row skipped" "skipped 10" "$(statuses deadB0.$tag.csv)"
  wait_for $((LEASE_S + 10)) lease_over "$L" "$name" || echo "# $tag: job A's lease never ended"
  stop_mock
  start_mock --deliveries "$T/dead.$tag.dlv" --port "${MOCK_URL##*:}"
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$L" -o deadB.$tag.csv dead.$tag.csv; rc=$?
  check_eq "$tag job B after A died: every row skipped (A's claims are maybe sent)" "0 skipped 10" \
    "$rc $(statuses deadB.$tag.csv)"
  check "$tag B's skip reason: maybe sent by job A" grep -q "sms maybe sent .* by job $name" deadB.$tag.csv
  "$RESEND" ledger stats "$L" >dead.$tag.stats 2>&1
  check "$tag ledger stats lists A as dead with its 10 open claims" grep -qE "^  $name +10  dead" dead.$tag.stats
  "$RESEND" ledger release --job "$name" "$L" >rel1.$tag.out 2>rel1.$tag.err; rc=$?
  check_eq "$tag ledger release of the dead job: exit 0, no claim left" "0 0" "$rc $(open_claims "$L")"
  check "$tag ledger release prints what it released" grep -q "released 10 open claims of job $name" rel1.$tag.out
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$L" -o deadC.$tag.csv dead.$tag.csv; rc=$?
  check_eq "$tag after the release: every row sent, once" "0 sent 10 10 " \
    "$rc $(statuses deadC.$tag.csv) $(count dead.$tag.dlv) $(twice dead.$tag.dlv)"
  stop_mock

  # Killed with requests in flight; --resume of A settles its claims.
  gen_rows 12 res.$tag.csv sms "RS$tag-"
  start_mock --deliveries "$T/res.$tag.dlv" --latency-ms 1500
  "$RESEND" --base-url "$MOCK_URL" -j 3 -r 0 -q --ledger "$L" -o resA.$tag.csv res.$tag.csv 2>resA.$tag.err &
  a=$!
  in_flight() { [ "$(stat_of "$MOCK_URL" delivered)" -ge 3 ] && [ "$(stat_of "$MOCK_URL" delayed_now)" -ge 2 ]; }
  wait_for 20 in_flight || echo "# $tag: no request in flight: $(cat resA.$tag.err)"
  kill -9 $a; wait $a 2>/dev/null
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$L" -o resB.$tag.csv res.$tag.csv
  check_eq "$tag a job within the cooldown skips every row of the killed job" "skipped 12" "$(statuses resB.$tag.csv)"
  "$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$L" -o resA.$tag.csv --resume res.$tag.csv 2>/dev/null
  check_eq "$tag --resume of the killed job: no claim left open" 0 "$(open_claims "$L")"
  check_eq "$tag --resume: nobody notified twice" "" "$(twice res.$tag.dlv)"
  check_eq "$tag --resume: every row sent or unknown (in flight at the kill)" "12" \
    "$(col resA.$tag.csv result_status | grep -cE '^(sent|unknown)$')"
  stop_mock
}

rehearsal "$T/claims.db" sqlite:
mixed "$T/claims.db" sqlite-slow: --latency-ms 2000
mixed "$T/claims.db" sqlite-outage: --outage-ms 6000
dead_owner "$T/claims.db" sqlite:
if [ -n "$PG_URI" ]; then
  rehearsal "$PG_URI" pg:
  mixed "$PG_URI" pg-slow: --latency-ms 2000
  mixed "$PG_URI" pg-outage: --outage-ms 6000
  dead_owner "$PG_URI" pg:
else
  skip 31 "PostgreSQL scenarios: server binaries not installed"
fi

# ---------------------------------------------------------------------------------------
# 4. A job knows its ledger: --resume on another, replaced or emptied ledger is refused
#    (exit 2, no request made, the message names both); an existing empty or foreign file
#    is refused, never re-created.
start_mock --deliveries "$T/id.dlv"
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q "$@"; }
gen_rows 6 id.csv sms ID-
run --ledger "$T/id.db" --limit 2 -o id.out.csv id.csv 2>/dev/null
check_eq "identity: the job stopped by --limit" "not_attempted 4 sent 2" "$(statuses id.out.csv)"
check "identity: OUTPUT.job names the ledger" grep -q "^ledger sqlite [0-9a-f]\{32\} $T/id.db\$" id.out.csv.job
curl -s -X POST "$MOCK_URL/__mock/reset" >/dev/null
resume_refused() { # TAG LEDGER-OPTION...
  local tag="$1"; shift
  run "$@" --resume -o id.out.csv id.csv 2>id.err; rc=$?
  check_eq "identity: --resume with $tag: exit 2, no request made" "2 0" "$rc $(stat_of "$MOCK_URL" requests)"
}
resume_refused "another SQLite file" --ledger "$T/other.db"
check "identity: the message names both ledgers" bash -c "grep -q '$T/id.db' id.err && grep -q '$T/other.db' id.err"
if [ -n "$PG_URI" ]; then
  resume_refused "a postgresql:// ledger after SQLite" --ledger "$PG_URI"
  check "identity: the message names both backends" bash -c "grep -q 'sqlite ledger $T/id.db' id.err && grep -q 'postgresql ledger' id.err"
else
  skip 2 "identity across backends: PostgreSQL not installed"
fi
sqlite3 id.db ".backup id.db.bak"
: >id.db
resume_refused "the ledger truncated to 0 bytes" --ledger "$T/id.db"
check "identity: an emptied ledger is refused, not re-created" bash -c "grep -q 'empty (0 bytes)' id.err && test ! -s id.db"
rm -f id.db id.db-wal id.db-shm
gen_rows 1 other.csv sms OTHER-
run --ledger "$T/id.db" -o id.other.csv other.csv >/dev/null 2>&1 # a new ledger in its place
curl -s -X POST "$MOCK_URL/__mock/reset" >/dev/null
resume_refused "a replaced ledger (same path, new ledger)" --ledger "$T/id.db"
check "identity: the message says another, replaced or emptied ledger" grep -q "another, replaced or emptied" id.err
rm -f id.db id.db-wal id.db-shm; cp id.db.bak id.db
run --ledger "$T/id.db" --resume -o id.out.csv id.csv 2>/dev/null; rc=$?
check_eq "identity: --resume on its own ledger: exit 0, every row sent once" "0 sent 6 " \
  "$rc $(statuses id.out.csv) $(twice_p id.dlv ID-)"
run --ledger "$T/other.db" --overwrite -o id.out.csv id.csv 2>id.err; rc=$?
check_eq "identity: a rerun with --overwrite on another ledger: exit 2 (that ledger would not skip its sends)" 2 "$rc"
check "identity: the rerun's message says how to go on" grep -q "delete id.out.csv.job" id.err
if [ -n "$PG_URI" ]; then
  # PostgreSQL: the schema dropped (and re-created by the next job) is another ledger.
  gen_rows 4 idpg.csv sms IDPG-
  run --ledger "$PG_URI" --limit 1 -o idpg.out.csv idpg.csv 2>/dev/null
  pg_q "SET client_min_messages = warning; DROP SCHEMA ottu_resend CASCADE" >/dev/null
  run --ledger "$PG_URI" -o idpg.other.csv other.csv >/dev/null 2>&1
  curl -s -X POST "$MOCK_URL/__mock/reset" >/dev/null
  run --ledger "$PG_URI" --resume -o idpg.out.csv idpg.csv 2>id.err; rc=$?
  check_eq "identity: --resume on an emptied PostgreSQL ledger (schema dropped, re-created): exit 2, no request" \
    "2 0" "$rc $(stat_of "$MOCK_URL" requests)"
  check "identity: the message names both identities" grep -q "identity .*identity" id.err
else
  skip 2 "an emptied PostgreSQL ledger: PostgreSQL not installed"
fi
: >empty.db
run --ledger "$T/empty.db" -o e.csv id.csv 2>e.err; rc=$?
check_eq "an existing 0-byte ledger file: exit 2, left empty" "2 0" "$rc $(stat -c %s empty.db)"
printf 'order_no\n' >notledger.db
run --ledger "$T/notledger.db" -o e2.csv id.csv 2>e2.err; rc=$?
check_eq "a file that is not a ledger: exit 2, untouched" "2 order_no" "$rc $(cat notledger.db)"

# ---------------------------------------------------------------------------------------
# 5. ledger prune: an age under the cooldown it would break needs --force.
n=$(q id.db "select count(*) from claims")
"$RESEND" ledger prune --older-than 1s "$T/id.db" >pr.out 2>pr.err; rc=$?
check_eq "prune --older-than 1s under the default 24h cooldown: exit 2, nothing removed" "2 $n" \
  "$rc $(q id.db 'select count(*) from claims')"
check "prune refusal: says why and what to do" bash -c 'grep -q "shorter than the cooldown" pr.err && grep -q -- --force pr.err'
"$RESEND" ledger prune --older-than 1s --cooldown 1h "$T/id.db" >/dev/null 2>&1
check_eq "prune --older-than 1s --cooldown 1h: exit 2" 2 "$?"
"$RESEND" ledger prune --older-than 0s --force "$T/id.db" >pr.out 2>&1; rc=$?
check_eq "prune --force: exit 0, everything removed" "0 0" "$rc $(q id.db 'select count(*) from claims')"
check "prune prints what it removed" grep -qE "^pruned $n records older than .*; 0 remain" pr.out
stop_mock

# ---------------------------------------------------------------------------------------
# 6. A schema 2 ledger (the previous release's, made with its schema text) is migrated on
#    open; its records belong to no known API and block every API within the cooldown.
now=$(( $(date +%s%N) / 1000000 ))
sqlite3 v2.db <<EOF
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE jobs (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, started_at_ms INTEGER NOT NULL, started_at TEXT NOT NULL);
CREATE TABLE claims (identifier TEXT NOT NULL, channel TEXT NOT NULL CHECK (channel IN ('sms', 'email', 'whatsapp')),
  job_id INTEGER NOT NULL REFERENCES jobs (id), row_no INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('claimed', 'sent', 'maybe', 'released')),
  claimed_at_ms INTEGER NOT NULL, at_ms INTEGER NOT NULL, PRIMARY KEY (identifier, channel, job_id, row_no)) WITHOUT ROWID;
CREATE TABLE budget (scope TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL, PRIMARY KEY (scope, day)) WITHOUT ROWID;
CREATE VIEW send_log AS SELECT c.at_ms AS sent_at_ms, c.channel, c.identifier, j.name AS job, c.row_no, c.state, c.job_id
  FROM claims c LEFT JOIN jobs j ON j.id = c.job_id WHERE c.state IN ('sent', 'maybe');
CREATE VIEW sends AS SELECT identifier, channel, at_ms AS sent_at_ms, job_id, row_no, state FROM claims WHERE state IN ('sent', 'maybe');
INSERT INTO meta VALUES ('application', 'ottu-resend ledger'), ('schema_version', '2'), ('created_at', '2026-12-01T00:00:00.000Z');
INSERT INTO jobs VALUES (1, 'old-job', $now - 3600000, '2026-12-01T00:00:00.000Z');
INSERT INTO claims VALUES ('MG-00001', 'sms', 1, 1, 'sent', $now - 3600000, $now - 3600000),
  ('MG-00002', 'sms', 1, 2, 'maybe', $now - 3600000, $now - 3600000),
  ('MG-00003', 'sms', 1, 3, 'sent', $now - 90000000, $now - 90000000);
PRAGMA user_version = 2;
PRAGMA application_id = 1333023308;
EOF
gen_rows 4 mg.csv sms MG-
start_mock --deliveries "$T/mg.dlv"
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --ledger "$T/v2.db" -o mg.out.csv mg.csv; rc=$?
check_eq "schema 2 ledger: migrated to 3 on open, with an identity" "3 1" \
  "$(q v2.db 'pragma user_version') $(q v2.db "select count(*) from meta where key = 'ledger_id'")"
check_eq "schema 2 ledger: its records (no API) block this API within the cooldown; older ones not" \
  "0 skipped|skipped|sent|sent" "$rc $(col mg.out.csv result_status | paste -sd'|' -)"
check_eq "schema 2 ledger: MG-00003 (25 h old) and MG-00004 delivered, once" "MG-00003 MG-00004" \
  "$(python3 -c 'import csv,sys; print(" ".join(sorted(r[2] for r in csv.reader(open(sys.argv[1])) if len(r) > 3)))' mg.dlv)"
"$RESEND" ledger stats "$T/v2.db" >mg.stats 2>&1
check "schema 2 ledger: ledger stats shows its records as of an unknown API" grep -q "^(unknown: before per-API records" mg.stats
stop_mock
