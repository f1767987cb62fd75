# Crash-safe jobs: kill -9 at random moments then --resume, SIGINT then --resume,
# --resend-unknown, resume after a finished run, refusals. The mock's deliveries file is
# the witness that nobody was notified twice.
source "$(dirname "$0")/../lib.sh"
plan 103

gen() {
  python3 -c "
import sys
print('order_no,channels')
for i in range(1, int(sys.argv[1]) + 1): print(f'R{i:06d},sms')" "$1" >"$2"
}
# report DLV OUT N: prints "<rows in output> <distinct ids delivered> <ids delivered twice> <unknown rows>"
report() {
  python3 - "$@" <<'PY'
import csv, sys, collections
dlv, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = collections.Counter(r[2] for r in csv.reader(open(dlv))) if dlv != '-' else collections.Counter()
rows = list(csv.DictReader(open(out)))
ids = [r['order_no'] for r in rows]
assert ids == [f'R{i:06d}' for i in range(1, n + 1)], 'rows missing, doubled or out of order'
twice = sorted(k for k, v in c.items() if v > 1)
unknown = [r['order_no'] for r in rows if r['result_status'] == 'unknown']
# an unknown row may or may not have reached the server: count it as accounted for
accounted = len(set(c) | set(unknown))
print(len(rows), accounted, len(twice), len(unknown), ' '.join(twice), '|', ' '.join(unknown))
PY
}

N=400
gen $N "$T/in.csv"
for seed in 1 2 3 4 5; do
  rm -f "$T/in.results.csv" "$T/in.results.csv.journal" "$T/dlv.$seed"
  start_mock --latency-ms 10 --jitter-ms 20 --seed $seed --deliveries "$T/dlv.$seed"; new_ledger
  "$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q "$T/in.csv" 2>/dev/null &
  pid=$!
  # (a different moment per seed: once 75..175 of the 400 rows were delivered)
  wait_for 30 lines_ge "$T/dlv.$seed" $(((seed * 13 % 7 + 1) * 25))
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  check "kill -9 (seed $seed): journal left behind" test -f "$T/in.results.csv.journal"
  "$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q "$T/in.csv" 2>"$T/err.$seed"
  check_eq "kill -9 (seed $seed): a second run without --resume is refused" 2 $?
  check "kill -9 (seed $seed): the refusal names --resume" grep -q -- '--resume' "$T/err.$seed"
  "$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --resume "$T/in.csv" 2>/dev/null
  rc=$?
  check "kill -9 (seed $seed): resume finishes (exit $rc: 0, or 1 with unknown rows)" [ $rc -eq 0 -o $rc -eq 1 ]
  read -r nrows ndelivered ntwice nunknown rest <<<"$(report "$T/dlv.$seed" "$T/in.results.csv" $N)"
  check_eq "kill -9 (seed $seed): every row exactly once in the output" $N "$nrows"
  check_eq "kill -9 (seed $seed): nobody notified twice" 0 "$ntwice"
  check "kill -9 (seed $seed): at most -j rows unknown ($nunknown)" [ "$nunknown" -le 8 ]
  check_eq "kill -9 (seed $seed): every row delivered or unknown" $N "$ndelivered"
  check "kill -9 (seed $seed): only sent rows were delivered, each once" python3 - "$T/dlv.$seed" "$T/in.results.csv" <<'PY'
import csv, sys, collections
c = collections.Counter(r[2] for r in csv.reader(open(sys.argv[1])))
rows = {r['order_no']: r['result_status'] for r in csv.DictReader(open(sys.argv[2]))}
bad = [k for k, st in rows.items() if st == 'sent' and c[k] != 1] + [k for k in c if rows.get(k) not in ('sent', 'unknown')]
sys.exit(1 if bad else 0)
PY
  check "kill -9 (seed $seed): journal removed when the job completed" test ! -f "$T/in.results.csv.journal"
  stop_mock
done

# --resend-unknown: only the unknown rows may be delivered twice.
rm -f "$T/in.results.csv" "$T/in.results.csv.journal"
start_mock --latency-ms 200 --deliveries "$T/dlv.u"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q "$T/in.csv" 2>/dev/null &
pid=$!
wait_for 30 lines_ge "$T/dlv.u" 16
kill -9 $pid; wait $pid 2>/dev/null
wait_for 10 mock_idle # let the mock finish the requests that were in flight
"$RESEND" --base-url "$MOCK_URL" -j 32 -r 0 --progress never -q --resume --resend-unknown "$T/in.csv" 2>/dev/null
check_eq "resend-unknown: exit 0" 0 $?
read -r nrows ndelivered ntwice nunknown twice bar unknown <<<"$(report "$T/dlv.u" "$T/in.results.csv" $N)"
check_eq "resend-unknown: every row once in the output, none unknown" "$N 0" "$nrows $nunknown"
check "resend-unknown: rows were in flight at the kill ($ntwice delivered twice, at most -j)" [ "$ntwice" -ge 1 -a "$ntwice" -le 8 ]
stop_mock

