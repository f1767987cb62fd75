#!/usr/bin/env bash
# Operator features (issue 7): --summary-json, --failures, --excel, --shard, --progress, -v,
# secrecy of the API key, --api-key-file, -o -, default output name, --help/--version and the
# configuration errors that must exit 2. Real ottu-resend against the real ottu-mock on
# 127.0.0.1; results read back with python's csv module.
source "$(dirname "$0")/../lib.sh"
plan 170
cd "$T" || exit 1

# py_csv FILE EXPR: python expression over the rows (list of dicts) of a CSV file (bound to r)
py_csv() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    r = list(csv.DictReader(f))
print(eval(sys.argv[2]))
PY
}
joined() { col "$1" "$2" | paste -sd'|' -; }
stat() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
dcount() { if [ -f "$1" ]; then python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$1"; else echo 0; fi; }
# in_sandbox CMD...: runs CMD with no network at all (a fresh network namespace) when possible
if unshare -rn true 2>/dev/null; then SANDBOX=(unshare -rn); else SANDBOX=(); fi

# ---------------------------------------------------------------------------------------
# 1. --summary-json equals the result CSV; --failures; sent/failed/invalid/duplicate.
cat >txn.csv <<'EOF'
order_no,session_id,state,customer_email,customer_phone,notify_email,notify_sms,notify_whatsapp
O-1,,paid,a@example.com,+96550000001,paid,paid,paid
O-2,,paid,b@example.com,+96550000002,paid,,paid
O-3,,paid,c@example.com,+96550000003,paid,paid,paid
,S-4,paid,d@example.com,+96550000004,paid,paid,paid
EOF
cat >mixed.csv <<'EOF'
order_no,session_id,channels,state,note,customer
O-1,,sms,paid,=1+1,Ali
O-2,,sms,paid,+96550000002,"Multi
line"
O-9,,email,paid,-5,Sara
O-1,,fax,paid,@SUM(A1),Omar
O-1,,sms,paid,=1+1,Ali
,S-4,sms;email,paid,plain,Noura
O-3,,whatsapp,paid,'abc,Huda
,,sms,paid,no id,Nobody
EOF
start_mock --transactions txn.csv --deliveries "$T/del-mixed.csv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --summary-json sum.json --failures fail.csv -o mixed.out.csv mixed.csv 2>mixed.err; rc=$?
check_eq "mixed: exit 1" 1 "$rc"
check_eq "mixed: statuses" "sent|failed|failed|invalid|duplicate|sent|sent|invalid" "$(joined mixed.out.csv result_status)"
check "summary: valid JSON object" python3 -c 'import json,sys; assert isinstance(json.load(open(sys.argv[1])), dict)' sum.json
sumcheck() { # sumcheck JSON CSV EXIT: every required key present, typed, and equal to the CSV's counts
  python3 - "$@" <<'PY'
import csv, json, sys
s = json.load(open(sys.argv[1]))
r = list(csv.DictReader(open(sys.argv[2], newline='', encoding='utf-8-sig')))
bad = []
keys = ['rows', 'sent', 'failed', 'invalid', 'duplicate', 'skipped', 'not_attempted', 'unknown',
        'dry_run', 'requests', 'retries', 'exit_code']
for k in keys:
    if k not in s or type(s[k]) is not int:
        bad.append('%s missing or not an integer: %r' % (k, s.get(k)))
if 'elapsed_s' not in s or type(s['elapsed_s']) not in (int, float) or s['elapsed_s'] < 0:
    bad.append('elapsed_s missing or not a number: %r' % s.get('elapsed_s'))
want = {k: sum(1 for x in r if x['result_status'] == k) for k in keys[1:9]}
want['rows'] = len(r)
attempts = [int(x['result_attempts'] or 0) for x in r]
want['requests'] = sum(attempts)
want['retries'] = sum(a - 1 for a in attempts if a > 0)
want['exit_code'] = int(sys.argv[3])
for k, v in want.items():
    if s.get(k) != v:
        bad.append('%s: summary %r, result CSV %r' % (k, s.get(k), v))
for b in bad:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
}
check "summary: every key typed and equal to the result CSV (mixed run)" sumcheck sum.json mixed.out.csv 1
check_eq "summary: rows 8 sent 3 failed 2 invalid 2 duplicate 1" "8 3 2 2 1" \
  "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["rows"],s["sent"],s["failed"],s["invalid"],s["duplicate"])' sum.json)"
check_eq "summary: requests equal the mock's count" "$(stat "$MOCK_URL" 's["requests"]')" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' sum.json)"

check_eq "failures: exactly the failed and invalid rows, in input order" "O-2|O-9|O-1|" "$(joined fail.csv order_no)"
check_eq "failures: statuses" "failed|failed|invalid|invalid" "$(joined fail.csv result_status)"
check_eq "failures: header = input columns then result_* columns" \
  "$(head -1 mixed.out.csv)" "$(head -1 fail.csv)"
check_eq "failures: rows identical to those rows of the result file" "True" \
  "$(python3 - mixed.out.csv fail.csv <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig')))
b = list(csv.reader(open(sys.argv[2], newline='', encoding='utf-8-sig')))
st = a[0].index('result_status')
print(b[1:] == [x for x in a[1:] if x[st] in ('failed', 'invalid', 'not_attempted', 'unknown')])
PY
)"
check_eq "failures: multi-line cell kept" "Multi
line" "$(py_csv fail.csv 'r[0]["customer"]')"
# Fix the transactions (O-2 gets sms, O-9 exists) and feed the failures file back in.
cat >>txn.csv <<'EOF'
O-9,,paid,e@example.com,+96550000009,paid,paid,paid
EOF
sed -i 's/^O-2,,paid,b@example.com,+96550000002,paid,,paid$/O-2,,paid,b@example.com,+96550000002,paid,paid,paid/' txn.csv
stop_mock
start_mock --transactions txn.csv --deliveries "$T/del-refeed.csv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --summary-json refeed.json -o refeed.out.csv fail.csv 2>refeed.err; rc=$?
check_eq "refeed: exit 1 (the invalid rows stay invalid)" 1 "$rc"
check_eq "refeed: result_* input columns ignored: header = original columns + result_* once" \
  "$(head -1 mixed.out.csv)" "$(head -1 refeed.out.csv)"
