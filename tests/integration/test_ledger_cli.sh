#!/usr/bin/env bash
# The send ledger across jobs (issue 11): --ledger, --cooldown, per-channel skips, failed rows
# sent again, the summary's skipped count, bad ledger files, `ottu-resend ledger stats|prune`
# and queries with the sqlite3 shell. Real ottu-resend against the real ottu-mock on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 121
cd "$T" || exit 1

joined() { col "$1" "$2" | paste -sd'|' -; }
py_csv() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    r = list(csv.DictReader(f))
print(eval(sys.argv[2]))
PY
}
# deliv FILE [ID]: "identifier channel" of every delivery (of ID only when given), sorted, '|'-joined
deliv() {
  python3 - "$@" <<'PY'
import csv, sys
try:
    r = list(csv.reader(open(sys.argv[1], newline='')))
except FileNotFoundError:
    r = []
print('|'.join(sorted(x[2] + ' ' + x[3] for x in r if len(sys.argv) < 3 or x[2] == sys.argv[2])))
PY
}
dcount() { if [ -f "$1" ]; then python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$1"; else echo 0; fi; }
stat() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
q() { sqlite3 "$1" "$2" 2>&1; }

start_mock --deliveries "$T/del.csv"
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q "$@"; }

# ---------------------------------------------------------------------------------------
# 1. Two runs, the second overlapping the first.
cat >run1.csv <<'EOF'
order_no,session_id,channels
L-1,,sms
L-2,,email
L-3,,sms;email
,S-4,whatsapp
L-5,,email
EOF
run --ledger ledger.db --summary-json s1.json run1.csv 2>r1.err; rc=$?
check_eq "run 1: exit 0" 0 "$rc"
check_eq "run 1: all sent" "sent|sent|sent|sent|sent" "$(joined run1.results.csv result_status)"
check_eq "run 1: summary skipped 0" 0 "$(jget s1.json skipped)"
check "run 1: the ledger file was created" test -s ledger.db
check_eq "sqlite3: one record per channel sent" 6 "$(q ledger.db 'select count(*) from send_log')"
check_eq "sqlite3: application_id and user_version identify the ledger" "1333023308|3" \
  "$(q ledger.db 'select a.application_id, b.user_version from pragma_application_id a, pragma_user_version b')"
check_eq "sqlite3: identifiers (session_id when order_no is empty)" "L-1 sms|L-2 email|L-3 email|L-3 sms|L-5 email|S-4 whatsapp" \
  "$(q ledger.db "select identifier || ' ' || channel from send_log order by 1" | paste -sd'|' -)"
check_eq "sqlite3: row numbers recorded (counted from 1 after the header)" "1 2 3 3 4 5" \
  "$(q ledger.db 'select row_no from send_log order by row_no' | paste -sd' ' -)"
check_eq "sqlite3: one job recorded" 1 "$(q ledger.db 'select count(*) from jobs')"
check_eq "sqlite3: sent_at is ISO 8601 UTC with ms, matching sent_at_ms" 6 \
  "$(q ledger.db "select count(*) from send_log where sent_at glob '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z' and abs(strftime('%s', substr(sent_at,1,19)) * 1000 + substr(sent_at,21,3) - sent_at_ms) = 0")"
check_eq "run 1: deliveries" 6 "$(dcount del.csv)"

cat >run2.csv <<'EOF'
order_no,session_id,channels
L-2,,email
L-3,,sms;email
L-6,,sms
,S-4,whatsapp
L-5,,sms;email
L-7,,email
EOF
run --ledger ledger.db --summary-json s2.json --failures r2.fail.csv run2.csv 2>r2.err; rc=$?
check_eq "run 2: exit 0 (skipped counts as success)" 0 "$rc"
check_eq "run 2: overlapping rows skipped, new ones sent" "skipped|skipped|sent|skipped|sent|sent" "$(joined run2.results.csv result_status)"
check_eq "run 2: skipped rows sent nothing (0 attempts, no HTTP status)" "0:|0:|0:" \
  "$(py_csv run2.results.csv '"|".join(x["result_attempts"]+":"+x["result_http_status"] for x in r if x["result_status"]=="skipped")')"
check_eq "run 2: skipped rows have no result_channels" "||" \
  "$(py_csv run2.results.csv '"|".join(x["result_channels"] for x in r if x["result_status"]=="skipped")')"