# --resend-unknown after a FINISHED job (no journal left): still this job to the ledger
# (OUTPUT.job keeps its id), so exactly its unknown rows go again.
rm -f "$T/in.results.csv" "$T/in.results.csv.journal" "$T/in.results.csv.job"
start_mock --ambiguous-rate 0.1 --ambiguous-kinds 502 --seed 5 --deliveries "$T/dlv.fu"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q "$T/in.csv" 2>/dev/null
check_eq "finished with unknown rows: exit 1, journal gone, job file kept" "1 no yes" \
  "$? $([ -f "$T/in.results.csv.journal" ] && echo yes || echo no) $([ -f "$T/in.results.csv.job" ] && echo yes || echo no)"
col "$T/in.results.csv" result_status | grep -c '^unknown$' >"$T/fu.n"
stop_mock
start_mock --deliveries "$T/dlv.fu"
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --resume --resend-unknown "$T/in.csv" 2>/dev/null
check_eq "finished job, --resume --resend-unknown: exit 0, none unknown" "0 0" \
  "$? $(col "$T/in.results.csv" result_status | grep -c '^unknown$')"
read -r nrows ndelivered ntwice nunknown rest <<<"$(report "$T/dlv.fu" "$T/in.results.csv" $N)"
check "finished job, --resend-unknown: exactly the $(cat "$T/fu.n") unknown rows delivered again" \
  [ "$(cat "$T/fu.n")" -ge 1 -a "$ntwice" -eq "$(cat "$T/fu.n")" ]
stop_mock

# SIGINT: in-flight rows finish, the rest is not_attempted, exit 130; --resume completes it.
rm -f "$T/in.results.csv" "$T/in.results.csv.journal"
start_mock --latency-ms 20 --deliveries "$T/dlv.int"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 4 -r 0 --progress never -q "$T/in.csv" 2>"$T/int.err" &
pid=$!
wait_for 30 lines_ge "$T/dlv.int" 20
kill -INT $pid; wait $pid
check_eq "SIGINT: exit 130" 130 $?
read -r nrows ndelivered ntwice nunknown rest <<<"$(report "$T/dlv.int" "$T/in.results.csv" $N)"
check_eq "SIGINT: the output is complete" $N "$nrows"
na=$(col "$T/in.results.csv" result_status | grep -c '^not_attempted$')
ns=$(col "$T/in.results.csv" result_status | grep -c '^sent$')
check "SIGINT: some rows sent ($ns), the rest not_attempted ($na)" [ "$ns" -gt 0 -a $((ns + na)) -eq $N ]
check_eq "SIGINT: sent rows = delivered" "$ns" "$ndelivered"
check "SIGINT: journal kept" test -f "$T/in.results.csv.journal"
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --resume "$T/in.csv"
check_eq "SIGINT then --resume: exit 0" 0 $?
read -r nrows ndelivered ntwice nunknown rest <<<"$(report "$T/dlv.int" "$T/in.results.csv" $N)"
check_eq "SIGINT then --resume: all delivered once" "$N $N 0" "$nrows $ndelivered $ntwice"
check_eq "SIGINT then --resume: all sent" $N "$(col "$T/in.results.csv" result_status | grep -c '^sent$')"

# Resume after a completed run sends nothing and keeps the results.
before=$(wc -l <"$T/dlv.int")
cp "$T/in.results.csv" "$T/before.csv"
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --resume "$T/in.csv"
check_eq "resume after completion: exit 0" 0 $?
check_eq "resume after completion: nothing sent" "$before" "$(wc -l <"$T/dlv.int")"
check "resume after completion: same results" cmp -s "$T/before.csv" "$T/in.results.csv"
stop_mock

# A changed input is refused.
rm -f "$T/in.results.csv" "$T/in.results.csv.journal"
start_mock --latency-ms 50; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 --progress never -q "$T/in.csv" 2>/dev/null &
pid=$!
wait_for 30 requests_ge 4
kill -9 $pid; wait $pid 2>/dev/null
wait_for 10 mock_idle
reqs=$(mock_stat requests)
echo "R999999,sms" >>"$T/in.csv"
"$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 --progress never -q --resume "$T/in.csv" 2>"$T/changed.err"
check_eq "changed input: --resume refused with exit 2" 2 $?
check "changed input: the message says the input changed" grep -q 'changed' "$T/changed.err"
"$RESEND" --base-url "$MOCK_URL" --resume - <"$T/in.csv" 2>/dev/null
check_eq "resume from stdin refused" 2 $?
check_eq "changed input and stdin: the refused resumes sent nothing" "$reqs" "$(mock_stat requests)"
stop_mock

