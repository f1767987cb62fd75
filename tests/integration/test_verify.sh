#!/usr/bin/env bash
# --verify (issue 29): every rule proven from ottu-mock's --deliveries and --requests logs —
# drifted rows never POSTed, disabled channels never requested, one delivery per transaction
# whichever identifier a row uses (within a job and across jobs), one GET per transaction,
# GETs within --daily-budget, GETs retried through faults, 404 rows failed without a POST,
# order_no-only rows unverified (strict: invalid), --dry-run --verify sends nothing, a
# rejected key aborts. Real ottu-resend against the real ottu-mock on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 49
cd "$T" || exit 1

joined() { col "$1" "$2" | paste -sd'|' -; }
jget() { python3 -c 'import json,sys; print(eval(sys.argv[2], {"s": json.load(open(sys.argv[1]))}))' "$1" "$2"; }
# reqs LOG EXPR: a python expression over the mock's request log, rows as dicts r
# (method, path, status, body: the parsed JSON or None)
reqs() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
rows = []
try:
    for t, m, p, st, b in csv.reader(open(sys.argv[1], newline='', encoding='utf-8')):
        rows.append({'method': m, 'path': p, 'status': int(st), 'body': json.loads(b) if b else None})
except FileNotFoundError:
    pass
posts = [r for r in rows if r['method'] == 'POST']
gets = [r for r in rows if r['method'] == 'GET' and 'pymt-txn' in r['path']]
print(eval(sys.argv[2]))
PY
}
# deliv FILE: "identifier/channel xN" per (identifier, channel), sorted
deliv() {
  python3 - "$1" <<'PY'
import csv, sys, collections
try:
    c = collections.Counter((r[2], r[3]) for r in csv.reader(open(sys.argv[1], newline='')) if len(r) > 3)
except FileNotFoundError:
    c = {}
print(' '.join(f'{i}/{ch}x{n}' for (i, ch), n in sorted(c.items())))
PY
}
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 --progress never --backoff-base-ms 20 --backoff-max-ms 100 "$@"; }

cat >txns.csv <<'EOF'
order_no,session_id,state,customer_email,customer_phone,notify_email,notify_sms,notify_whatsapp
O-1,S-1,paid,a@example.com,+96599999991,paid,paid,paid
O-2,S-2,refunded,b@example.com,+96599999992,refunded,paid;refunded,paid
O-3,S-3,paid,,+96599999993,paid,paid,
O-4,S-4,pending,d@example.com,+96599999994,paid,paid,paid
O-5,S-5,paid,e@example.com,+96599999995,paid,paid,paid
O-6,S-6,paid,f@example.com,+96599999996,paid,paid,paid
EOF
NBSP=$'\u00a0'
cat >in.csv <<EOF
order_no,session_id,state,channels
,S-1,paid,sms
O-1,,,sms
,S-1,,email
,S-2,paid,"sms,email"
,S-3,,"sms,email,whatsapp"
,S-404,,sms
O-5,,,sms
,S-4,,sms
,S-6${NBSP},paid,email
EOF

# ---------------------------------------------------------------------------------------
# 1. One job: every rule at once.
start_mock --transactions txns.csv --deliveries "$T/del1.csv" --requests "$T/req1.csv"; new_ledger
run --verify in.csv -o out1.csv --summary-json s1.json 2>err1.txt; rc=$?
check_eq "verify: exit 1 (one row failed: no such transaction)" 1 "$rc"
check_eq "verify: statuses" "sent|skipped|sent|skipped|sent|failed|sent|skipped|sent" "$(joined out1.csv result_status)"
check_eq "verify: one GET per transaction (S-1 twice in the input), none for order_no-only rows" \
  "['S-1', 'S-2', 'S-3', 'S-4', 'S-404', 'S-6']" "$(reqs req1.csv "sorted(g['path'].split('/')[-2] for g in gets)")"
check_eq "verify: the mock counted the same GETs" 6 "$(mock_stat lookups)"
check_eq "verify: drifted S-2 never POSTed" 0 "$(reqs req1.csv "sum(1 for p in posts if p['body'].get('session_id') == 'S-2')")"
check "verify: drift detail names both states" grep -q 'state is refunded now, the row says paid' out1.csv
check_eq "verify: S-3 requested sms only (whatsapp not enabled, no customer_email)" "[['sms']]" \
  "$(reqs req1.csv "[p['body']['channels'] for p in posts if p['body'].get('session_id') == 'S-3']")"