check "run 2: skipped detail says the channel was already sent" \
  py_csv run2.results.csv 'exit(0 if "email" in r[0]["result_detail"] and "sent" in r[0]["result_detail"] else 1)'
check_eq "run 2: skipped rows are not in the --failures file (header only)" 0 "$(rows r2.fail.csv)"
check_eq "run 2: summary skipped 3 sent 3" "3 3" "$(jget s2.json skipped) $(jget s2.json sent)"
check_eq "run 2: summary requests 3" 3 "$(jget s2.json requests)"
check_eq "run 2: overlapping rows not delivered again" "L-2 email|L-3 email|L-3 sms|S-4 whatsapp" \
  "$(deliv del.csv | tr '|' '\n' | grep -E '^(L-2|L-3|S-4) ' | paste -sd'|' -)"
check_eq "run 2: new rows delivered" "L-5 sms|L-6 sms|L-7 email" \
  "$(deliv del.csv | tr '|' '\n' | grep -E '^(L-5 sms|L-6 |L-7 )' | paste -sd'|' -)"
check_eq "run 2: 9 deliveries in all (6 + 3)" 9 "$(dcount del.csv)"
# Channel-level overlap: L-5 had email in run 1; now sms;email -> only sms.
check_eq "channel overlap: result_channels = sms only" sms "$(py_csv run2.results.csv 'r[4]["result_channels"]')"
check "channel overlap: detail says email was sent earlier" \
  py_csv run2.results.csv 'exit(0 if "email" in r[4]["result_detail"] and "sent" in r[4]["result_detail"] else 1)'
check "channel overlap: detail gives the time email was sent (the ledger's sent_at)" \
  py_csv run2.results.csv "exit(0 if '$(q ledger.db "select sent_at from send_log where identifier='L-5' and channel='email'")' in r[4]['result_detail'] else 1)"
check_eq "channel overlap: L-5 delivered email once (run 1) and sms once (run 2)" "L-5 email|L-5 sms" "$(deliv del.csv L-5)"
check_eq "sqlite3: 9 records, 2 jobs" "9|2" "$(q ledger.db 'select (select count(*) from send_log), (select count(*) from jobs)')"

# The same row twice inside one job is a duplicate, not skipped; exit 0.
printf 'order_no,channels\nL-8,sms\nL-8,sms\nL-1,sms\n' >run3.csv
run --ledger ledger.db run3.csv 2>/dev/null; rc=$?
check_eq "within a job: duplicate, then skipped from the ledger; exit 0" "0 sent|duplicate|skipped" "$rc $(joined run3.results.csv result_status)"
check_eq "within a job: L-8 delivered once" "L-8 sms" "$(deliv del.csv L-8)"

# --cooldown 0: recorded, never skipped.
run --ledger ledger.db --cooldown 0 -o run4.out.csv run2.csv 2>/dev/null; rc=$?
check_eq "--cooldown 0: exit 0" 0 "$rc"
check_eq "--cooldown 0: every row sent again" "sent|sent|sent|sent|sent|sent" "$(joined run4.out.csv result_status)"
check_eq "--cooldown 0: L-5 both channels requested" "sms;email" "$(py_csv run4.out.csv 'r[4]["result_channels"]')"
check_eq "--cooldown 0: L-2 now delivered twice" "L-2 email|L-2 email" "$(deliv del.csv L-2)"
check_eq "--cooldown 0: the sends are still recorded" 18 "$(q ledger.db 'select count(*) from send_log')"
# A short cooldown expires.
printf 'order_no,channels\nC-1,sms\n' >cool.csv
run --ledger ledger.db --cooldown 1s -o cool1.csv cool.csv 2>/dev/null
run --ledger ledger.db --cooldown 1s -o cool2.csv cool.csv 2>/dev/null
# (until a dry run no longer skips it: the cooldown is over; at most 10 s)
cool_over() { run --ledger ledger.db --cooldown 1s --dry-run -o cool.dry.csv --overwrite cool.csv 2>/dev/null; [ "$(col cool.dry.csv result_status)" = dry_run ]; }
wait_for 10 cool_over
run --ledger ledger.db --cooldown 1s -o cool3.csv cool.csv 2>/dev/null
check_eq "--cooldown 1s: sent, skipped at once, sent again after 1 s" "sent skipped sent" \
  "$(col cool1.csv result_status) $(col cool2.csv result_status) $(col cool3.csv result_status)"