# --resume with no journal and no output simply starts.
gen 5 "$T/fresh.csv"
start_mock; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 --progress never -q --resume "$T/fresh.csv"
check_eq "resume with nothing to resume: runs (exit 0)" 0 $?
check_eq "resume with nothing to resume: all sent" 5 "$(col "$T/fresh.results.csv" result_status | grep -c '^sent$')"
stop_mock

# The output is never a half-written file: during a run only PATH.partial exists.
gen 100 "$T/part.csv"
start_mock --latency-ms 30; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 --progress never -q "$T/part.csv" &
pid=$!
wait_for 30 requests_ge 10   # under way: a tenth of the rows asked
check "during the run the results are in .partial" test -f "$T/part.results.csv.partial" -a ! -f "$T/part.results.csv"
wait $pid
check "after the run the results are in place" test -f "$T/part.results.csv" -a ! -f "$T/part.results.csv.partial"
stop_mock

# Resume of a finished job whose input has invalid and duplicate rows: nothing is sent
# again (the results stay in step with the input), and a changed input is refused before
# anything is sent, leaving no journal behind.
printf 'order_no,channels\nA1,sms\nA2,fax\nA3,sms\nA4,sms\nA3,sms\n' >"$T/fin.csv"
start_mock --deliveries "$T/fin.dlv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 --progress never -q "$T/fin.csv" 2>/dev/null
check_eq "finished job: exit 1 (an invalid row)" 1 $?
for k in 1 2; do
  "$RESEND" --base-url "$MOCK_URL" -r 0 --progress never -q --resume "$T/fin.csv" 2>/dev/null
  check_eq "finished job, resume #$k: exit 1 as before" 1 $?
  check_eq "finished job, resume #$k: nothing delivered again" 3 "$(wc -l <"$T/fin.dlv")"
done
check_eq "finished job: statuses kept" "sent invalid sent sent duplicate" \
  "$(col "$T/fin.results.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
echo "A5,sms" >>"$T/fin.csv"
"$RESEND" --base-url "$MOCK_URL" -r 0 --progress never -q --resume "$T/fin.csv" 2>"$T/fin.err"
check_eq "finished job, input grew: resume refused" 2 $?
check "finished job, input grew: says the results are not this input's" grep -q 'fewer rows' "$T/fin.err"
check_eq "finished job, input grew: nothing sent" 3 "$(wc -l <"$T/fin.dlv")"
check "finished job, refused resume: no journal left behind" test ! -f "$T/fin.results.csv.journal"
stop_mock

# Ledger reconciled on resume: after kill -9 and --resume, the ledger holds every row that
# was sent, so the next night's job over the same rows sends nothing.
gen 200 "$T/led.csv"
start_mock --latency-ms 10 --jitter-ms 10 --deliveries "$T/led.dlv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --ledger "$T/l.db" "$T/led.csv" 2>/dev/null &
pid=$!
wait_for 30 lines_ge "$T/led.dlv" 40
kill -9 $pid; wait $pid 2>/dev/null
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --ledger "$T/l.db" --resume "$T/led.csv" 2>/dev/null
sent=$(col "$T/led.results.csv" result_status | grep -cE '^(sent|unknown)$')
check_eq "ledger after kill -9 + resume: every sent (or unknown) row recorded" "$sent" \
  "$(sqlite3 "$T/l.db" "select count(distinct identifier) from sends")"
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --ledger "$T/l.db" "$T/led.csv" -o "$T/led2.csv" 2>/dev/null
check_eq "next job over the same rows: every sent or unknown row skipped" "$sent" "$(col "$T/led2.csv" result_status | grep -c '^skipped$')"
check_eq "next job: nobody notified twice" 0 "$(cut -d, -f3 "$T/led.dlv" | sort | uniq -d | wc -l)"
stop_mock

# result_attempts counts the attempts of every run; each run gets a fresh retry budget.
gen 6 "$T/att.csv"
start_mock --fail-rate 1 --seed 3; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 6 -r 0 --max-attempts 10 --backoff-base-ms 150 --backoff-max-ms 150 \
  --progress never -q "$T/att.csv" 2>/dev/null &