check "verify: the dropped channels are noted" grep -q 'dropped whatsapp not enabled for paid; email: no customer_email' out1.csv
check_eq "verify: 404 row failed, no POST for it" "failed 0" \
  "$(col out1.csv result_status | sed -n 6p) $(reqs req1.csv "sum(1 for p in posts if p['body'].get('session_id') == 'S-404')")"
check "verify: 404 detail" grep -q 'no such transaction: GET pymt-txn/S-404/ answered 404; nothing sent' out1.csv
check_eq "verify: a pending transaction has no notification: skipped, not POSTed" "skipped 0" \
  "$(col out1.csv result_status | sed -n 8p) $(reqs req1.csv "sum(1 for p in posts if p['body'].get('session_id') == 'S-4')")"
check_eq "verify: O-1 by order_no is the transaction S-1 sent by row 1 (skipped)" "skipped sms sent by row 1 of this job" \
  "$(col out1.csv result_detail | sed -n 2p)"
check_eq "verify: one delivery per transaction and channel, logged under one name" \
  "O-1/emailx1 O-1/smsx1 O-3/smsx1 O-5/smsx1 O-6/emailx1" "$(deliv del1.csv)"
check_eq "verify: summary requests = POSTs, lookups = GETs, unverified = the order_no-only rows" "5 6 2" \
  "$(jget s1.json 's["requests"]') $(jget s1.json 's["lookups"]') $(jget s1.json 's["unverified"]')"
check "verify: the stderr summary shows the lookups" grep -q 'lookups 6 (retries 0); rows without a session_id (unverified) 2' err1.txt
check_eq "verify: no mixed-identifier warning (the lookups link them)" 0 "$(jget s1.json 'len(s["warnings"])')"
check_eq "verify: a row without state is sent for the current state" "sent for the current state paid; Customer notified." \
  "$(col out1.csv result_detail | sed -n 3p)"
check_eq "verify: the POSTs carry the trimmed session_id" "['S-6']" \
  "$(reqs req1.csv "[p['body']['session_id'] for p in posts if p['body'].get('session_id', '').startswith('S-6')]")"

# What ottu-resend sends for the GET is valid against Ottu's published OpenAPI (path and
# parameter pattern), and what ottu-mock answers matches the published response schema.
check "openapi: every GET is /b/checkout/v1/pymt-txn/{session_id}/ with session_id ^[-\\w]+\$" python3 - "$T/req1.csv" "$DATA/ottu-openapi/checkout-pymt-txn-get.params.json" <<'PY'
import csv, json, re, sys
spec = json.load(open(sys.argv[2]))
prefix, suffix = spec['path'].split('{session_id}')
pattern = spec['parameters'][0]['schema']['pattern']
gets = [r[2] for r in csv.reader(open(sys.argv[1], newline='')) if r[1] == 'GET' and 'pymt-txn' in r[2]]
bad = [p for p in gets if not (p.startswith(prefix) and p.endswith(suffix) and re.search(pattern, p[len(prefix):-len(suffix)]))]
sys.exit(1 if bad or not gets else 0)
PY
R="$DATA/ottu-openapi/checkout-pymt-txn-get.responses.json"
curl -s -H 'Authorization: Api-Key test-key' "$MOCK_URL/b/checkout/v1/pymt-txn/S-2/" >get200.json
check "openapi: the mock's 200 is a CheckoutGETResponse" python3 "$ROOT/tests/mock/schema_check.py" response "$R" 200 get200.json
curl -s -H 'Authorization: Api-Key test-key' "$MOCK_URL/b/checkout/v1/pymt-txn/nope/" >get404.json
check "openapi: the mock's 404 is a GenericErrorMessage" python3 "$ROOT/tests/mock/schema_check.py" response "$R" 404 get404.json
check_eq "mock: the GET shows state, per-channel events and contacts" \
  "refunded refunded paid;refunded paid b@example.com O-2" \
  "$(jget get200.json '" ".join([s["state"]] + [";".join(s["notifications"][k]) for k in ("email", "sms", "whatsapp")] + [s["customer_email"], s["order_no"]])')"

