#!/usr/bin/env bash
# The progress line tells the truth (issue 27): rows ending unknown (answers lost) and rows
# skipped by the ledger show on the live line as they happen; the first ETA is near the
# real time left even when a resumed job starts with a burst of rows already decided; the
# --resume question counts only the rows left to send. Under a pseudo-terminal, real
# ottu-resend against ottu-mock on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 11
cd "$T" || exit 1
PTY="$ROOT/tests/pty_run.py"
# draws FILE: every redraw of the progress line, one per output line
draws() { python3 -c '
import sys
raw = open(sys.argv[1], "rb").read().decode("utf-8", "replace")
for d in raw.split("\r\x1b[K")[1:]:
    print(d.strip("\r\n").split("\r\n")[0])' "$1"; }
gen_rows 200 in.csv sms U

# 1. Lost answers: "unknown" counts while the job runs, not only at its end; skipped too.
start_mock --ambiguous-rate 0.3 --ambiguous-kinds 500,502 --seed 5
new_ledger
head -41 in.csv > first40.csv
"$RESEND" --base-url "$MOCK_URL" -q --yes -r 0 -o first40.out.csv first40.csv >/dev/null 2>&1 # the ledger now has them
python3 "$PTY" 140 - live.out -- "$RESEND" --base-url "$MOCK_URL" -q --yes -r 100 -j 4 -o live.csv in.csv
draws live.out > live.draws
unk=$(col live.csv result_status | grep -c '^unknown$')
check "lost answers happened (the mock lost $unk)" test "$unk" -gt 10
check "the live line shows unknown rows before the end" bash -c \
  "head -n -1 live.draws | grep -Eq 'unknown [1-9]'"
check "the last line's unknown count is the results' ($unk)" bash -c "tail -1 live.draws | grep -q 'unknown $unk '"
check "the live line shows the rows the ledger skipped" bash -c "head -n -1 live.draws | grep -Eq 'skipped [1-9]'"
sed -n '3p;$p' live.draws | sed 's/^/#   /'
stop_mock

# 2. --resume after a canary (--limit 50): the question counts the 150 rows left, not 200.
start_mock; new_ledger
"$RESEND" --base-url "$MOCK_URL" -q --yes -r 0 --limit 50 -o res.csv in.csv >/dev/null 2>&1
check_eq "canary: exit 4 after 50 rows" 4 "$?"
python3 "$PTY" 140 no no.out -- "$RESEND" --base-url "$MOCK_URL" -q --resume -o res.csv in.csv
check_eq "--resume answered no: exit 2" 2 "$?"
check "--resume: the question counts the 150 rows left" \
  grep -q "About to send 150 notifications (sms 150, email 0, whatsapp 0) for 150 rows" no.out
grep -o "About to send [^—]*" no.out | sed 's/^/#   /'
check "--resume answered no: the journal is kept (--resume still possible)" test -e res.csv.journal

# 3. The same resume, answered yes, at -r 40: the first ETA is near the real time left
#    (about 150/40 s), though the first 50 rows end at once.
start=$(date +%s.%N)
python3 "$PTY" 140 yes eta.out -- "$RESEND" --base-url "$MOCK_URL" -q --resume -r 40 -o res.csv in.csv
rc=$?; took=$(python3 -c "import time; print(round(time.time() - $start, 1))")
check_eq "--resume answered yes: exit 0" 0 "$rc"
draws eta.out > eta.draws
first=$(grep -m1 -o 'ETA [0-9]*m[0-9]*s' eta.draws)
check "the first ETA ($first) is within a factor 2 of the time the job took (${took}s)" python3 -c "
import re, sys
m = re.match(r'ETA (\d+)m(\d+)s', sys.argv[1])
eta = int(m.group(1)) * 60 + int(m.group(2))
took = float(sys.argv[2])
sys.exit(0 if took / 2 <= eta <= took * 2 else 1)" "$first" "$took"
check_eq "every row sent once" 200 "$(col res.csv result_status | grep -c '^sent$')"