pid=$!
wait_for 30 requests_ge 6   # every row tried
kill -INT $pid; wait $pid
check_eq "attempts: interrupted while retrying: exit 130" 130 $?
before=$(col "$T/att.results.csv" result_attempts | paste -sd ' ')
check "attempts: rows had attempts before the interrupt ($before)" [ "$(col "$T/att.results.csv" result_attempts | sort -n | head -1)" -ge 1 ]
stop_mock
start_mock # the same ledger: a job is resumed on its own ledger (OUTPUT.job names it)
"$RESEND" --base-url "$MOCK_URL" -j 6 -r 0 --max-attempts 1 --progress never -q --resume "$T/att.csv"
check_eq "attempts: resumed with --max-attempts 1 (a fresh budget): exit 0" 0 $?
after=$(col "$T/att.results.csv" result_attempts | paste -sd ' ')
want=$(for a in $before; do printf '%s ' $((a + 1)); done | sed 's/ $//')
check_eq "attempts: result_attempts = earlier attempts + 1" "$want" "$after"
stop_mock

# SIGTERM behaves like SIGINT; a second signal stops at once without waiting for the
# requests in flight, which become unknown on resume.
gen 20 "$T/sig.csv"
start_mock --latency-ms 3000 --deliveries "$T/sig.dlv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 --progress never -q "$T/sig.csv" 2>/dev/null &
pid=$!
wait_for 30 delayed_ge 1   # the preflight (or the first requests) held by the mock
kill -TERM $pid; wait $pid
check_eq "SIGTERM: exit 130 once the requests in flight finish" 130 $?
check_eq "SIGTERM: the output is complete" 20 "$(rows "$T/sig.results.csv")"
rm -f "$T/sig.results.csv" "$T/sig.results.csv.journal"
new_ledger
# --no-preflight: the mock's 3 s latency would hold the preflight GET, and the point here
# is two requests in flight when the second signal comes.
"$RESEND" --base-url "$MOCK_URL" --no-preflight -j 2 -r 0 --progress never -q "$T/sig.csv" 2>"$T/sig2.err" &
pid=$!
wait_for 30 delayed_ge 2   # two requests in flight
start=$(date +%s%N)
# the second signal once the first one was taken (it says so), not after a fixed pause
kill -INT $pid; wait_for 10 grep -q interrupted "$T/sig2.err"; kill -INT $pid; wait $pid
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check_eq "second signal: exit 130" 130 $rc
check "second signal: stopped at once (${ms} ms, the requests in flight needed 3 s)" [ "$ms" -lt 2000 ]
check "second signal: the journal is kept" test -f "$T/sig.results.csv.journal"
check "second signal: no half-written results in place" test ! -f "$T/sig.results.csv"
stop_mock
start_mock # the same ledger: a job is resumed on its own ledger (OUTPUT.job names it)
"$RESEND" --base-url "$MOCK_URL" -j 2 -r 0 --progress never -q --resume "$T/sig.csv" 2>/dev/null
check_eq "second signal then --resume: exit 1 (the rows in flight are unknown)" 1 $?
check_eq "second signal then --resume: 2 unknown (-j 2), 18 sent" "2 18" \
  "$(col "$T/sig.results.csv" result_status | grep -c '^unknown$') $(col "$T/sig.results.csv" result_status | grep -c '^sent$')"
stop_mock

# A rate-limited job begins a row only when its turn comes (the feeder's group holds only
# rows the throttle lets go at once): a crash leaves the row in flight unknown, not the
# -j rows that were waiting for their turn.
gen 40 "$T/rate.csv"
rm -f "$T/rate.results.csv" "$T/rate.results.csv.journal"
start_mock --deliveries "$T/dlv.rate"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 5 --progress never -q "$T/rate.csv" 2>/dev/null &
pid=$!
wait_for 30 lines_ge "$T/dlv.rate" 6
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 0 --progress never -q --resume "$T/rate.csv" 2>/dev/null
rc=$?
read -r nrows ndelivered ntwice nunknown rest <<<"$(report "$T/dlv.rate" "$T/rate.results.csv" 40)"
check "-r 5 -j 8, kill -9, --resume: finishes (exit $rc)" [ $rc -eq 0 -o $rc -eq 1 ]
check_eq "-r 5 -j 8, kill -9, --resume: nobody notified twice, every row delivered or unknown" "0 40" "$ntwice $ndelivered"
check "-r 5 -j 8, kill -9: only the row in flight can be unknown, not the 8 waiting ($nunknown unknown)" [ "$nunknown" -le 1 ]
stop_mock