check_eq "refeed: statuses" "sent|sent|invalid|invalid" "$(joined refeed.out.csv result_status)"
check_eq "refeed: original columns carried through" "O-2,,sms,paid,+96550000002,Multi
line|O-9,,email,paid,-5,Sara|O-1,,fax,paid,@SUM(A1),Omar|,,sms,paid,no id,Nobody" \
  "$(py_csv refeed.out.csv '"|".join(",".join(x[k] for k in ("order_no","session_id","channels","state","note","customer")) for x in r)')"
check_eq "refeed: the old result_detail did not leak into the new one" "Customer notified." "$(py_csv refeed.out.csv 'r[0]["result_detail"]')"
check_eq "refeed: delivered O-2 sms and O-9 email" "O-2 sms|O-9 email" \
  "$(python3 -c 'import csv,sys; print("|".join(sorted(x[2]+" "+x[3] for x in csv.reader(open(sys.argv[1])))))' del-refeed.csv)"
check "refeed: summary equals the result CSV" sumcheck refeed.json refeed.out.csv 1

# Nothing failed: the failures file is just the header, and feeding it back is a no-op.
printf 'order_no,channels\nG-1,sms\n' >good.csv
"$RESEND" --dry-run -q --failures good.fail.csv -o good.out.csv good.csv 2>/dev/null
check_eq "failures with nothing failed: header only" "0|$(head -1 good.out.csv)" "$(rows good.fail.csv)|$(head -1 good.fail.csv)"
"$RESEND" --dry-run -q -o good.re.csv good.fail.csv 2>/dev/null
check_eq "header-only failures file fed back: exit 0, no rows" "0 0" "$? $(rows good.re.csv)"

# A run with retries (503s) and a --dry-run: the summary still matches the CSV.
stop_mock
python3 -c 'print("order_no,channels"); [print("R-%03d,sms" % i) for i in range(40)]' >retry.csv
start_mock --fail-rate 0.3 --seed 7; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --max-attempts 10 --backoff-base-ms 1 --backoff-max-ms 20 \
  --summary-json retry.json -o retry.out.csv retry.csv 2>/dev/null; rc=$?
check_eq "retries: exit 0" 0 "$rc"
check "retries: summary equals the result CSV (requests = sum of attempts, retries = extra attempts)" sumcheck retry.json retry.out.csv 0
check "retries: some retries happened (the test exercises the count)" \
  python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["retries"] > 0 else 1)' retry.json
check_eq "retries: requests equal the mock's count" "$(stat "$MOCK_URL" 's["requests"]')" \
  "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' retry.json)"
"$RESEND" --dry-run -q --summary-json dry.json -o dry.out.csv mixed.csv 2>/dev/null; rc=$?
check "dry run: summary equals the result CSV" sumcheck dry.json dry.out.csv "$rc"
check_eq "dry run: dry_run 5, requests 0" "5 0" \
  "$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["dry_run"], s["requests"])' dry.json)"
