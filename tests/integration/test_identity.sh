#!/usr/bin/env bash
# Identity as the API sees it (issue 32, points 3-5): identifiers trimmed of Unicode
# whitespace (what Python's str.strip() removes), email addresses compared case-insensitively,
# the warning for jobs mixing order_no-only and session_id-only rows, and ottu-mock's model
# of both (Unicode strip; one transaction by either identifier, one name in its log).
# Proven from ottu-mock's --deliveries and --requests logs. Real binaries on 127.0.0.1.
source "$(dirname "$0")/../lib.sh"
plan 29
cd "$T" || exit 1

# dcount_by FILE [lower]: "identifier/channel xN" of every delivery, sorted, space-joined;
# with lower the identifier is compared lower-cased (one mailbox).
dcount_by() {
  python3 - "$@" <<'PY'
import csv, sys, collections
try:
    r = [x for x in csv.reader(open(sys.argv[1], newline='', encoding='utf-8')) if len(x) > 3]
except FileNotFoundError:
    r = []
low = len(sys.argv) > 2
c = collections.Counter(((x[2].lower() if low else x[2]), x[3]) for x in r)
print(' '.join(f'{i}/{ch}x{n}' for (i, ch), n in sorted(c.items())))
PY
}
# post_field LOG KEY: the KEY of every POST body in the mock's request log, repr'd, '|'-joined
post_field() {
  python3 - "$1" "$2" <<'PY'
import csv, json, sys
out = []
for t, m, p, st, body in csv.reader(open(sys.argv[1], newline='', encoding='utf-8')):
    if m == 'POST':
        out.append(repr(json.loads(body).get(sys.argv[2])))
print('|'.join(sorted(out)))
PY
}
jget() { python3 -c 'import json,sys; print(eval(sys.argv[2], {"s": json.load(open(sys.argv[1]))}))' "$1" "$2"; }
joined() { col "$1" "$2" | paste -sd'|' -; }
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 --progress never "$@"; }

NBSP=$'\u00a0'; IDSP=$'\u3000'; EMSP=$'\u2003'; NEL=$'\u0085'

# ---------------------------------------------------------------------------------------
# 1. Message mode: spelling variants of one order_no are one customer within a job.
printf 'order_no,channels\n' >m1.csv
printf '"O-7",sms\n"O-7%s",sms\n"O-7%s",sms\n"\tO-7",sms\n" O-7%s",sms\n"%sO-7%s",sms\n"O-8%s",sms\n' \
  "$NBSP" "$IDSP" "$EMSP" "$NEL" "$NBSP" "$IDSP" >>m1.csv
start_mock --deliveries "$T/del1.csv" --requests "$T/req1.csv"; new_ledger
run m1.csv -o m1.out.csv --summary-json m1.json 2>m1.err; rc=$?
check_eq "variants: exit 0" 0 "$rc"
check_eq "variants: O-7 sent once, its 5 spellings duplicates of row 1; O-8 sent" \
  "sent|duplicate|duplicate|duplicate|duplicate|duplicate|sent" "$(joined m1.out.csv result_status)"
check_eq "variants: duplicates name row 1" "duplicate of row 1" "$(col m1.out.csv result_detail | sed -n 3p)"
check_eq "variants: the mock delivered one SMS per order" "O-7/smsx1 O-8/smsx1" "$(dcount_by del1.csv)"
check_eq "variants: the request bodies carry the trimmed order_no" "'O-7'|'O-8'" "$(post_field req1.csv order_no)"
check_eq "variants: no mixed-identifier warning (order_no only)" "0" "$(jget m1.json 'len(s["warnings"])')"

# 2. ... and across jobs: the ledger holds the trimmed form.
printf 'order_no,channels\n"%sO-7",sms\n"O-8%s",sms\n' "$IDSP" "$NBSP" >m2.csv
run m2.csv -o m2.out.csv 2>m2.err; rc=$?
check_eq "across jobs: both variants skipped by the ledger" "skipped|skipped" "$(joined m2.out.csv result_status)"
check "across jobs: the detail names the cooldown" grep -q 'within the cooldown' m2.out.csv
check_eq "across jobs: still one SMS per order" "O-7/smsx1 O-8/smsx1" "$(dcount_by del1.csv)"

# 3. Sharding: every spelling of an identifier lands in the same shard.
for k in 0 1 2; do run --dry-run --shard "$k/3" m1.csv -o "m1.s$k.csv" 2>/dev/null; done
check_eq "shards: all seven rows, each spelling of O-7 in one shard" "7 1" "$(python3 - m1.s0.csv m1.s1.csv m1.s2.csv <<'PY'
import csv, sys
rows, shards = 0, set()
for k, f in enumerate(sys.argv[1:]):
    for r in csv.DictReader(open(f, newline='', encoding='utf-8')):
        rows += 1
        if r['order_no'].strip() == 'O-7':
            shards.add(k)
print(rows, len(shards))
PY
)"
stop_mock

# ---------------------------------------------------------------------------------------
# 4. Template mode: one mailbox whatever the case (and the spaces) it is written in.
cat >t1.csv <<EOF
channel,template_id,to,cc
email,T1,Alice@Example.com,Bob@Example.com
email,T1,alice@example.com,bob@example.com
email,T1,alice@EXAMPLE.COM${NBSP},BOB@example.com
email,T1,carol@example.com,
email,T2,ALICE@example.com,
EOF
start_mock --deliveries "$T/del4.csv" --requests "$T/req4.csv"; new_ledger
run t1.csv -o t1.out.csv 2>t1.err; rc=$?
check_eq "email case: exit 0" 0 "$rc"
check_eq "email case: the two re-spellings are duplicates of row 1; another template is another message" \
  "sent|duplicate|duplicate|sent|sent" "$(joined t1.out.csv result_status)"
