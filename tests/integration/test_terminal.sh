#!/usr/bin/env bash
# A person at a terminal (issue 18): under a pseudo-terminal of 80 columns, real sends are
# confirmed first (answered no: nothing sent, exit 2; yes: sent; --yes: not asked), and the
# progress line is one line, redrawn in place, never wider than the window — also while the
# API is failing, when the line is longest. Real ottu-resend against ottu-mock on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 17
cd "$T" || exit 1
mkdir -p "$XDG_STATE_HOME/ottu-resend" # the default ledger's folder
PTY="$ROOT/tests/pty_run.py"
stat() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"; }

python3 -c '
print("order_no,channels")
for i in range(1, 121): print("T%06d,%s" % (i, "sms;email" if i % 3 == 0 else "sms"))' >in.csv

# 1. Answered no: nothing sent, exit 2, no result file, no journal.
start_mock; new_ledger
python3 "$PTY" 80 no no.out -- "$RESEND" --base-url "$MOCK_URL" -o no.csv in.csv; rc=$?
check_eq "answered no: exit 2" 2 "$rc"
check "answered no: the question names the counts and the host" \
  grep -q "About to send 160 notifications (sms 120, email 40, whatsapp 0) for 120 rows to http://127.0.0.1:[0-9]* — type yes to send" no.out
check "answered no: says nothing was sent" grep -q "not confirmed: nothing sent" no.out
check_eq "answered no: the API got no request" 0 "$(stat "$MOCK_URL" requests)"
check "answered no: no result file and no journal" bash -c '! ls no.csv* >/dev/null 2>&1'

# 2. The terminal closed at the question (end of input): not sent either.
python3 "$PTY" 80 - eof.out -- bash -c "exec \"$RESEND\" --base-url \"$MOCK_URL\" --ledger \"$T/eof.db\" -o eof.csv in.csv </dev/null"; rc=$?
check_eq "stdin not a terminal: not asked (cron), sent" "0 0" "$rc $(grep -c 'type yes' eof.out)"
stop_mock

# 3. Answered yes, with the API failing a third of the time: sent, and the progress line
#    stays within 80 columns, redrawn in place. The backoff keeps a failed row waiting
#    100-300 ms, so the redraws (every 200 ms) see rows retrying: with 20-100 ms, about one
#    row was waiting at any moment, and once in CI no redraw of the ~3 s run caught one.
start_mock --fail-rate 0.3 --seed 7 --latency-ms 15; new_ledger
python3 "$PTY" 80 yes yes.out -- "$RESEND" --base-url "$MOCK_URL" -q -r 60 -j 4 --max-attempts 8 \
  --backoff-base-ms 100 --backoff-max-ms 300 -o yes.csv in.csv; rc=$?
check_eq "answered yes: exit 0" 0 "$rc"
check_eq "answered yes: every row sent" 120 "$(col yes.csv result_status | grep -c '^sent$')"
check_eq "answered yes: 160 notifications delivered" 160 "$(stat "$MOCK_URL" delivered)"
progress_ok() { # FILE WIDTH: the progress as the terminal showed it
  python3 - "$1" "$2" <<'PY'
import re, sys
raw = open(sys.argv[1], 'rb').read().decode('utf-8', 'replace')
width = int(sys.argv[2])
raw = raw[raw.index('type yes to send'):]
raw = raw[raw.index('\n') + 1:]          # after the answer's echo
draws = raw.split('\r\x1b[K')
bad = []
if len(draws) < 4:
    bad.append('only %d draws' % (len(draws) - 1))
# in place: no line break between two draws; one after the last
for d in draws[1:-1]:
    if '\n' in d or '\r' in d:
        bad.append('line break inside a redraw: %r' % d)
last = draws[-1]
if not last.endswith('\r\n') or last.count('\n') != 1:
    bad.append('last draw not ended by one newline: %r' % last)
for d in draws[1:]:
    line = d.rstrip('\r\n')
    if len(line) > width - 1:
        bad.append('%d columns: %r' % (len(line), line))
    if re.search(r'[\x00-\x1f\x7f]', line):
        bad.append('control character: %r' % line)
for b in bad[:5]:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
}
check "answered yes: progress redrawn in place, never wider than 80 columns" progress_ok yes.out 80
check "answered yes: the API failures showed on the line" grep -q "failing\|retry" yes.out

# 4. --yes: not asked; a 40-column window still gets one line that fits.
python3 "$PTY" 40 - narrow.out -- "$RESEND" --base-url "$MOCK_URL" -q --yes -r 60 -j 4 --max-attempts 8 \
  --backoff-base-ms 20 --backoff-max-ms 100 --cooldown 0 -o narrow.csv in.csv; rc=$?
check_eq "--yes: exit 0 without a question" "0 0" "$rc $(grep -c 'type yes' narrow.out)"
sed -i '1i type yes to send\n' narrow.out # progress_ok starts after the question
check "--yes in 40 columns: progress redrawn in place, never wider than 40 columns" progress_ok narrow.out 40
stop_mock

# 5. Two things on standard output (-o - and --summary-json -) are refused before anything.
"$RESEND" --dry-run -o - --summary-json - in.csv >both.out 2>both.err; rc=$?
check_eq "-o - with --summary-json -: exit 2, nothing on stdout" "2 0" "$rc $(wc -c <both.out)"
check "-o - with --summary-json -: the message says which" grep -q -- "-o - and --summary-json - would both write to standard output" both.err
"$RESEND" --dry-run --summary-json - - <in.csv >both2.out 2>both2.err; rc=$?
check_eq "stdin input (results on stdout) with --summary-json -: exit 2" 2 "$rc"
"$RESEND" --dry-run -q -o - --summary-json "$T/s.json" in.csv >one.out 2>/dev/null; rc=$?
check_eq "-o - alone: still works" "0 121" "$rc $(wc -l <one.out)"
