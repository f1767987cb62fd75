#!/usr/bin/env bash
# Reasons stay readable and the HTTP line is true (issue 27): a long reason is shortened
# at a word with "…" (never inside a word or a UTF-8 sequence), on stderr and in the
# summary JSON; numbers that are the message stay; the HTTP line (and http_attempts)
# counts every attempt's answer, as the mock counted them. Real ottu-resend, ottu-mock.
source "$(dirname "$0")/../lib.sh"
plan 8
cd "$T" || exit 1
start_mock --fail-rate 0.5 --seed 11 || exit 1
{
  echo order_no,channels,state
  for i in $(seq 1 40); do echo "H-$i,sms,paid"; done
  echo 'Z-1,sms,weird'
  echo 'Z-2,sms,stranger'
} > in.csv
"$RESEND" --base-url "$MOCK_URL" --no-ledger --yes -r 0 --max-attempts 3 --backoff-base-ms 1 --backoff-max-ms 5 \
  --summary-json "$T/s.json" -o out.csv in.csv >run.out 2>run.err
check_eq "a run with failures: exit 1" 1 "$?"
mock503=$(curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("503", 0))')
mock200=$(curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("200", 0))')
rows503=$(col out.csv result_http_status | grep -c '^503$')
check "more attempts got 503 ($mock503) than rows ended on it ($rows503)" test "$mock503" -gt "$rows503"
check "the HTTP line counts every attempt: 200×$mock200 503×$mock503" grep -q "HTTP: 200×$mock200 503×$mock503\$" run.err
grep 'HTTP:' run.err | sed 's/^/#  /'
check_eq "summary JSON http_attempts: the mock's counts" "$mock200 $mock503" \
  "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["http_attempts"]; print(d.get("200"), d.get("503"))' s.json)"
check "numbers that are the message stay (gave up after 3 attempts)" grep -q "gave up after 3 attempts" s.json
python3 - s.json in.csv <<'PY' > reasons.txt
import json, sys
r = [x["reason"] for x in json.load(open(sys.argv[1]))["failure_reasons"]]
for x in r: print(x)
PY
sed 's/^/#   /' reasons.txt
long=$(grep 'is not a payment state' reasons.txt)
check "the two bad states group as one reason" bash -c \
  "python3 -c 'import json,sys; print([x[\"count\"] for x in json.load(open(sys.argv[1]))[\"failure_reasons\"] if \"payment state\" in x[\"reason\"]])' s.json | grep -qx '\[2\]'"
check "a long reason ends with … after a whole word" python3 - "$long" <<'PY'
import sys
full = ('state "…" is not a payment state (created, pending, attempted, authorized, paid, cod, failed, canceled, '
        'expired, invalided, refunded, refund_queued, refund_rejected, voided, captured)')
r = sys.argv[1]
assert r.endswith("…"), r
head = r[:-1]
assert full.startswith(head), (head, full)
assert full[len(head)] in " ,", "cut inside a word: " + repr(full[len(head) - 5:len(head) + 5])
PY
check "the same shortened reason on stderr" grep -qF -- "$long" run.err