stop_mock

# 401: the job aborts; failed + not_attempted in the summary and the failures file; exit 3.
python3 -c 'print("order_no,channels"); [print("K-%03d,sms" % i) for i in range(30)]' >abort.csv
start_mock --api-key some-other-key --latency-ms 20; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -j 2 -q --summary-json abort.json --failures abort.fail.csv -o abort.out.csv abort.csv 2>abort.err; rc=$?
check_eq "401: exit 3" 3 "$rc"
check "401: summary equals the result CSV (exit_code 3)" sumcheck abort.json abort.out.csv 3
check "401: some rows not_attempted" python3 -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["not_attempted"] > 0 else 1)' abort.json
check_eq "401: failures file = the failed + not_attempted rows (all 30)" 30 "$(rows abort.fail.csv)"
# The preflight GET gets the 401: no row was sent, all are not_attempted.
check_eq "401: failures file statuses are not_attempted only (caught by the preflight)" "not_attempted" \
  "$(col abort.fail.csv result_status | sort -u | paste -sd' ' -)"
rm -f abort.out.csv.journal
stop_mock

# ---------------------------------------------------------------------------------------
# 2. --excel: BOM, CRLF, formula guard; fed back in, the same input values (round trip).
python3 - <<'PY'
import csv
rows = [['order_no', 'channels', 'note', 'customer'],
        ['E-1', 'sms', '=1+1', 'Ali'],
        ['E-2', 'sms', '+96550000003', 'فاطمة'],
        ['E-3', 'sms', '-5', 'two\nlines'],
        ['E-4', 'sms', '@SUM(A1)', 'x'],
        ['E-5', 'sms', '\tTAB', 'x'],
        ['E-6', 'sms', '\rCR', 'x'],
        ['E-7', 'sms', 'a=b', "'quoted"],
        ['E-8', 'sms', '', '-'],
        ['E-9', 'fax', '=HYPERLINK("http://x","y")', 'x']]
with open('excel.csv', 'w', newline='', encoding='utf-8') as f:
    csv.writer(f, lineterminator='\n', quoting=csv.QUOTE_ALL).writerows(rows)
PY
"$RESEND" --dry-run -q --excel -o excel.out.csv excel.csv 2>/dev/null; rc=$?
check_eq "excel: exit 1 (one invalid row)" 1 "$rc"
check_eq "excel: starts with a UTF-8 BOM" "efbbbf" "$(head -c 3 excel.out.csv | od -An -tx1 | tr -d ' \n')"
check_eq "excel: CRLF after each of the 10 records, the one in-cell LF kept as read" "10 1" \
  "$(python3 -c '
import sys
b = open(sys.argv[1], "rb").read()
crlf = b.count(b"\r\n"); lf = b.count(b"\n")
print(crlf, lf - crlf)' excel.out.csv)"
check_eq "excel: ends with CRLF" "0d0a" "$(tail -c 2 excel.out.csv | od -An -tx1 | tr -d ' \n')"
check_eq "excel: = + - @ tab CR cells get a leading quote; others unchanged" \
  "'=1+1|'+96550000003|'-5|'@SUM(A1)|'\\tTAB|'\\rCR|a=b||'=HYPERLINK(\"http://x\",\"y\")" \
  "$(py_csv excel.out.csv '"|".join(x["note"].replace("\t","\\t").replace("\r","\\r").replace("\n","\\n") for x in r)')"
check_eq "excel: customer cells: only '-' guarded, ' followed by a letter untouched" \
  "Ali|فاطمة|two\\nlines|x|x|x|'quoted|'-|x" "$(py_csv excel.out.csv '"|".join(x["customer"].replace("\t","\\t").replace("\r","\\r").replace("\n","\\n") for x in r)')"
"$RESEND" --dry-run -q -o excel.back.csv excel.out.csv 2>/dev/null
check_eq "excel: fed back in gives the same input values (round trip)" "True" \
  "$(python3 - excel.csv excel.back.csv <<'PY'
import csv, sys
a = list(csv.reader(open(sys.argv[1], newline='', encoding='utf-8-sig')))
b = list(csv.reader(open(sys.argv[2], newline='', encoding='utf-8-sig')))
same = [x[:4] for x in b] == a
if not same:
    for x, y in zip(a, b):
        if x != y[:4]:
            print('#   %r != %r' % (x, y[:4]), file=sys.stderr)