# 2. Across jobs: the ledger holds the transaction's identity, whatever the row names.
printf 'order_no,session_id,channels\nO-1,,sms\n,S-1,email\n,S-5,sms\nO-6,,email\n' >again.csv
run --verify again.csv -o out2.csv 2>/dev/null
check_eq "across jobs: every row skipped by the ledger, by either name" "skipped|skipped|skipped|skipped" \
  "$(joined out2.csv result_status)"
check_eq "across jobs: still one delivery per transaction and channel" \
  "O-1/emailx1 O-1/smsx1 O-3/smsx1 O-5/smsx1 O-6/emailx1" "$(deliv del1.csv)"
stop_mock

# 2b. Without a ledger the job still links the two names of a transaction.
start_mock --transactions txns.csv --deliveries "$T/del2b.csv"
printf 'order_no,session_id,channels\n,S-1,sms\nO-1,,sms\nO-1,,email\n,S-1,email\n' >noledger.csv
run --verify --no-ledger noledger.csv -o out2b.csv 2>/dev/null
check_eq "no ledger: one delivery per transaction and channel within the job" "O-1/emailx1 O-1/smsx1" "$(deliv del2b.csv)"
check_eq "no ledger: the repeats are skipped" "sent|skipped|sent|skipped" "$(joined out2b.csv result_status)"
stop_mock

# 3. --verify-accept-current sends a drifted row for the current state.
start_mock --transactions txns.csv --deliveries "$T/del3.csv" --requests "$T/req3.csv"; new_ledger
printf 'order_no,session_id,state,channels\n,S-2,paid,"sms,email,whatsapp"\n' >drift.csv
run --verify --verify-accept-current drift.csv -o out3.csv 2>/dev/null; rc=$?
check_eq "accept-current: sent (exit 0)" "0 sent" "$rc $(col out3.csv result_status)"
check "accept-current: the detail says so" grep -q 'sent for the current state refunded (the row says paid; --verify-accept-current)' out3.csv
check_eq "accept-current: whatsapp (no refunded notification) never requested" "[['sms', 'email']]" \
  "$(reqs req3.csv "[p['body']['channels'] for p in posts]")"
stop_mock

# 4. --verify=strict: rows without a session_id are invalid, never sent.
start_mock --transactions txns.csv --deliveries "$T/del4.csv" --requests "$T/req4.csv"; new_ledger
printf 'order_no,session_id,channels\nO-5,,sms\n,S-5,sms\n' >strict.csv
run --verify=strict strict.csv -o out4.csv 2>/dev/null; rc=$?
check_eq "strict: order_no-only row invalid, the other sent" "1 invalid|sent" "$rc $(joined out4.csv result_status)"
check_eq "strict: one POST (S-5)" "['S-5']" "$(reqs req4.csv "[p['body'].get('session_id') for p in posts]")"
stop_mock

# 5. --dry-run --verify: the lookups and the plan, no notification.
start_mock --transactions txns.csv --deliveries "$T/del5.csv" --requests "$T/req5.csv"; new_ledger
run --verify --dry-run in.csv -o out5.csv --summary-json s5.json 2>/dev/null
check_eq "dry run: no POST at all" 0 "$(reqs req5.csv 'len(posts)')"
check_eq "dry run: the GETs were made" 6 "$(reqs req5.csv 'len(gets)')"
check_eq "dry run: the plan" "dry_run|skipped|dry_run|skipped|dry_run|failed|dry_run|skipped|dry_run" \
  "$(joined out5.csv result_status)"
check "dry run: channels dropped in the plan" grep -q 'dropped whatsapp not enabled for paid' out5.csv
check_eq "dry run: nothing delivered" 0 "$(delivered del5.csv)"
stop_mock

# 6. Faults: 503s, dropped connections and lost answers on the GETs are retried (a read
#    has no side effect); the plan is the same. A dry run keeps the POSTs out of it.
start_mock --transactions txns.csv --requests "$T/req6.csv" --seed 11 --fail-rate 0.3 --drop-rate 0.15 \
  --ambiguous-rate 0.2 --ambiguous-kinds 500,502,504,drop
