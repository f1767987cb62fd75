# Living within the real API (issue 16), against ottu-mock and the real binary: the
# preflight (typo host, wrong base URL, wrong key, --no-preflight), the API's daily quota,
# --daily-budget shared by the jobs of a day, the --limit canary, --max-pause, and the
# warning at start when the rows exceed what is left of today's budget. Mock stats
# `requests` (notification POSTs) and `get_requests` (preflight GETs) are the witnesses.
source "$(dirname "$0")/../lib.sh"
plan 71
cd "$T" || exit 1

# run NAME ARGS...: runs ottu-resend; exit status in $RC, stderr in $T/NAME.err,
# elapsed milliseconds in $MS.
run() {
  local name="$1" t0; shift
  t0=$(date +%s%N)
  "$RESEND" --progress never "$@" 2>"$T/$name.err"
  RC=$?
  MS=$(( ($(date +%s%N) - t0) / 1000000 ))
}
# js FILE EXPR: a value of the summary JSON (python expression over s)
js() { python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# ids_once DELIVERIES INPUT: every order_no of INPUT delivered exactly once (prints what is not)
ids_once() {
  python3 - "$1" "$2" <<'PY'
import csv, sys, collections
try:
    c = collections.Counter(r[2] for r in csv.reader(open(sys.argv[1])) if len(r) > 3)
    ids = [r['order_no'] for r in csv.DictReader(open(sys.argv[2]))]
except Exception as e:
    print(f'ERROR: {e}'); sys.exit(1)
bad = [i for i in ids if c[i] != 1] + [i for i in c if i not in set(ids)]
print(' '.join(bad))
PY
}

# status_count CODE: answers with that HTTP status to notification requests (mock stats)
status_count() { curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get(sys.argv[1], 0))' "$1"; }
# resume_daily NAME ARGS...: what cron does after an exit 4: on each "next day" (the mock's
# quota reset), --resume; until the job ends (at most 6 days). Sets RC (the last exit
# status) and DAYS; ALL_OK=0 when a run ended other than 0 or 4 or left a failed row.
resume_daily() {
  local name="$1" out="$2"; shift 2
  DAYS=0; ALL_OK=1; RC=4
  while [ "$RC" -eq 4 ] && [ "$DAYS" -lt 6 ]; do
    curl -s -X POST "$MOCK_URL/__mock/quota-reset" >/dev/null
    DAYS=$((DAYS + 1))
    run "$name.$DAYS" "$@" --resume
    { [ "$RC" -eq 0 ] || [ "$RC" -eq 4 ]; } && only_sent_or_not_attempted "$out" || ALL_OK=0
  done
}
# next_midnight TIME: TIME (ISO 8601 UTC) is the next UTC midnight, within 2 minutes (the
# mock rounds its Retry-After up to whole seconds)
next_midnight() {
  python3 - "$1" <<'PY'
import sys, datetime
ra = datetime.datetime.strptime(sys.argv[1], '%Y-%m-%dT%H:%M:%S.%fZ').replace(tzinfo=datetime.timezone.utc)
now = datetime.datetime.now(datetime.timezone.utc)
midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
sys.exit(0 if abs((ra - midnight).total_seconds()) < 120 else 1)
PY
}
# only_sent_or_not_attempted OUTPUT: no row failed (or anything else) because of the stop
# (a missing or empty output is a failure, not "no failed rows")
only_sent_or_not_attempted() {
  local st
  st=$(col "$1" result_status) && [ -n "$st" ] || { echo "# $1: missing, unreadable or no rows"; return 1; }
  ! grep -qvE '^(sent|not_attempted)$' <<<"$st"
}

gen_rows 10 in10.csv
gen_rows 20 in20.csv sms Q

# ---- 1. a typo host: exit 2 at once, naming the host, nothing sent ----
# A real DNS failure needs a resolver that answers without the network: this machine's
# would ask a name server off 127.0.0.1, so the run is put in an empty network namespace
# (unshare -rn), where the lookup fails at once and no packet leaves. Where user namespaces
# are not allowed, that check is skipped (said below); the connect-refused one always runs.
start_mock || exit 1
# "At once" is measured against a dry run of the same file in this build on this machine
# (a sanitizer or a loaded machine slows both): at most 5 s more, while retrying a lost
# host with the default backoff would take at least 7.5 s more.
t0=$(date +%s%N)
"$RESEND" --dry-run --progress never -q -o dry.base.csv in10.csv 2>/dev/null
BASE_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
rm -f dry.base.csv
if unshare -rn true 2>/dev/null; then
  t0=$(date +%s%N)
  unshare -rn "$RESEND" --progress never --base-url https://merchnat.invalid in10.csv 2>typo.err
  RC=$?; MS=$(( ($(date +%s%N) - t0) / 1000000 ))
  check_eq "typo host (DNS): exit 2" 2 "$RC"
  check "typo host (DNS): ends at once (${MS} ms, a dry run ${BASE_MS} ms: < 5 s more)" [ $((MS - BASE_MS)) -lt 5000 ]
  check "typo host (DNS): the message names the host and says it does not resolve" \
    grep -q 'merchnat.invalid.*does not resolve' typo.err
  check "typo host (DNS): no output, no journal" test ! -e in10.results.csv -a ! -e in10.results.csv.journal
else
  skip 4 "typo host (DNS): unshare -rn is not allowed here (the connect-refused case below still runs)"
fi
# Nothing listens on a port just freed: connect refused, the other "unreachable" case.
dead=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
run refused --base-url "http://127.0.0.1:$dead" in10.csv
check_eq "nothing listening: exit 2" 2 "$RC"
check "nothing listening: ends at once (${MS} ms, a dry run ${BASE_MS} ms: < 5 s more)" [ $((MS - BASE_MS)) -lt 5000 ]
check "nothing listening: the message names the host" grep -q "cannot reach the API at http://127.0.0.1:$dead" refused.err
check "nothing listening: no output, no journal" test ! -e in10.results.csv -a ! -e in10.results.csv.journal

# ---- 2. a base URL that is not the API (404): exit 2, no notification request ----
run notapi --base-url "$MOCK_URL/nothere" in10.csv
check_eq "wrong base URL: exit 2" 2 "$RC"
check "wrong base URL: 'no Ottu API at' the URL" grep -q "no Ottu API at $MOCK_URL/nothere/" notapi.err
check_eq "wrong base URL: zero notification requests, one GET" "0 1" "$(mock_stat requests) $(mock_stat get_requests)"
check "wrong base URL: no output, no journal" test ! -e in10.results.csv -a ! -e in10.results.csv.journal

# ---- 3. a wrong key: exit 3, no notification request, every row not_attempted ----
OTTU_API_KEY=wrong-key run badkey --base-url "$MOCK_URL" --summary-json badkey.json in10.csv
check_eq "wrong key: exit 3" 3 "$RC"
check_eq "wrong key: zero notification requests" 0 "$(mock_stat requests)"
check_eq "wrong key: every row not_attempted" "not_attempted 10" "$(statuses in10.results.csv)"
check_eq "wrong key: summary says so" "3 10 0" "$(js badkey.json '"%d %d %d" % (s["exit_code"], s["not_attempted"], s["requests"])')"
check "wrong key: stderr says the key was rejected" grep -q 'rejected the key' badkey.err
check "wrong key: the key is never shown" lacks wrong-key badkey.err
# After fixing the key, --resume sends every row once.
run badkey2 --base-url "$MOCK_URL" --resume in10.csv
check_eq "wrong key, then the right one: --resume exits 0" 0 "$RC"
check_eq "wrong key, then the right one: every row sent" "sent 10" "$(statuses in10.results.csv)"
stop_mock

# ---- 7. --no-preflight: no GET ----
start_mock --deliveries np.dlv || exit 1
run nopre --base-url "$MOCK_URL" --no-preflight --no-ledger -o np.csv in10.csv
check_eq "--no-preflight: exit 0" 0 "$RC"
check_eq "--no-preflight: no GET, 10 POSTs" "0 10" "$(mock_stat get_requests) $(mock_stat requests)"
run pre --base-url "$MOCK_URL" --no-ledger -o np2.csv in10.csv
check_eq "with the preflight: exactly one GET before the 10 POSTs" "1 20" "$(mock_stat get_requests) $(mock_stat requests)"
stop_mock

# ---- 4. the API's daily quota runs out mid-job: exit 4, then --resume once it allows ----
# --daily-quota 6: the preflight GET and 5 POSTs; the 6th POST gets 429 with a Retry-After
# of hours (until UTC midnight), far over --max-pause.
start_mock --daily-quota 6 --deliveries q.dlv || exit 1
run quota --base-url "$MOCK_URL" -j 1 -r 0 --summary-json q.json in20.csv
check_eq "quota: exit 4" 4 "$RC"
check_eq "quota: stopped_by quota" quota "$(js q.json 's.get("stopped_by")')"
ra=$(js q.json 's.get("resume_after")')
check "quota: resume_after is the next UTC midnight ($ra)" next_midnight "$ra"
check_eq "quota: 5 sent, the rest not_attempted, none failed" "not_attempted 15 sent 5" "$(statuses in20.results.csv)"
check "quota: stderr says when the API takes requests again" grep -q 'quota is exhausted.*--resume' quota.err
check_eq "quota: one request after the quota ran out, no more" 6 "$(mock_stat requests)"
# A job started while the quota is spent (cron's next run before midnight) stops at the
# preflight: exit 4, not one notification request, not even a refused one.
run quota_pre --base-url "$MOCK_URL" -j 8 -r 0 --ledger qpre.db --summary-json qpre.json -o qpre.csv in20.csv
check_eq "quota spent at start: exit 4, stopped_by quota, every row not_attempted" "4 quota not_attempted 20" \
  "$RC $(js qpre.json 's.get("stopped_by")') $(statuses qpre.csv)"
check_eq "quota spent at start: no notification request, one more GET" "6 2" "$(mock_stat requests) $(mock_stat get_requests)"
ra=$(js qpre.json 's.get("resume_after")')
check "quota spent at start: resume_after is the next UTC midnight ($ra)" next_midnight "$ra"
# Once the API allows requests again, --resume sends each remaining row exactly once: five
# a day (the preflight takes the sixth request), so three more days.
resume_daily quota_resume in20.results.csv --base-url "$MOCK_URL" -j 4 -r 0 in20.csv
check_eq "quota, then --resume each day: done on the third, each stop exit 4 without failed rows" "0 3 1" "$RC $DAYS $ALL_OK"
check_eq "quota, then --resume: every row sent" "sent 20" "$(statuses in20.results.csv)"
check_eq "quota, then --resume: nobody notified twice" "" "$(twice q.dlv)"
check_eq "quota, then --resume: every row delivered exactly once" "" "$(ids_once q.dlv in20.csv)"
stop_mock

# Many workers at once: every row in flight that gets 429 is not_attempted, never failed.
start_mock --daily-quota 6 --deliveries q8.dlv || exit 1
run quota8 --base-url "$MOCK_URL" -j 8 -r 0 --ledger quota8.db --summary-json q8.json -o q8.csv in20.csv
check_eq "quota, -j 8: exit 4, stopped_by quota" "4 quota" "$RC $(js q8.json 's.get("stopped_by")')"
check "quota, -j 8: no failed rows ($(statuses q8.csv))" only_sent_or_not_attempted q8.csv
check_eq "quota, -j 8: 5 sent" 5 "$(col q8.csv result_status | grep -c '^sent$')"
resume_daily quota8r q8.csv --base-url "$MOCK_URL" -j 8 -r 0 --ledger quota8.db -o q8.csv in20.csv
check_eq "quota, -j 8, then --resume each day: done on the third, no failed rows" "0 3 1" "$RC $DAYS $ALL_OK"
check_eq "quota, -j 8, then --resume: every row sent" "sent 20" "$(statuses q8.csv)"
check_eq "quota, -j 8, then --resume: each row delivered once" "" "$(ids_once q8.dlv in20.csv)"
stop_mock

# ---- --max-pause: a shorter Retry-After pauses the job, a longer one stops it ----
# --rate-limit 5: above 5 requests a second, 429 with Retry-After: 1.
start_mock --rate-limit 5 --deliveries mp.dlv || exit 1
gen_rows 15 in15.csv sms M
run mp_pause --base-url "$MOCK_URL" -j 4 -r 0 --no-ledger --max-attempts 20 -o mp1.csv in15.csv
check_eq "Retry-After 1 s under --max-pause: the job pauses and finishes, every row sent" "0 sent 15" "$RC $(statuses mp1.csv)"
check "Retry-After 1 s under --max-pause: the API did say 429" [ "$(status_count 429)" -gt 0 ]
check_eq "Retry-After under --max-pause: nobody notified twice" "" "$(twice mp.dlv)"
stop_mock
start_mock --rate-limit 5 --deliveries mp2.dlv || exit 1
run mp_stop --base-url "$MOCK_URL" -j 4 -r 0 --no-ledger --max-pause 0 --summary-json mp2.json -o mp2.csv in15.csv
check_eq "Retry-After 1 s over --max-pause 0: exit 4, stopped_by quota" "4 quota" "$RC $(js mp2.json 's.get("stopped_by")')"
check "Retry-After over --max-pause: no failed rows ($(statuses mp2.csv))" only_sent_or_not_attempted mp2.csv
stop_mock

# ---- 5. --daily-budget shared by two jobs of a day on one ledger ----
# Budget 30: job A spends 1 GET + 10 POSTs; job B may spend 19 (1 GET + 18 POSTs), then
# stops with exit 4. Same XDG_STATE_HOME, so the same default ledger.
export XDG_STATE_HOME="$T/budget-state"
start_mock --deliveries b.dlv || exit 1
gen_rows 10 ba.csv sms A
gen_rows 40 bb.csv sms B
run ba --base-url "$MOCK_URL" -j 4 -r 0 --daily-budget 30 ba.csv
check_eq "budget: job A fits (exit 0, 10 sent)" "0 sent 10" "$RC $(statuses ba.results.csv)"
run bb --base-url "$MOCK_URL" -j 4 -r 0 --daily-budget 30 --summary-json bb.json bb.csv
check_eq "budget: job B stops with exit 4, stopped_by budget" "4 budget" "$RC $(js bb.json 's.get("stopped_by")')"
total=$(( $(mock_stat requests) + $(mock_stat get_requests) ))
check_eq "budget: the two jobs made exactly 30 requests, GETs included" 30 "$total"
check_eq "budget: job B sent 18, the rest not_attempted" "not_attempted 22 sent 18" "$(statuses bb.results.csv)"
check "budget: job B warned at start that its rows exceed what is left" grep -q 'up to 40 rows.*has 19 requests left' bb.err
check "budget: job A did not warn" bash -c '! grep -q "rows to send" "$1"' _ ba.err
check "budget: job B says the budget is spent" grep -q 'budget' bb.err
ra=$(js bb.json 's.get("resume_after")')
check "budget: resume_after is the next UTC midnight ($ra)" next_midnight "$ra"
"$RESEND" ledger stats "$XDG_STATE_HOME/ottu-resend/ledger.db" >stats.out 2>&1
check "budget: ledger stats shows today's use (30)" grep -qE '^  api-[0-9a-f]{16} +30$' stats.out
# A third job that day is stopped before it sends anything: not even the preflight.
run bc --base-url "$MOCK_URL" -j 4 -r 0 --daily-budget 30 --summary-json bc.json -o bc.csv ba.csv
check_eq "budget spent: a new job exits 4 at once, no request" "4 budget 30" \
  "$RC $(js bc.json 's.get("stopped_by")') $(( $(mock_stat requests) + $(mock_stat get_requests) ))"
# A larger budget the same day: --resume continues job B, each row once.
run bb2 --base-url "$MOCK_URL" -j 4 -r 0 --daily-budget 1000 --resume bb.csv
check_eq "budget raised: --resume finishes job B" "0 sent 40" "$RC $(statuses bb.results.csv)"
check_eq "budget raised: nobody notified twice" "" "$(twice b.dlv)"
stop_mock
# The warning's row count: --limit bounds it; a pipe is never read ahead, so no warning.
export XDG_STATE_HOME="$T/budget-state2"
start_mock || exit 1
run warn_limit --base-url "$MOCK_URL" -r 0 --daily-budget 10 --limit 5 -o wl.csv bb.csv
check_eq "budget 10, --limit 5 of 40 rows: no warning, stopped by the limit" "4 0" "$RC $(grep -c 'rows to send' warn_limit.err)"
run warn_pipe --base-url "$MOCK_URL" -r 0 --daily-budget 10 -o wp.csv - <bb.csv
check_eq "budget spent from a pipe: no warning (not read ahead), stopped by the budget, 3 sent" "4 0 3" \
  "$RC $(grep -c 'rows to send' warn_pipe.err) $(col wp.csv result_status | grep -c '^sent$')"
check_eq "budget 10: 10 requests in all (2 GETs, 8 POSTs)" "2 8" "$(mock_stat get_requests) $(mock_stat requests)"
stop_mock
export XDG_STATE_HOME="$T/state"

# ---- 6. the canary: --limit 5, then --resume sends the rest ----
start_mock --deliveries c.dlv || exit 1
gen_rows 12 canary.csv sms C
run canary --base-url "$MOCK_URL" -j 4 -r 0 --limit 5 --summary-json c.json canary.csv
check_eq "--limit 5: exit 4, stopped_by limit" "4 limit" "$RC $(js c.json 's.get("stopped_by")')"
check_eq "--limit 5: 5 sent, the rest not_attempted" "not_attempted 7 sent 5" "$(statuses canary.results.csv)"
check_eq "--limit 5: 5 notification requests" 5 "$(mock_stat requests)"
check_eq "--limit 5: the first 5 rows are the ones sent" "C00001 C00002 C00003 C00004 C00005" \
  "$(python3 -c 'import csv,sys; print(" ".join(r["order_no"] for r in csv.DictReader(open(sys.argv[1])) if r["result_status"] == "sent"))' canary.results.csv)"
run canary2 --base-url "$MOCK_URL" -j 4 -r 0 --resume canary.csv
check_eq "--limit, then --resume without it: exit 0, every row sent" "0 sent 12" "$RC $(statuses canary.results.csv)"
check_eq "--limit, then --resume: each row delivered exactly once" "" "$(ids_once c.dlv canary.csv)"
check_eq "--limit, then --resume: 12 notification requests in all" 12 "$(mock_stat requests)"
stop_mock

# ---- a budget spent early in a long job: the rows read after it end quickly ----
# (Regression: a claim batch holding the oldest row of the reorder window while every
# later row was decided at once filled the window, and the reader waited forever.)
gen_rows 6000 "$T/long.csv" sms LONG
start_mock
new_state=$(mktemp -d "$T/state.XXXX")
XDG_STATE_HOME="$new_state" timeout 60 "$RESEND" --base-url "$MOCK_URL" --progress never -q -r 0 -j 8 \
  --daily-budget 300 "$T/long.csv" 2>/dev/null
rc=$?
check_eq "budget spent early in a 6000-row job: exit 4, no hang" 4 "$rc"
check_eq "budget spent early: every row in the output" 6000 "$(rows "$T/long.results.csv")"
stop_mock