check_eq "email case: one email per mailbox and template (deliveries compared lower-cased)" \
  "alice@example.com/emailx2 carol@example.com/emailx1" "$(dcount_by del4.csv lower)"
check_eq "email case: the address is sent as written" "'ALICE@example.com'|'Alice@Example.com'|'carol@example.com'" \
  "$(post_field req4.csv to)"
printf 'channel,template_id,to\nemail,T1,%salice@EXAMPLE.com\nemail,T1,CAROL@example.COM\n' "$IDSP" >t2.csv
run t2.csv -o t2.out.csv 2>t2.err; rc=$?
check_eq "email case across jobs: skipped by the ledger" "skipped|skipped" "$(joined t2.out.csv result_status)"
check_eq "email case across jobs: still one email per mailbox and template" \
  "alice@example.com/emailx2 carol@example.com/emailx1" "$(dcount_by del4.csv lower)"
stop_mock

# ---------------------------------------------------------------------------------------
# 5. Two names of one transaction: without a lookup they cannot be linked. ottu-mock
#    reaches the transaction by either name and logs it by one, so the double notification
#    shows; ottu-resend warns in the summary.
cat >txns.csv <<'EOF'
order_no,session_id,state
O-1,S-1,paid
O-2,S-2,paid
EOF
printf 'order_no,session_id,channels\nO-1,,sms\n,"S-1%s",sms\nO-2,S-2,sms\n' "$NBSP" >mix.csv
start_mock --transactions txns.csv --deliveries "$T/del5.csv" --requests "$T/req5.csv"; new_ledger
run mix.csv -o mix.out.csv --summary-json mix.json 2>mix.err; rc=$?
check_eq "two names: both rows sent (nothing links them)" "sent|sent|sent" "$(joined mix.out.csv result_status)"
check_eq "two names: the mock logs one name per transaction, so the repeat shows" \
  "O-1/smsx2 O-2/smsx1" "$(dcount_by del5.csv)"
check_eq "two names: the summary JSON warns once" "1" "$(jget mix.json 'len(s["warnings"])')"
check "two names: the warning counts both kinds" \
  grep -q 'rows with only an order_no: 1, with only a session_id: 1;' mix.json
check "two names: the stderr summary warns too" grep -q 'warning: rows with only an order_no: 1' mix.err
# rows naming both identifiers, or one kind only, are not warned about
printf 'order_no,session_id,channels\nO-2,S-2,email\n,S-1,email\n' >nomix.csv
run nomix.csv -o nomix.out.csv --summary-json nomix.json 2>nomix.err
check_eq "one kind only: no warning" "0" "$(jget nomix.json 'len(s["warnings"])')"
check "one kind only: no warning on stderr" bash -c "! grep -q warning: nomix.err"

# 6. ottu-mock itself: identifiers stripped as the API strips them, either name reaches
#    the transaction, the log names it once.
curl -s -o /dev/null -w '%{http_code}\n' -H 'Authorization: Api-Key test-key' -H 'Content-Type: application/json' \
  --data "{\"session_id\": \"${IDSP}S-2\\u00a0\", \"channels\": [\"whatsapp\"]}" \
  "$MOCK_URL/b/pbl/v2/message-notification/" >curl.out
check_eq "mock: a session_id with Unicode spaces reaches its transaction" "200" "$(cat curl.out)"
check_eq "mock: the delivery is logged under the transaction's order_no" "O-2/whatsappx1" \
  "$(dcount_by del5.csv | tr ' ' '\n' | grep whatsapp)"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Api-Key test-key' -H 'Content-Type: application/json' \
  --data '{"order_no": "O-2\u200b", "channels": ["sms"]}' "$MOCK_URL/b/pbl/v2/message-notification/")
check_eq "mock: a zero-width space is no whitespace (another order: 404)" "404" "$code"
stop_mock

# ---------------------------------------------------------------------------------------
# 7. The same across jobs on a PostgreSQL ledger (a server started here, as test_pg.sh
#    does; skipped when the server binaries are not installed).
if ! pg_usable; then
  skip 3 "PostgreSQL: server binaries or the postgres user missing"
  exit 0
fi
if ! pg_server; then
  not_ok "PostgreSQL: the server did not start"; exit 1
fi
export OTTU_LEDGER="$PG_URI"
start_mock --deliveries "$T/del7.csv"
run m1.csv -o pg1.csv 2>/dev/null
run m2.csv -o pg2.csv 2>/dev/null
check_eq "PostgreSQL: variants one delivery within the job, skipped across jobs" \
  "sent|duplicate|duplicate|duplicate|duplicate|duplicate|sent skipped|skipped" \
  "$(joined pg1.csv result_status) $(joined pg2.csv result_status)"
run t1.csv -o pg3.csv 2>/dev/null
run t2.csv -o pg4.csv 2>/dev/null
check_eq "PostgreSQL: email case one delivery per mailbox, skipped across jobs" "skipped|skipped" \
  "$(joined pg4.csv result_status)"
check_eq "PostgreSQL: the deliveries" \
  "alice@example.com/emailx2 carol@example.com/emailx1 o-7/smsx1 o-8/smsx1" "$(dcount_by del7.csv lower)"
stop_mock