new_ledger
run --verify --dry-run --max-attempts 20 --timeout 5 in.csv -o out6.csv --summary-json s6.json 2>/dev/null
check_eq "faults: the same plan as without them" "$(joined out5.csv result_status)" "$(joined out6.csv result_status)"
check "faults: GETs were retried (failed answers in the log, lookup_retries > 0)" \
  test "$(reqs req6.csv "sum(1 for g in gets if g['status'] != 200 and g['status'] != 404)")" -gt 0 -a "$(jget s6.json 's["lookup_retries"]')" -gt 0
# (libcurl itself may repeat a GET whose reused connection died before any answer: the
# log can hold a few more GETs than the client counted, never fewer)
check "faults: lookups counted = the GET attempts, within libcurl's own repeats" \
  test "$(reqs req6.csv 'len(gets)')" -ge "$(jget s6.json 's["lookups"]')" -a \
  "$(jget s6.json 's["lookups"]')" -ge "$(reqs req6.csv 'len(gets) - sum(1 for g in gets if g["status"] == 0)')"
stop_mock

# 7. --daily-budget counts the GETs: the job stops when it is spent.
start_mock --transactions txns.csv --deliveries "$T/del7.csv" --requests "$T/req7.csv"; new_ledger
printf 'order_no,session_id,channels\n,S-1,sms\n,S-3,sms\n,S-5,sms\n,S-6,sms\n' >budget.csv
run --verify --daily-budget 3 --no-preflight -j 1 budget.csv -o out7.csv --summary-json s7.json 2>/dev/null; rc=$?
check_eq "budget: exit 4, stopped by the budget" "4 budget" "$rc $(jget s7.json 's["stopped_by"]')"
check_eq "budget: at most 3 requests reached the API (GETs and POSTs)" 1 "$(reqs req7.csv 'int(len(gets) + len(posts) <= 3)')"
check_eq "budget: GETs and POSTs counted apart" "$(reqs req7.csv 'len(posts)') $(reqs req7.csv 'len(gets)')" \
  "$(jget s7.json 's["requests"]') $(jget s7.json 's["lookups"]')"
stop_mock

# 8. A rejected key on the GET aborts the job (exit 3), nothing POSTed.
start_mock --transactions txns.csv --api-key other-key --echo-auth --requests "$T/req8.csv"; new_ledger
run --verify --no-preflight in.csv -o out8.csv 2>err8.txt; rc=$?
check_eq "401 on the GET: exit 3, no POST" "3 0" "$rc $(reqs req8.csv 'len(posts)')"
check "401 on the GET: the job says the key was rejected" grep -q 'rejected the key' err8.txt
check "401 on the GET: the key (echoed by the server) is in no output" bash -c '! grep -q test-key err8.txt out8.csv' 
stop_mock

# 8b. -j bounds the GETs in flight too: 12 transactions, -j 3, answers after 150 ms take at
#     least 4 rounds (with the bound broken they would all be in flight in one).
python3 -c "
print('order_no,session_id,state,customer_email,customer_phone')
for i in range(12): print(f'B-{i},SB-{i},paid,x{i}@example.com,+9659999{i:04d}')" >txnsj.csv
python3 -c "
print('session_id,channels')
for i in range(12): print(f'SB-{i},sms')" >inj.csv
start_mock --transactions txnsj.csv --latency-ms 150 --requests "$T/reqj.csv"; new_ledger
run --verify --dry-run -j 3 inj.csv -o outj.csv --summary-json sj.json 2>/dev/null
check_eq "-j: 12 lookups made" 12 "$(reqs reqj.csv 'len(gets)')"
check "-j 3 bounds the lookups in flight (12 x 150 ms took >= 4 rounds)" \
  python3 -c "import json,sys; sys.exit(0 if json.load(open('sj.json'))['elapsed_s'] >= 0.55 else 1)"
stop_mock

# 9. Usage: --verify needs message mode; --verify-accept-current needs --verify.
printf 'channel,template_id,to\nsms,T,+96599999999\n' >tmpl.csv
"$RESEND" --base-url http://127.0.0.1:1 --verify --dry-run tmpl.csv -o /dev/null 2>err9.txt; rc=$?
check_eq "usage: --verify in template mode is exit 2" 2 "$rc"
"$RESEND" --base-url http://127.0.0.1:1 --verify-accept-current --dry-run in.csv -o /dev/null 2>/dev/null; rc=$?
check_eq "usage: --verify-accept-current alone is exit 2" 2 "$rc"
