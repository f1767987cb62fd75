#!/usr/bin/env bash
# The PostgreSQL ledger's statements look rows up by key however large the ledger and
# whatever its statistics (issue 28): a job on a ledger holding 20,000 other gate rows of
# its API and 20,000 records of no API (written before per-API records), with no
# statistics (autovacuum off on the tables, as when they grow faster than it analyses
# them), reads a few index entries per row of its own, not every row of the API per batch
# (the settlement's release, the who-blocked lookup and the legacy probe each scanned them
# all before). And what those statements decide is unchanged: records of no API block
# every API, another job's sends block within the cooldown and are named, old ones do not.
source "$(dirname "$0")/../lib.sh"
plan 7
cd "$T" || exit 1

if ! pg_usable; then
  skip 7 "PostgreSQL server binaries not installed"
  exit 0
fi
if ! pg_server; then
  echo "# PostgreSQL did not start"
  skip 7 "PostgreSQL did not start"
  exit 0
fi
pg_q() { "$PGBIN/psql" -X -A -t -q "$PG_URI" -c "$1" 2>&1; }
# index entries read in gate's key so far (the statistics of ended sessions; a session's
# own are flushed when it ends)
gate_reads() { pg_q "SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'gate_pkey'"; }

start_mock --deliveries "$T/keys.dlv"
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q --no-preflight --ledger "$PG_URI" "$@"; }

# Job P makes the schema and sends 40 rows.
gen_rows 40 p.csv sms P-
run -o p.out.csv p.csv; rc=$?
check_eq "job P: exit 0, 40 sent" "0 sent 40" "$rc $(statuses p.out.csv)"

# The ledger filled behind the planner's back: 20,000 old sends of this API (older than any
# cooldown: they block nothing), 20,000 old records of no API, and 5 recent ones of no API.
api=$(pg_q "SELECT DISTINCT api FROM ottu_resend.gate")
pg_q "ALTER TABLE ottu_resend.gate SET (autovacuum_enabled = false);
      ALTER TABLE ottu_resend.claims SET (autovacuum_enabled = false);
      INSERT INTO ottu_resend.gate (api, identifier, channel, sent_ms, sent_state, sent_job, sent_row)
        SELECT '$api', 'FILL-' || i, 'sms', 1, 'sent', 1, i FROM generate_series(1, 20000) i;
      INSERT INTO ottu_resend.gate (api, identifier, channel, sent_ms, sent_state, sent_job, sent_row)
        SELECT '', 'OLD-' || i, 'sms', 1, 'sent', 1, i FROM generate_series(1, 20000) i;
      INSERT INTO ottu_resend.gate (api, identifier, channel, sent_ms, sent_state, sent_job, sent_row)
        SELECT '', 'L-0000' || i, 'sms', (extract(epoch FROM clock_timestamp()) * 1000)::bigint, 'sent', 1, i
        FROM generate_series(1, 5) i" >fill.out
check_eq "the ledger filled: 40,045 gate rows" "40045" "$(pg_q "SELECT count(*) FROM ottu_resend.gate")"
# The write path's statements are prepared once per connection, and after five runs
# PostgreSQL may keep one generic plan for all (made without the batch's values): job Q
# gets generic plans from its first batch on, so they are the ones held to the key.
pg_q "ALTER DATABASE postgres SET plan_cache_mode = force_generic_plan" >/dev/null

# Job Q: 600 new rows (sent), the 40 rows P sent (blocked by P's sends: who blocked is
# looked up), 5 rows with recent records of no API (blocked), 5 with old ones (sent).
gen_rows 600 q.csv sms Q-
{ tail -n +2 p.csv; printf 'L-0000%d,"sms"\n' 1 2 3 4 5;
  printf 'OLD-%d,"sms"\n' 1 2 3 4 5; } >>q.csv
before=$(gate_reads) # job P's and the filling session's reads: flushed as they ended
run -o q.out.csv q.csv 2>q.err; rc=$?
check_eq "job Q: exit 0; the new rows and those of old records sent, P's and the recent ones of no API skipped" \
  "0 sent 605 skipped 45" "$rc $(statuses q.out.csv)"
check "job Q: P's rows skipped as sent by job P" grep -q "sms sent .* by job $(cut -d' ' -f1 p.out.csv.job | head -1)" q.out.csv
check_eq "deliveries: every row once; none of P's twice, none with a recent record of no API" \
  "645 |0" "$(python3 -c 'import csv,sys; print(sum(1 for r in csv.reader(open(sys.argv[1])) if len(r) > 3))' keys.dlv) |$(twice keys.dlv)$(grep -c ',L-0000' keys.dlv)"
# job Q's backend gone (its statistics flushed as it ends) and its reads counted
q_done() {
  [ "$(pg_q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ottu-resend'")" = 0 ] &&
    [ "$(gate_reads)" != "$before" ]
}
wait_for 10 q_done || echo "# job Q's statistics did not arrive"
reads=$(( $(gate_reads) - before ))
echo "# job Q read $reads entries of gate's key for 650 rows"
# By key: a handful per row (claim, who blocked, legacy probe, settlement). Scanning the
# API's or the legacy rows once per batch reads 20,000 per batch.
check "job Q read fewer than 20 entries of gate's key per row ($reads for 650 rows)" test "$reads" -lt 13000
check_eq "no claim left open" 0 "$(pg_q "SELECT count(*) FROM ottu_resend.claims WHERE state = 'claimed'")"
stop_mock