check_eq "--cooldown 1s: C-1 delivered twice" "C-1 sms|C-1 sms" "$(deliv del.csv C-1)"
for bad in 24 abc -1h 1x; do
  run --ledger ledger.db --cooldown "$bad" -o cbad.csv cool.csv 2>cbad.err
  check_eq "--cooldown $bad: exit 2" 2 "$?"
done
check "--cooldown 1x: the message names --cooldown" grep -q -- --cooldown cbad.err
run --ledger ledger.db --cooldown 24 -o cbad.csv cool.csv 2>cbad24.err
check "--cooldown 24 (no unit): the message names --cooldown" grep -q -- --cooldown cbad24.err
check_eq "refused --cooldown values sent nothing" "C-1 sms|C-1 sms" "$(deliv del.csv C-1)"

# --dry-run never writes to the ledger.
before=$(q ledger.db 'select count(*) from send_log'); jobs_before=$(q ledger.db 'select count(*) from jobs')
printf 'order_no,channels\nD-1,sms\n' >dry.csv
"$RESEND" --dry-run -q --ledger ledger.db -o dry.out.csv dry.csv 2>/dev/null; rc=$?
check_eq "--dry-run with --ledger: exit 0, dry_run" "0 dry_run" "$rc $(col dry.out.csv result_status)"
check_eq "--dry-run with --ledger: no send recorded" "$before" "$(q ledger.db 'select count(*) from send_log')"
check_eq "--dry-run with --ledger: no job recorded either (a dry run never writes to the ledger)" "$jobs_before" "$(q ledger.db 'select count(*) from jobs')"
run --ledger ledger.db -o dry.real.csv dry.csv 2>/dev/null
check_eq "after a dry run the row is still sent for real" sent "$(col dry.real.csv result_status)"
stop_mock