print(same)
PY
)"
check_eq "excel: round trip statuses the same" "$(joined excel.out.csv result_status)" "$(joined excel.back.csv result_status)"
check_eq "excel: round-tripped output is plain CSV (no BOM, LF)" "0" \
  "$(python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); print(int(b.startswith(b"\xef\xbb\xbf")) + b.count(b"\r\n"))' excel.back.csv)"

printf 'order_no,channels,@tag,-x\nA-1,sms,1,2\n' >hdr.csv
"$RESEND" --dry-run -q --excel -o hdr.out.csv hdr.csv 2>/dev/null
check_eq "excel: header cells are guarded too" "order_no|channels|'@tag|'-x" \
  "$(python3 -c 'import csv,sys; print("|".join(next(csv.reader(open(sys.argv[1],newline="",encoding="utf-8-sig")))[:4]))' hdr.out.csv)"
"$RESEND" --dry-run -q -o hdr.back.csv hdr.out.csv 2>/dev/null
check_eq "excel: guarded header fed back in gives the original names" "order_no,channels,@tag,-x" "$(head -1 hdr.back.csv | cut -d, -f1-4)"

"$RESEND" --dry-run -q --excel --failures excel.fail.csv -o excel.out2.csv excel.csv 2>/dev/null
check_eq "excel: the failures file is in the same spreadsheet-safe form (BOM, guarded)" "efbbbf|'=HYPERLINK(\"http://x\",\"y\")" \
  "$(head -c 3 excel.fail.csv | od -An -tx1 | tr -d ' \n')|$(col excel.fail.csv note)"
"$RESEND" --dry-run -q -o excel.fail.back.csv excel.fail.csv 2>/dev/null
check_eq "excel: failures fed back in give the original value" '=HYPERLINK("http://x","y")' "$(col excel.fail.back.csv note)"

# ---------------------------------------------------------------------------------------
# 3. --shard K/N over 300 rows.
python3 - <<'PY'
import csv
w = csv.writer(open('shard.csv', 'w', newline=''), lineterminator='\n')
w.writerow(['order_no', 'session_id', 'channels', 'seq'])
for i in range(300):
    if i % 7 == 3:
        w.writerow(['', 'SESS-%04d' % i, 'sms', i])
    elif i % 50 == 11:
        w.writerow(['ORD-%04d' % i, 'SESS-%04d' % i, 'fax', i])   # invalid, still in a shard
    elif i == 299:
        w.writerow(['', '', 'sms', i])                          # no identifier at all
    else:
        w.writerow(['ORD-%04d' % i, '', 'sms;email', i])
PY
for k in 0 1 2; do
  "$RESEND" --dry-run -q --shard "$k/3" -o "shard$k.csv" shard.csv 2>/dev/null
  check_eq "shard $k/3: exit 1 (its invalid rows)" 1 "$?"
done
shardcheck() {
  python3 - <<'PY'
import csv, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
inp = list(csv.DictReader(open('shard.csv', newline='')))
outs = [list(csv.DictReader(open('shard%d.csv' % k, newline='', encoding='utf-8-sig'))) for k in range(3)]
seqs = [[int(x['seq']) for x in o] for o in outs]
bad = []
allseq = sorted(s for o in seqs for s in o)
if allseq != list(range(300)):
    bad.append('union is not every row exactly once: %d rows, %d distinct' % (len(allseq), len(set(allseq))))
for k in range(3):
    if len(set(seqs[k]) & set(seqs[(k + 1) % 3])):
        bad.append('shards %d and %d overlap' % (k, (k + 1) % 3))
    if seqs[k] != sorted(seqs[k]):
        bad.append('shard %d not in input order' % k)
    for s in seqs[k]:
        x = inp[s]
        ident = x['order_no'].strip() or x['session_id'].strip()
        if fnv(ident.encode()) % 3 != k:
            bad.append('row seq %d (%r) in shard %d, FNV says %d' % (s, ident, k, fnv(ident.encode()) % 3))
for b in bad[:10]:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
}
check "shard: union = all 300 rows, pairwise disjoint, each in FNV-1a-64(identifier) % 3" shardcheck
check "shard: every shard non-empty" test "$(rows shard0.csv)" -gt 0 -a "$(rows shard1.csv)" -gt 0 -a "$(rows shard2.csv)" -gt 0
check_eq "shard: the three outputs keep the input header" "$(head -1 shard0.csv)|$(head -1 shard0.csv)" "$(head -1 shard1.csv)|$(head -1 shard2.csv)"
start_mock --deliveries "$T/del-shard.csv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -q --shard 1/3 -o shard1.real.csv shard.csv 2>/dev/null
check_eq "shard 1/3 sending: the mock got exactly that shard's valid rows" \
  "$(py_csv shard1.csv 'sum(len(x["result_channels"].split(";")) for x in r if x["result_status"]=="dry_run")')" "$(dcount del-shard.csv)"
check_eq "shard 1/3 sending: delivered identifiers are the shard's" \
  "$(py_csv shard1.csv '" ".join(sorted(set((x["order_no"] or x["session_id"]) for x in r if x["result_status"]=="dry_run")))')" \
  "$(python3 -c 'import csv,sys; print(" ".join(sorted(set(x[2] for x in csv.reader(open(sys.argv[1]))))))' del-shard.csv)"
stop_mock
# Template mode: the identifier is the normalised to.
python3 - <<'PY'
import csv
w = csv.writer(open('tshard.csv', 'w', newline=''), lineterminator='\n')
w.writerow(['channel', 'template_id', 'to', 'seq'])
fmts = ['+965%08d', '+965 %08d', '+965-%08d', '+965 (%08d)', '+965.%08d']
for i in range(60):
    if i % 4 == 0:
        w.writerow(['email', 't1', 'user%d@example.com' % i, i])
    else:
        w.writerow(['sms', 't1', fmts[i % 5] % (50000000 + i), i])
PY
for k in 0 1 2; do "$RESEND" --dry-run -q --shard "$k/3" -o "tshard$k.csv" tshard.csv 2>/dev/null; done
check "template shard: each row in FNV-1a-64(normalised to) % 3, union = all, disjoint" python3 - <<'PY'
import csv, re, sys
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h
seen, bad = [], []
for k in range(3):
    for x in csv.DictReader(open('tshard%d.csv' % k, newline='', encoding='utf-8-sig')):
        seen.append(int(x['seq']))
        to = x['to'] if x['channel'] == 'email' else re.sub(r'[ .()\-]', '', x['to'])
        if fnv(to.encode()) % 3 != k:
            bad.append('%s in shard %d, want %d' % (x['to'], k, fnv(to.encode()) % 3))
if sorted(seen) != list(range(60)):
    bad.append('rows: %d, distinct %d' % (len(seen), len(set(seen))))
for b in bad[:8]:
    print('#   ' + b)
sys.exit(1 if bad else 0)
PY
for bad in 3/3 0/0 -1/3 x/3 1; do
  "$RESEND" --dry-run -q --shard "$bad" -o sbad.csv shard.csv 2>/dev/null
  check_eq "--shard $bad: exit 2" 2 "$?"
done

# ---------------------------------------------------------------------------------------
# 4. --progress, -v logs and masking.
"$RESEND" --dry-run --progress always -o p1.csv mixed.csv 2>p1.err
check "--progress always: progress lines on stderr even when it is not a terminal" grep -q '^progress: ' p1.err
check "--progress always: final line counts all 8 rows" grep -qE '^progress: 8/8 rows' p1.err
check "--progress always (not a terminal): no carriage returns or escape codes" \
  python3 -c 'import sys; b=open(sys.argv[1],"rb").read(); sys.exit(1 if (b"\r" in b or b"\x1b" in b) else 0)' p1.err
"$RESEND" --dry-run --progress auto -o p2.csv mixed.csv 2>p2.err
check "--progress auto, stderr not a terminal: no progress lines" bash -c '! grep -q "^progress:" p2.err'
"$RESEND" --dry-run --progress never -o p3.csv mixed.csv 2>p3.err
check "--progress never: no progress lines" bash -c '! grep -q "^progress:" p3.err'
"$RESEND" --dry-run --progress sometimes -o p4.csv mixed.csv 2>/dev/null
check_eq "--progress sometimes: exit 2" 2 "$?"

cat >vt.csv <<'EOF'
channel,template_id,to,cc
sms,t1,+96550000123,
email,t1,foo@example.com,bar@example.com
sms,missing,+96550000124,
whatsapp,t1,+965 5000 0125,
EOF
start_mock --templates t1; new_ledger
"$RESEND" --base-url "$MOCK_URL" -r 0 -v -o vt.out.csv vt.csv 2>vt.err; rc=$?
check_eq "-v: exit 1" 1 "$rc"
check_eq "-v: sent, sent, failed, invalid" "sent|sent|failed|invalid" "$(joined vt.out.csv result_status)"
check "-v: per-row lines carry an ISO 8601 UTC timestamp and the row number" \
  python3 - vt.err <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