# ---------------------------------------------------------------------------------------
# 2. A row that failed in run 1 is sent in run 2 once the transaction is fixed.
cat >txn-bad.csv <<'EOF'
order_no,session_id,state,customer_email,customer_phone,notify_email,notify_sms,notify_whatsapp
F-1,,paid,a@example.com,+96550000001,paid,paid,paid
F-2,,paid,b@example.com,+96550000002,paid,,paid
EOF
sed 's/^F-2,,paid,b@example.com,+96550000002,paid,,paid$/F-2,,paid,b@example.com,+96550000002,paid,paid,paid/' txn-bad.csv >txn-good.csv
printf 'order_no,channels\nF-1,sms\nF-2,sms\n' >fail.csv
start_mock --transactions txn-bad.csv --deliveries "$T/del-f.csv"
run --ledger f.db --summary-json f1.json -o f1.csv fail.csv 2>/dev/null; rc=$?
check_eq "failing run: exit 1, F-2 failed (sms not enabled)" "1 sent|failed" "$rc $(joined f1.csv result_status)"
check_eq "failing run: the failed row is not in the ledger" "F-1 sms" "$(q f.db "select identifier || ' ' || channel from send_log" | paste -sd'|' -)"
# The same API again (records are per API: the mock's port is part of its name).
port=${MOCK_URL##*:}; port=${port%%/*}
stop_mock
start_mock --transactions txn-good.csv --deliveries "$T/del-f.csv" --port "$port"
run --ledger f.db --summary-json f2.json -o f2.csv fail.csv 2>/dev/null; rc=$?
check_eq "fixed run: exit 0; F-1 skipped, F-2 sent" "0 skipped|sent" "$rc $(joined f2.csv result_status)"
check_eq "fixed run: summary skipped 1 sent 1 failed 0" "1 1 0" "$(jget f2.json skipped) $(jget f2.json sent) $(jget f2.json failed)"
check_eq "fixed run: F-1 delivered once, F-2 once" "F-1 sms|F-2 sms" "$(deliv del-f.csv)"
check_eq "fixed run: F-2 now in the ledger" 1 "$(q f.db "select count(*) from send_log where identifier = 'F-2' and channel = 'sms'")"

# ---------------------------------------------------------------------------------------
# 3. Template mode: identifier channel|template_id|to, with the normalised to.
printf 'channel,template_id,to\nsms,t1,+965 5000 0001\nemail,t1,x@example.com\n' >tpl.csv
printf 'channel,template_id,to\nsms,t1,+96550000001\nsms,t2,+96550000001\n' >tpl2.csv
start_mock --deliveries "$T/del-t.csv"
run --ledger t.db -o tpl.out.csv tpl.csv 2>/dev/null
check_eq "template: ledger identifiers are channel|template_id|to (normalised)" "email|t1|x@example.com|sms|t1|+96550000001" \
  "$(q t.db 'select identifier from send_log order by identifier' | paste -sd'|' -)"
run --ledger t.db -o tpl2.out.csv tpl2.csv 2>/dev/null; rc=$?
check_eq "template: same number written differently is skipped; other template sent" "0 skipped|sent" "$rc $(joined tpl2.out.csv result_status)"
check_eq "template: +96550000001 delivered twice (t1 once, t2 once)" 2 "$(deliv del-t.csv +96550000001 | tr '|' '\n' | grep -c .)"
stop_mock

# ---------------------------------------------------------------------------------------
# Several jobs at once on one ledger: the three shards of a job, in parallel, twice.
python3 -c 'print("order_no,channels"); [print("P-%04d,sms" % i) for i in range(300)]' >par.csv
start_mock --deliveries "$T/del-par.csv" --latency-ms 2
pids=()
for k in 0 1 2; do run -j 4 --ledger par.db --shard "$k/3" -o "par$k.csv" par.csv 2>"par$k.err" & pids+=($!); done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs$?"; done
check_eq "parallel shards, one ledger: all three exit 0" 000 "$rcs"
check_eq "parallel shards: 300 records, 300 identifiers, 3 jobs" "300|300|3" \
  "$(q par.db 'select count(*), count(distinct identifier), count(distinct job_id) from send_log')"
pids=()
for k in 0 1 2; do run -j 4 --ledger par.db --shard "$k/3" -o "rpar$k.csv" par.csv 2>/dev/null & pids+=($!); done
rcs=""; for p in "${pids[@]}"; do wait "$p"; rcs="$rcs$?"; done
check_eq "parallel shards again: all exit 0" 000 "$rcs"
check_eq "parallel shards again: every row skipped" "skipped 300" \
  "$(cat <(col rpar0.csv result_status) <(col rpar1.csv result_status) <(col rpar2.csv result_status) | sort | uniq -c | awk '{print $2, $1}' | paste -sd' ' -)"
check_eq "parallel shards: 300 deliveries in all, none twice" "300 300" \
  "$(python3 -c 'import csv,sys; r=[x[2] for x in csv.reader(open(sys.argv[1]))]; print(len(r), len(set(r)))' del-par.csv)"
stop_mock
for d in 1h30m 2w 500ms 1D 7d 90m 1d12h; do
  "$RESEND" --dry-run -q --ledger dur.db --cooldown "$d" -o dur.csv cool.csv 2>/dev/null
  check_eq "--cooldown $d accepted" 0 "$?"
done

# ---------------------------------------------------------------------------------------
# 4. Files that are not usable ledgers: exit 2, a message naming the file, nothing sent.
start_mock --deliveries "$T/del-bad.csv"
python3 -c 'import random; random.seed(11); open("corrupt.db","wb").write(bytes(random.randrange(256) for _ in range(8192)))'
cp corrupt.db corrupt.orig
run --ledger corrupt.db -o c.csv run1.csv 2>c.err; rc=$?
check_eq "corrupt ledger (random bytes): exit 2" 2 "$rc"
check "corrupt ledger: message names the file" grep -q corrupt.db c.err
check "corrupt ledger: message gives the reason (not 'not an error')" \
  bash -c 'grep -qi "not an SQLite database\|damaged" c.err && ! grep -qi "not an error" c.err'
check "corrupt ledger: the file is left untouched" cmp -s corrupt.db corrupt.orig
check "corrupt ledger: no output written" test ! -e c.csv
printf 'SQLite format 3\0' >trunc.db; head -c 2000 /dev/zero >>trunc.db
run --ledger trunc.db -o c2.csv run1.csv 2>c2.err; rc=$?
check_eq "damaged SQLite header: exit 2" 2 "$rc"
check "damaged SQLite header: message names the file" grep -q trunc.db c2.err
sqlite3 other.db 'create table t(x); insert into t values (1);'
run --ledger other.db -o c3.csv run1.csv 2>c3.err; rc=$?
check_eq "an SQLite file that is not a ledger: exit 2" 2 "$rc"
check "not a ledger: message names the file and says so" bash -c 'grep -q other.db c3.err && grep -qi "not an ottu-resend ledger" c3.err'
check_eq "not a ledger: no table added to it" t "$(q other.db .tables | tr -s ' \n' ' ' | sed 's/ $//')"
cp f.db newer.db; sqlite3 newer.db 'PRAGMA user_version = 4'
run --ledger newer.db -o c5.csv run1.csv 2>c5.err; rc=$?
check_eq "ledger written by a newer schema (user_version 4): exit 2" 2 "$rc"
check "newer schema: message names the file" grep -q newer.db c5.err
"$RESEND" ledger stats newer.db >/dev/null 2>&1; check_eq "ledger stats on a newer schema: exit 2" 2 "$?"
mkdir dir.db
run --ledger dir.db -o c6.csv run1.csv 2>c6.err; rc=$?
check_eq "ledger path is a directory: exit 2" 2 "$rc"
check "ledger path is a directory: message names it" grep -q dir.db c6.err
: >"$T/plain-file"
run --ledger "$T/plain-file/sub/l.db" -o c4.csv run1.csv 2>c4.err; rc=$?
check_eq "ledger under a regular file: exit 2" 2 "$rc"
check "ledger under a regular file: message names the file" grep -q 'plain-file/sub/l.db' c4.err
check_eq "bad ledgers: nothing sent" 0 "$(stat "$MOCK_URL" 's["requests"]')"
stop_mock

# ---------------------------------------------------------------------------------------
# 5. ottu-resend ledger stats / prune.
"$RESEND" ledger stats ledger.db >stats.out 2>stats.err; rc=$?
n=$(q ledger.db 'select count(*) from send_log')
check_eq "stats: exit 0" 0 "$rc"
check "stats: records line = sqlite3 count ($n)" grep -qE "^records:[[:space:]]+$n\$" stats.out
check "stats: identifiers line = sqlite3 count" \
  grep -qE "^identifiers:[[:space:]]+$(q ledger.db 'select count(distinct identifier) from send_log')\$" stats.out
check "stats: jobs line = jobs with records (sqlite3)" grep -qE "^jobs:[[:space:]]+$(q ledger.db 'select count(distinct job_id) from send_log')\$" stats.out
check "stats: oldest and newest" bash -c "grep -qE '^oldest:[[:space:]]+$(q ledger.db 'select min(sent_at) from send_log')\$' stats.out && grep -qE '^newest:[[:space:]]+$(q ledger.db 'select max(sent_at) from send_log')\$' stats.out"
check_eq "stats: total row per channel = sqlite3 counts" \
  "$(q ledger.db "select sum(channel='sms'), sum(channel='email'), sum(channel='whatsapp'), count(*) from send_log" | tr '|' ' ')" \
  "$(grep -E '^total[[:space:]]' stats.out | awk '{print $2, $3, $4, $5}')"
cp ledger.db ledger.before
"$RESEND" ledger stats missing.db >/dev/null 2>ms.err; rc=$?
check_eq "stats on a missing file: exit 2" 2 "$rc"
check "stats on a missing file: does not create it" test ! -e missing.db
"$RESEND" ledger stats corrupt.db >/dev/null 2>cs.err; rc=$?
check_eq "stats on a corrupt file: exit 2" 2 "$rc"
check "stats on a corrupt file: message names it" grep -q corrupt.db cs.err
"$RESEND" ledger prune ledger.db >/dev/null 2>/dev/null; check_eq "prune without --older-than: exit 2" 2 "$?"
"$RESEND" ledger prune --older-than 24 ledger.db >/dev/null 2>/dev/null; check_eq "prune --older-than 24 (no unit): exit 2" 2 "$?"
"$RESEND" ledger frobnicate ledger.db >/dev/null 2>/dev/null; check_eq "ledger frobnicate: exit 2" 2 "$?"
"$RESEND" ledger stats >/dev/null 2>/dev/null; check_eq "ledger stats without PATH: exit 2" 2 "$?"
"$RESEND" ledger prune --older-than 1h --cooldown 1h ledger.db >p0.out 2>&1; rc=$?
check_eq "prune --older-than 1h: exit 0, nothing that recent removed" "0 $n" "$rc $(q ledger.db 'select count(*) from send_log')"
check "prune: says how many" grep -qE '^pruned 0 records' p0.out
# (until every record is older than 1 s: no fixed sleep)
wait_for 10 bash -c '"$1" ledger prune --older-than 1s --dry-run ledger.db 2>&1 | grep -qE "^would prune $2 records"' _ "$RESEND" "$n"
"$RESEND" ledger prune --older-than 1s --dry-run ledger.db >p1.out 2>&1; rc=$?
check_eq "prune --dry-run: exit 0" 0 "$rc"
check "prune --dry-run: would prune all $n" grep -qE "^would prune $n records" p1.out
check_eq "prune --dry-run: nothing deleted" "$n" "$(q ledger.db 'select count(*) from send_log')"
"$RESEND" ledger prune --older-than 1s --force ledger.db >p2.out 2>&1; rc=$?
check_eq "prune --older-than 1s after sleeping: exit 0" 0 "$rc"
check "prune: reports $n pruned, 0 remain" grep -qE "^pruned $n records.*; 0 remain" p2.out
check_eq "prune: sqlite3 sees no sends left" 0 "$(q ledger.db 'select count(*) from send_log')"
check_eq "prune: job names stay" "$(q ledger.before 'select count(*) from jobs')" "$(q ledger.db 'select count(*) from jobs')"
"$RESEND" ledger stats ledger.db >stats2.out 2>/dev/null
check "stats after prune: records 0" grep -qE '^records:[[:space:]]+0$' stats2.out
check_eq "sqlite3: integrity_check ok after all of it" ok "$(q ledger.db 'PRAGMA integrity_check')"
# After the prune the same orders are sent again (the cooldown has nothing to go by).
start_mock --deliveries "$T/del-after.csv"
run --ledger ledger.db -o after.csv run1.csv 2>/dev/null; rc=$?
check_eq "after prune: every row sent again" "0 sent|sent|sent|sent|sent" "$rc $(joined after.csv result_status)"
stop_mock

# Within one job: a later row asking again for a channel an earlier row of the same job
# requested is treated as sent (no race with the ledger's batched writes).
printf 'order_no,channels\nL1,sms\nL1,sms email\nL2,email\nL1,email\n' >"$T/inj.csv"
start_mock --deliveries "$T/inj.dlv"
"$RESEND" --base-url "$MOCK_URL" -r 0 -j 4 --progress never -q --ledger "$T/inj.db" "$T/inj.csv" -o "$T/inj.out.csv"
check_eq "same job: exit 0" 0 $?
check_eq "same job: statuses" "sent sent sent skipped" "$(col "$T/inj.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check_eq "same job: result_channels" "sms|email|email|" "$(col "$T/inj.out.csv" result_channels | paste -sd "|")"
check "same job: the note names the earlier row" grep -q 'sms sent by row 1 of this job' "$T/inj.out.csv"
check_eq "same job: each channel delivered once" 3 "$(wc -l <"$T/inj.dlv")"
stop_mock

# Duplicates and repeated identifiers share one table with a ledger (docs/design.md): a
# duplicate names the row that first had its request, whether or not that row was the
# first to ask for its identifier+channel (row 2 was not: row 1 asked for sms before); a
# row asking for a channel more is not a duplicate, whatever its fingerprint.
printf 'order_no,channels\nL1,sms\nL1,sms email\nL1,sms\nL1,sms email\nL1,sms email whatsapp\nL1,email\n' >"$T/dupj.csv"
start_mock --deliveries "$T/dupj.dlv"
"$RESEND" --base-url "$MOCK_URL" -r 0 -j 4 --progress never -q --ledger "$T/dupj.db" "$T/dupj.csv" -o "$T/dupj.out.csv"
check_eq "one table: statuses" "sent sent duplicate duplicate sent skipped" "$(col "$T/dupj.out.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check_eq "one table: details name the first row of each request" "duplicate of row 1|duplicate of row 2" \
  "$(col "$T/dupj.out.csv" result_detail | sed -n '3p;4p' | paste -sd "|")"
check_eq "one table: the row with a channel more sends it only, noting who sent the others" \
  "whatsapp|skipped sms sent by row 1 of this job, email sent by row 2 of this job" \
  "$(col "$T/dupj.out.csv" result_channels | sed -n 5p)|$(col "$T/dupj.out.csv" result_detail | sed -n 5p | sed 's/; Customer notified.*//')"
check_eq "one table: each channel delivered once" 3 "$(wc -l <"$T/dupj.dlv")"
stop_mock