rows = {int(m.group(1)) for l in lines for m in [re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z row (\d+): ', l)] if m}
sys.exit(0 if rows >= {1, 2, 3, 4} else 1)
PY
check "-v: phone +96550000123 is masked (50000123 never in clear)" bash -c '! grep -q 50000123 vt.err'
check "-v: phone +96550000124 (failed row) masked" bash -c '! grep -q 50000124 vt.err'
check "-v: phone +965 5000 0125 (invalid row) masked" bash -c '! grep -qE "50000125|5000 0125" vt.err'
check "-v: email foo@example.com never in clear" bash -c '! grep -q "foo@example.com" vt.err'
check "-v: email cc bar@example.com never in clear" bash -c '! grep -q "bar@example.com" vt.err'
check "-v: row 2 is logged, with the address masked" grep -qE 'row 2: .*[*].*@|row 2: .*@.*[*]' vt.err
check "-v: row 1 is logged, with the number masked" grep -qE 'row 1: .*\+965[0-9]*\*' vt.err
stop_mock

# ---------------------------------------------------------------------------------------
# 5. The API key never appears anywhere.
KEY=sk-SECRET-1234
start_mock --api-key "$KEY"; new_ledger
OTTU_API_KEY=$KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -v --progress always --summary-json k.json \
  --failures k.fail.csv -o k.out.csv mixed.csv >k.stdout 2>k.stderr; rc=$?
check_eq "key: run with the distinctive key works (exit 1: invalid rows)" 1 "$rc"
check_eq "key: rows sent with that key" 5 "$(py_csv k.out.csv 'sum(x["result_status"]=="sent" for x in r)')"
check "key: not in stdout, stderr, results, failures, summary" lacks "$KEY" k.stdout k.stderr k.out.csv k.fail.csv k.json
OTTU_API_KEY=$KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -o - mixed.csv >k2.stdout 2>k2.stderr
check "key: not in the CSV written to stdout" lacks "$KEY" k2.stdout k2.stderr
stop_mock
# A rejected key aborts the job and leaves the journal; the key is in neither.
start_mock --api-key not-this-one --latency-ms 50; new_ledger
OTTU_API_KEY=$KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -j 1 -v --summary-json k3.json --failures k3.fail.csv \
  -o k3.out.csv abort.csv >k3.stdout 2>k3.stderr; rc=$?
check_eq "key rejected: exit 3" 3 "$rc"
check "key rejected: the journal is left for --resume" test -s k3.out.csv.journal
check "key rejected: key not in stdout, stderr, results, failures, summary, journal" \
  lacks "$KEY" k3.stdout k3.stderr k3.out.csv k3.fail.csv k3.json k3.out.csv.journal
stop_mock

# --api-key-file: 0600 accepted, 0644/0640 refused; --api-key refused.
FKEY=sk-FILE-5678
start_mock --api-key "$FKEY"; new_ledger
printf '%s\n' "$FKEY" >key.txt
chmod 0644 key.txt
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file key.txt -o kf1.csv mixed.csv >kf1.out 2>kf1.err; rc=$?
check_eq "--api-key-file mode 0644: refused, exit 2" 2 "$rc"
check "--api-key-file mode 0644: message names the file" grep -q key.txt kf1.err
check "--api-key-file mode 0644: the key is not printed" lacks "$FKEY" kf1.out kf1.err
chmod 0640 key.txt
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file key.txt -o kf2.csv mixed.csv 2>/dev/null
check_eq "--api-key-file mode 0640 (group can read): exit 2" 2 "$?"
check_eq "refused key files: nothing sent" 0 "$(stat "$MOCK_URL" 's["requests"]')"
chmod 0600 key.txt
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file key.txt -o kf3.csv mixed.csv >kf3.out 2>kf3.err; rc=$?
check_eq "--api-key-file mode 0600: accepted (exit 1: the invalid rows)" 1 "$rc"
check_eq "--api-key-file mode 0600: rows sent with the file's key" "sent|sent|sent|invalid|duplicate|sent|sent|invalid" \
  "$(joined kf3.csv result_status)"
check "--api-key-file: key not in any output" lacks "$FKEY" kf3.out kf3.err kf3.csv
printf '%s\r\n' "$FKEY" >key-crlf.txt; chmod 0400 key-crlf.txt
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file key-crlf.txt -o kf6.csv good.csv 2>/dev/null; rc=$?
check_eq "--api-key-file mode 0400 with a CRLF line end: accepted and sent" "0 sent" "$rc $(col kf6.csv result_status 2>/dev/null)"
: >key-empty.txt; chmod 0600 key-empty.txt
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file key-empty.txt -o kf7.csv good.csv 2>/dev/null
check_eq "--api-key-file empty: exit 2" 2 "$?"
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key-file no-such-key.txt -o kf8.csv good.csv 2>kf8.err
check_eq "--api-key-file missing: exit 2" 2 "$?"
check "--api-key-file missing: message names the file" grep -q no-such-key.txt kf8.err
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q --api-key "$FKEY" -o kf4.csv mixed.csv >kf4.out 2>kf4.err; rc=$?
check_eq "--api-key on the command line: refused, exit 2" 2 "$rc"
check "--api-key refused: the key is not echoed" lacks "$FKEY" kf4.out kf4.err
check "--api-key refused: nothing written" test ! -e kf4.csv
env -u OTTU_API_KEY "$RESEND" --base-url "$MOCK_URL" -r 0 -q -o kf5.csv mixed.csv 2>/dev/null
check_eq "no key at all (sending): exit 2" 2 "$?"
stop_mock

# ---------------------------------------------------------------------------------------
# 6. Output destinations, help, version.
# The dry run of section 1 ran before anything was sent; this one, after, would show the
# ledger's skips: compare against a fresh ledger.
new_ledger
"$RESEND" --dry-run -q -o - mixed.csv >stdout.csv 2>stdout.err
check_eq "-o -: the CSV on stdout, all 8 rows" 8 "$(rows stdout.csv)"
nofin() { python3 -c 'import csv,sys; [print(repr(r[:-1])) for r in csv.reader(open(sys.argv[1], newline=""))]' "$1"; }
check_eq "-o -: same content as a file output (minus the finish times)" "$(nofin dry.out.csv)" "$(nofin stdout.csv)"
check "-o -: nothing CSV-like on stderr" bash -c '! grep -q "^order_no," stdout.err'
"$RESEND" --dry-run -v --progress always -o - mixed.csv >stdout2.csv 2>stdout2.err
check_eq "-o - with -v and --progress always: stdout is only the CSV" "$(nofin stdout.csv)" "$(nofin stdout2.csv)"
check "-o - with -v and --progress always: logs and progress on stderr" bash -c 'grep -q "^progress:" stdout2.err && grep -q " row 4: " stdout2.err'
check "-o -: no file named - created" test ! -e ./-
mkdir -p sub
cp mixed.csv sub/in.csv; cp mixed.csv sub/noext
"$RESEND" --dry-run -q sub/in.csv 2>/dev/null
check "default output: INPUT.csv -> INPUT.results.csv beside it" test -f sub/in.results.csv
check_eq "default output: 8 rows" 8 "$(rows sub/in.results.csv 2>/dev/null)"
"$RESEND" --dry-run -q sub/noext 2>/dev/null
check "default output: without .csv -> INPUT.results.csv appended" test -f sub/noext.results.csv
"$RESEND" --dry-run -q - <mixed.csv >stdin.out 2>/dev/null
check_eq "stdin input: results on stdout by default" 8 "$(rows stdin.out)"
"$RESEND" --help >help.out 2>help.err; rc=$?
check_eq "--help: exit 0" 0 "$rc"
check "--help: fits one screen (<= 40 lines) on stdout" test "$(wc -l <help.out)" -le 40 -a "$(wc -l <help.out)" -ge 5
check "--help: mentions the key is never on the command line / options" grep -q -- '--base-url' help.out
"$RESEND" -h >h.out 2>/dev/null; check_eq "-h: same as --help" "$(cat help.out)" "$(cat h.out)"
v=$("$RESEND" --version 2>/dev/null); rc=$?
check_eq "--version: exit 0" 0 "$rc"
check "--version: prints a version number" bash -c "[[ \"$v\" =~ [0-9]+\.[0-9]+\.[0-9]+ ]]"
check_eq "-V: same as --version" "$v" "$("$RESEND" -V 2>/dev/null)"

# ---------------------------------------------------------------------------------------
# 7. Exit 2 before sending.
start_mock; new_ledger
m() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q "$@"; }
m -o x1.csv does-not-exist.csv 2>e1.err; rc=$?
check_eq "missing input file: exit 2" 2 "$rc"
check "missing input file: message names it" grep -q does-not-exist.csv e1.err
: >empty.csv
m -o x2.csv empty.csv 2>e2.err; check_eq "empty input file: exit 2" 2 "$?"
printf 'customer,channels\nAli,sms\n' >noid.csv
m -o x3.csv noid.csv 2>e3.err; rc=$?
check_eq "header without order_no/session_id: exit 2" 2 "$rc"
check "header without order_no/session_id: message names order_no" grep -q order_no e3.err
printf 'Order No,order_no,channels\nA,A,sms\n' >twice.csv
m -o x4.csv twice.csv 2>e4.err; rc=$?
check_eq "'Order No' and 'order_no' (same name twice): exit 2" 2 "$rc"
check "same name twice: message names order_no" grep -q order_no e4.err
printf 'order_no,Channels,channel\nA,sms,sms\n' >twice2.csv
m -o x5.csv twice2.csv 2>/dev/null; check_eq "'Channels' and 'channel' (same meaning): exit 2" 2 "$?"
m --concurrency 0 -o x6.csv mixed.csv 2>x6.err; check_eq "--concurrency 0: exit 2" 2 "$?"
check "--concurrency 0: the message names the option" grep -qE -- '--concurrency|-j\b' x6.err
m --concurrency 1025 -o x7.csv mixed.csv 2>/dev/null; check_eq "--concurrency 1025: exit 2" 2 "$?"
m -j abc -o x8.csv mixed.csv 2>/dev/null; check_eq "-j abc: exit 2" 2 "$?"
check_eq "none of the refused runs reached the mock" 0 "$(stat "$MOCK_URL" 's["requests"]')"
check "refused runs wrote no output file" bash -c '! ls x?.csv >/dev/null 2>&1'
# Output paths that cannot be written, or that collide with the input or with each other, are
# configuration errors: exit 2 before anything is sent, and the input is never overwritten.
printf 'order_no,channels\nW-1,sms\nW-2,fax\n' >w.csv; cp w.csv w.orig
collide() { # NAME OPTIONS...: exit 2, no request, input intact
  local name=$1 before rc; shift
  cp w.orig w.csv
  before=$(stat "$MOCK_URL" 's["requests"]')
  m "$@" 2>coll.err; rc=$?
  check_eq "$name: exit 2" 2 "$rc"
  check_eq "$name: nothing sent" "$before" "$(stat "$MOCK_URL" 's["requests"]')"
  check "$name: the input file is left intact" cmp -s w.csv w.orig
}
collide "--summary-json in a missing directory" --summary-json "$T/no-dir/s.json" -o w1.csv w.csv
collide "--failures in a missing directory" --failures "$T/no-dir/f.csv" -o w2.csv w.csv
collide "-o in a missing directory" -o "$T/no-dir/o.csv" w.csv
collide "-o naming the input file" -o w.csv w.csv
collide "-o naming the input file another way (./w.csv)" -o ./w.csv w.csv
collide "--failures naming the input file" --failures w.csv -o w3.csv w.csv
collide "--summary-json naming the input file" --summary-json w.csv -o w4.csv w.csv
collide "--xlsx naming the input file" --xlsx w.csv -o w5.csv w.csv
collide "--failures naming the output file" --failures w6.csv -o w6.csv w.csv
collide "--xlsx naming the output file" --xlsx w7.csv -o w7.csv w.csv
stop_mock
# Non-loopback http:// — refused before any network use. Run in a network namespace with no
# network at all (when possible) and, with strace, count connect() calls.
for url in http://example.com http://127.0.0.1.example.com 'http://127.0.0.1@example.com/' http://localhost.example.com; do
  tr=$T/trace.$RANDOM
  if command -v strace >/dev/null && [ ${#SANDBOX[@]} -gt 0 ]; then
    # LeakSanitizer cannot stop the world under strace: leaks are checked elsewhere.
    ASAN_OPTIONS=detect_leaks=0 "${SANDBOX[@]}" strace -f -qq -e trace=connect -o "$tr" timeout 20 "$RESEND" --base-url "$url" -r 0 -q \
      --max-attempts 1 --timeout 2 -o nl.csv mixed.csv >/dev/null 2>nl.err; rc=$?
    check_eq "http:// to $url: exit 2" 2 "$rc"
    check_eq "http:// to $url: no connect() at all (refused before any network use)" 0 "$(grep -c 'connect(' "$tr")"
  elif [ ${#SANDBOX[@]} -gt 0 ]; then
    "${SANDBOX[@]}" timeout 20 "$RESEND" --base-url "$url" -r 0 -q --max-attempts 1 --timeout 2 -o nl.csv mixed.csv >/dev/null 2>nl.err
    check_eq "http:// to $url: exit 2" 2 "$?"
    skip 1 "http:// to $url: connect() not counted: strace is not installed (tests/deps.sh installs it)"
  else
    skip 3 "http:// to $url: no network namespace to contain a faulty client"
    continue
  fi
  check "http:// to $url: message says https or loopback" grep -qiE 'https|loopback' nl.err
  rm -f nl.csv nl.csv.journal
done
