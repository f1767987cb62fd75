#!/usr/bin/env bash
# Template mode (issue 6): detection, both endpoints, every "Input (template mode)" rule of
# the contract, phone normalisation, context.NAME, duplicates, result_channels, exit codes.
# Runs the real ottu-resend against the real ottu-mock on 127.0.0.1; results are read back
# with python's csv module.
source "$(dirname "$0")/../lib.sh"
plan 120
cd "$T" || exit 1

# cell FILE ROW NAME: column NAME of data row ROW (1-based) of a CSV file.
cell() {
  python3 - "$@" <<'PY'
import csv, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    r = list(csv.DictReader(f))
n = int(sys.argv[2])
print(r[n - 1][sys.argv[3]] if 0 < n <= len(r) else '<no row %d>' % n)
PY
}
# joined FILE NAME: column NAME, values joined with '|'
joined() { col "$1" "$2" | paste -sd'|' -; }
# dcol FILE N: column N (1-based) of the mock's header-less deliveries CSV, joined with '|'
dcol() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
try:
    with open(sys.argv[1], newline='') as f:
        print('|'.join(r[int(sys.argv[2]) - 1] for r in csv.reader(f)))
except FileNotFoundError:
    print('')
PY
}
dcount() { if [ -f "$1" ]; then python3 -c 'import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=""))))' "$1"; else echo 0; fi; }
# stat URL EXPR: evaluates a python expression over the mock's stats JSON (bound to s)
stat() { curl -s "$1/__mock/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$2"; }
# detail_matches FILE ROW REGEX: result_detail of ROW matches the (python) regex
detail_matches() {
  python3 - "$@" <<'PY'
import csv, re, sys
with open(sys.argv[1], newline='', encoding='utf-8-sig') as f:
    r = list(csv.DictReader(f))
d = r[int(sys.argv[2]) - 1]['result_detail']
ok = re.search(sys.argv[3], d) is not None
if not ok:
    print('#   detail of row %s: %r does not match %r' % (sys.argv[2], d, sys.argv[3]), file=sys.stderr)
sys.exit(0 if ok else 1)
PY
}
run() { "$RESEND" --base-url "$MOCK_URL" -r 0 -q "$@"; }

# ---------------------------------------------------------------------------------------
# 1. The shipped sample: auto-detected (template_id in the header), default endpoint.
cp "$ROOT/samples/template-campaign.csv" sample.csv
start_mock --deliveries "$T/del-sample.csv"; new_ledger
run sample.csv 2>sample.err; rc=$?
check_eq "sample: exit 1 (some rows invalid)" 1 "$rc"
check_eq "sample: output next to the input, 8 rows" 8 "$(rows sample.results.csv 2>/dev/null)"
check_eq "sample: statuses in input order" \
  "sent|sent|sent|invalid|invalid|invalid|sent|invalid" "$(joined sample.results.csv result_status)"
check_eq "sample: result_channels is the one channel of each sent row, empty when invalid" \
  "email|sms|whatsapp||||email|" "$(joined sample.results.csv result_channels)"
check_eq "sample: sent rows HTTP 200, 1 attempt" "200:1|200:1|200:1|200:1" \
  "$(python3 -c '
import csv,sys
r=[x for x in csv.DictReader(open(sys.argv[1],newline="",encoding="utf-8-sig")) if x["result_status"]=="sent"]
print("|".join(x["result_http_status"]+":"+x["result_attempts"] for x in r))' sample.results.csv)"
check_eq "sample: invalid rows have 0 attempts and no HTTP status" "0:|0:|0:|0:" \
  "$(python3 -c '
import csv,sys
r=[x for x in csv.DictReader(open(sys.argv[1],newline="",encoding="utf-8-sig")) if x["result_status"]=="invalid"]
print("|".join(x["result_attempts"]+":"+x["result_http_status"] for x in r))' sample.results.csv)"
check "sample: row 4 detail: unit_config required for whatsapp" detail_matches sample.results.csv 4 '^unit_config\b.*\brequired\b.*whatsapp'
check "sample: row 5 detail: to not-an-email is not an email address" detail_matches sample.results.csv 5 '^to\b.*not-an-email.*\bemail\b'
check "sample: row 6 detail: to 12345 needs + and country code" detail_matches sample.results.csv 6 '^to\b.*\+'
check "sample: row 8 detail: language fr is not en or ar" detail_matches sample.results.csv 8 '^language\b.*"fr".*\ben\b.*\bar\b'
check_eq "sample: input columns carried through unchanged (to as written)" \
  "fatima@example.com|+965 5000 0001|+965-5000-0002|+96550000003|not-an-email|12345|sara@example.com|+96550000004" \
  "$(joined sample.results.csv to)"
check_eq "sample: context column carried through (Arabic)" "أحمد" "$(cell sample.results.csv 2 context.customer_name)"
check_eq "sample: 4 notifications delivered" 4 "$(dcount del-sample.csv)"
check_eq "sample: all on /b/pbl/v2/send-notification/ (endpoint 'send')" "send|send|send|send" "$(dcol del-sample.csv 2)"
check_eq "sample: the normalised numbers are what the mock delivered" \
  "+96550000001|+96550000002|fatima@example.com|sara@example.com" "$(dcol del-sample.csv 3 | tr '|' '\n' | sort | paste -sd'|' -)"
check_eq "sample: delivered channels" "email|email|sms|whatsapp" "$(dcol del-sample.csv 4 | tr '|' '\n' | sort | paste -sd'|' -)"
check_eq "sample: stats endpoints send=4 ok=4, send-channel=0, message=0" "4 4 0 0" \
  "$(stat "$MOCK_URL" '"%d %d %d %d" % (s["endpoints"]["send"]["requests"], s["endpoints"]["send"]["ok"], s["endpoints"]["send-channel"]["requests"], s["endpoints"]["message"]["requests"])')"
stop_mock

# --per-channel-endpoint and --mode template forced: same rows, the channel in the path.
start_mock --deliveries "$T/del-pc.csv"; new_ledger
run --mode template --per-channel-endpoint -o pc.csv sample.csv 2>pc.err; rc=$?
check_eq "per-channel: exit 1" 1 "$rc"
check_eq "per-channel: same statuses" "sent|sent|sent|invalid|invalid|invalid|sent|invalid" "$(joined pc.csv result_status)"
check_eq "per-channel: all deliveries via /notifications/send/{channel}/ ('send-channel')" \
  "send-channel|send-channel|send-channel|send-channel" "$(dcol del-pc.csv 2)"
check_eq "per-channel: stats send-channel=4 ok=4, send=0" "4 4 0" \
  "$(stat "$MOCK_URL" '"%d %d %d" % (s["endpoints"]["send-channel"]["requests"], s["endpoints"]["send-channel"]["ok"], s["endpoints"]["send"]["requests"])')"
check_eq "per-channel: stats channels sms=1 email=2 whatsapp=1" "1 2 1" \
  "$(stat "$MOCK_URL" '"%d %d %d" % (s["channels"]["sms"], s["channels"]["email"], s["channels"]["whatsapp"])')"

# ---------------------------------------------------------------------------------------
# 2. Every validation rule, in one real job. Expected status and a regex for the detail.
t60=$(printf 'T%.0s' $(seq 60)); t61=$(printf 'T%.0s' $(seq 61))
a60=$(python3 -c 'print("ع"*60)')
cat >rules.csv <<EOF
channel,template_id,to,language,unit_config,cc,bcc,trace_id,context.customerName
fax,t1,+96550000101,en,,,,,A
,t1,+96550000102,en,,,,,A
sms,,+96550000103,en,,,,,A
email,t1,+96550000104,en,,,,,A
email,t1,,en,,,,,A
sms,t1,96550000106,en,,,,,A
sms,t1,+1234567,en,,,,,A
sms,t1,+1234567890123456,en,,,,,A
sms,t1,+965abc50000109,en,,,,,A
sms,t1,+12345678,en,,,,,A
sms,t1,+123456789012345,en,,,,,A
sms,t1,+965 (5000) 0.1-12,en,,,,,A
whatsapp,t1,+96550000113,en,,,,,A
whatsapp,t1,+96550000114,en,4.5,,,,A
whatsapp,t1,+96550000115,en,abc,,,,A
whatsapp,t1,+96550000116,en,7,,,,A
sms,t1,+96550000117,fr,,,,,A
sms,t1,+96550000118,ar,,,,,A
sms,t1,+96550000119,,,,,,A
sms,t1,+96550000120,en,,ops@example.com,,,A
whatsapp,t1,+96550000121,en,3,,ops@example.com,,A
email,t1,c122@example.com,en,,good@example.com;bad-address,,,A
email,t1,c123@example.com,en,,,x@example.com;nope,,A
email,t1,c124@example.com,en,,a@example.com;b@example.com,c@example.com,,A
email,t1,c125@example.com,en,,,,$t61,A
email,t1,c126@example.com,en,,,,$t60,A
email,t1,c127@example.com,en,,,,$a60,A
EMAIL,t1,c128@example.com,en,,,,,A
EOF
expect=(
  "invalid|^channel\b.*\"fax\""
  "invalid|^channel\b.*\bempty\b"
  "invalid|^template_id\b.*\bempty\b"
  "invalid|^to\b.*\+96550000104.*\bemail address\b"
  "invalid|^to\b.*\bempty\b"
  "invalid|^to\b.*\+"
  "invalid|^to\b.*\b7 digits\b.*8.15"
  "invalid|^to\b.*\b16 digits\b.*8.15"
  "invalid|^to\b.*(character|digit)"
  "sent|"
  "sent|"
  "sent|"
  "invalid|^unit_config\b.*\brequired\b.*\bwhatsapp\b"
  "invalid|^unit_config\b.*\"4\.5\".*\binteger\b"
  "invalid|^unit_config\b.*\"abc\".*\binteger\b"
  "sent|"
  "invalid|^language\b.*\"fr\""
  "sent|"
  "sent|"
  "invalid|^cc\b.*\bemail\b.*\bsms\b"
  "invalid|^bcc\b.*\bemail\b.*\bwhatsapp\b"
  "invalid|^cc\b.*\"bad-address\".*\bemail address\b"
  "invalid|^bcc\b.*\"nope\".*\bemail address\b"
  "sent|"
  "invalid|^trace_id\b.*\b61\b.*\b60\b"
  "sent|"
  "sent|"
  "sent|"
)
names=(
  "channel fax" "channel empty" "template_id empty" "email to a phone number" "to empty"
  "phone without +" "phone with 7 digits" "phone with 16 digits" "phone with letters"
  "phone with 8 digits (lower bound)" "phone with 15 digits (upper bound)"
  "phone with spaces, brackets, dots, hyphens" "whatsapp without unit_config"
  "whatsapp unit_config 4.5" "whatsapp unit_config abc" "whatsapp unit_config 7"
  "language fr" "language ar" "language empty (sent as en)" "cc on sms" "bcc on whatsapp"
  "cc with one bad address" "bcc with one bad address" "cc list and bcc on email"
  "trace_id of 61 characters" "trace_id of 60 characters" "trace_id of 60 Arabic code points"
  "channel EMAIL in upper case"
)
start_mock --deliveries "$T/del-rules.csv"; new_ledger
run --channels sms rules.csv 2>rules.err; rc=$?
check_eq "rules: exit 1" 1 "$rc"
check_eq "rules: one output row per input row" "${#expect[@]}" "$(rows rules.results.csv)"
i=0
for e in "${expect[@]}"; do
  i=$((i + 1)); want=${e%%|*}; re=${e#*|}
  check_eq "rules row $i (${names[$((i-1))]}): $want" "$want" "$(cell rules.results.csv $i result_status)"
  [ -n "$re" ] && check "rules row $i (${names[$((i-1))]}): result_detail says what is wrong" \
    detail_matches rules.results.csv $i "$re"
done
check_eq "rules: result_channels of the sent rows" \
  "sms|sms|sms|whatsapp|sms|sms|email|email|email|email" \
  "$(python3 -c '
import csv,sys
print("|".join(x["result_channels"] for x in csv.DictReader(open(sys.argv[1],newline="",encoding="utf-8-sig")) if x["result_status"]=="sent"))' rules.results.csv)"
check_eq "rules: invalid rows have empty result_channels and 0 attempts" "" \
  "$(python3 -c '
import csv,sys
print("|".join(x["result_channels"]+x["result_attempts"] for x in csv.DictReader(open(sys.argv[1],newline="",encoding="utf-8-sig")) if x["result_status"]=="invalid" and (x["result_channels"] or x["result_attempts"]!="0")))' rules.results.csv)"
check_eq "rules: --channels does not apply (empty channel stays invalid, nothing sent for it)" \
  invalid "$(cell rules.results.csv 2 result_status)"
check_eq "rules: the mock delivered exactly the sent rows" 10 "$(dcount del-rules.csv)"
check_eq "rules: normalised numbers delivered (brackets/dots/spaces/hyphens removed)" \
  "+12345678|+123456789012345|+96550000112|+96550000116|+96550000118|+96550000119" \
  "$(dcol del-rules.csv 3 | tr '|' '\n' | grep '^+' | sort | paste -sd'|' -)"
check_eq "rules: every request answered 200 (the mock accepted every body)" '{"200": 10}' \
  "$(stat "$MOCK_URL" 'json.dumps(s["status"])')"
stop_mock

# ---------------------------------------------------------------------------------------
# 3. Duplicates: the same request twice (also after phone normalisation) is a duplicate.
cat >dup.csv <<'EOF'
channel,template_id,to,language,trace_id,context.name
sms,t1,+96550000201,en,,Ali
email,t1,d@example.com,en,,Ali
sms,t1,+96550000201,en,,Ali
sms,t1,+965 5000-0201,en,,Ali
sms,t1,+96550000201,ar,,Ali
sms,t1,+96550000201,en,,Bob
sms,t1,+96550000201,en,tr-1,Ali
sms,t1,+96550000201,en,tr-2,Ali
email,t1,d@example.com,en,,Ali
EOF
start_mock --deliveries "$T/del-dup.csv"; new_ledger
# Without the ledger: only identical requests are duplicates. (With it, the default, a
# template sent to the same recipient on the same channel counts as sent for the rest of
# the job: checked below.)
run --no-ledger dup.csv 2>dup.err; rc=$?
check_eq "dup: exit 0 (sent and duplicate only)" 0 "$rc"
check_eq "dup: statuses" "sent|sent|duplicate|duplicate|sent|sent|sent|sent|duplicate" "$(joined dup.results.csv result_status)"
check_eq "dup: row 3 detail" "duplicate of row 1" "$(cell dup.results.csv 3 result_detail)"
check_eq "dup: row 4 (same number written differently) detail" "duplicate of row 1" "$(cell dup.results.csv 4 result_detail)"
check_eq "dup: row 9 detail" "duplicate of row 2" "$(cell dup.results.csv 9 result_detail)"
check_eq "dup: duplicates sent nothing (0 attempts)" "0|0|0" \
  "$(python3 -c '
import csv,sys
print("|".join(x["result_attempts"] for x in csv.DictReader(open(sys.argv[1],newline="",encoding="utf-8-sig")) if x["result_status"]=="duplicate"))' dup.results.csv)"
check_eq "dup: the mock got 6 notifications" 6 "$(dcount del-dup.csv)"
check_eq "dup: +96550000201 delivered 5 times (language, context, trace_id differ)" 5 \
  "$(dcol del-dup.csv 3 | tr '|' '\n' | grep -cx '+96550000201')"
stop_mock

# With the ledger (the default), rows 5-8 ask the same template of the same number on
# the same channel: at most once per recipient and channel within the cooldown.
start_mock --deliveries "$T/del-dup2.csv"; new_ledger
run -o dup2.results.csv dup.csv 2>/dev/null
check_eq "dup with the ledger: statuses" "sent|sent|duplicate|duplicate|skipped|skipped|skipped|skipped|duplicate" \
  "$(joined dup2.results.csv result_status)"
check "dup with the ledger: the detail names the row that sent it" grep -q 'sms sent by row 1 of this job' dup2.results.csv
check_eq "dup with the ledger: the mock got 2 notifications" 2 "$(dcount del-dup2.csv)"
stop_mock

# ---------------------------------------------------------------------------------------
# 4. Exit codes and mode selection.
printf 'channel,template_id,to\nsms,t1,+96550000301\nemail,t1,ok@example.com\n' >allgood.csv
start_mock --deliveries "$T/del-good.csv"; new_ledger
run allgood.csv 2>/dev/null; check_eq "exit 0 when every row is sent" 0 "$?"
check_eq "allgood: both delivered" 2 "$(dcount del-good.csv)"
printf 'Channel,Template ID,TO\nsms,t1,+96550000302\n' >header.csv
run -o header.out.csv header.csv 2>/dev/null; rc=$?
check_eq "header 'Template ID' (normalised) auto-selects template mode: exit 0" 0 "$rc"
check_eq "header 'Template ID': sent" sent "$(cell header.out.csv 1 result_status)"
check_eq "header 'Template ID': original header names kept" "Channel,Template ID,TO" "$(head -1 header.out.csv | cut -d, -f1-3)"
check_eq "header 'Template ID': went to the template endpoint" send "$(dcol del-good.csv 2 | tr '|' '\n' | tail -1)"
before=$(dcount del-good.csv)
run --mode message -o m.csv allgood.csv 2>mode.err; rc=$?
check_eq "--mode message on a template file (no order_no/session_id): exit 2" 2 "$rc"
check "--mode message: message names order_no" grep -q order_no mode.err
printf 'order_no,channels\nORD-1,sms\n' >msg.csv
run --mode template -o t.csv msg.csv 2>mode2.err; rc=$?
check_eq "--mode template on a file without template_id/to: exit 2" 2 "$rc"
check "--mode template: message names template_id" grep -q template_id mode2.err
printf 'channel,template_id\nsms,t1\n' >noto.csv
run -o noto.out.csv noto.csv 2>noto.err; rc=$?
check_eq "template header without 'to': exit 2" 2 "$rc"
check "template header without 'to': message names to" grep -qw to noto.err
run --mode bogus -o b.csv allgood.csv 2>/dev/null; check_eq "--mode bogus: exit 2" 2 "$?"
check_eq "nothing sent by the refused runs" "$before" "$(dcount del-good.csv)"
check_eq "mock requests: only the accepted runs" 3 "$(stat "$MOCK_URL" 's["requests"]')"
run --dry-run -o dry.csv sample.csv 2>/dev/null; rc=$?
check_eq "--dry-run on the sample: exit 1 (invalid rows)" 1 "$rc"
check_eq "--dry-run statuses" "dry_run|dry_run|dry_run|invalid|invalid|invalid|dry_run|invalid" "$(joined dry.csv result_status)"
check_eq "--dry-run result_channels" "email|sms|whatsapp" "$(joined dry.csv result_channels | cut -d'|' -f1-3)"
check_eq "--dry-run: no request" 3 "$(stat "$MOCK_URL" 's["requests"]')"
stop_mock

# ---------------------------------------------------------------------------------------
# 5. context.NAME: the real mock accepts the bodies (200); a recorder on 127.0.0.1 shows them.
cat >ctx.csv <<'EOF'
channel,template_id,to,language,unit_config,tags,context.customerName,context.Amount,context.note
email,t1,ctx1@example.com,,,a;b,Fatima,12.500,
sms,t1,+965 5000 0401,ar,,,,,
whatsapp,t1,+96550000402,en,42,,Noura,,"line1
line2"
EOF
start_mock --deliveries "$T/del-ctx.csv"; new_ledger
run -o ctx-mock.csv ctx.csv 2>/dev/null; rc=$?
check_eq "context: the real mock accepts every body: exit 0" 0 "$rc"
check_eq "context: HTTP 200 each" "200|200|200" "$(joined ctx-mock.csv result_http_status)"
stop_mock

cat >rec.py <<'PY'
import http.server, json, sys
out = open(sys.argv[1], 'a')
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('Content-Length') or 0)
        body = self.rfile.read(n).decode('utf-8')
        out.write(json.dumps({'path': self.path, 'body': json.loads(body)}) + '\n'); out.flush()
        b = b'{"message": "Notification sent.", "result": "success"}'
        self.send_response(200); self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(b))); self.end_headers(); self.wfile.write(b)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print('listening on http://127.0.0.1:%d' % s.server_address[1], flush=True)
s.serve_forever()
PY
python3 rec.py "$T/bodies.jsonl" >rec.out 2>rec.err &
REC_PID=$!; MOCK_PIDS+=("$REC_PID")
for _ in $(seq 100); do grep -q '^listening' rec.out 2>/dev/null && break; sleep 0.05; done
REC_URL=$(sed 's/^listening on //' rec.out | head -1)
# body ROW_TO EXPR: python expression over the recorded request (b = body, p = path) whose to is ROW_TO
body() {
  python3 - "$T/bodies.jsonl" "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    b, p = r['body'], r['path']
    if b.get('to') == sys.argv[2]:
        print(eval(sys.argv[3])); break
else:
    print('<no request to %s>' % sys.argv[2])
PY
}
"$RESEND" --base-url "$REC_URL" --no-preflight --no-ledger -r 0 -q -o ctx-rec.csv ctx.csv 2>/dev/null
check_eq "body: email row carries channel, language en (empty cell), tags list" \
  "/b/pbl/v2/send-notification/ email en ['a', 'b']" \
  "$(body ctx1@example.com '" ".join([p, b.get("channel"), b.get("language"), str(b.get("tags"))])')"
check_eq "body: context.NAME keeps its case, empty cells left out" \
  "{'customerName': 'Fatima', 'Amount': '12.500'}" "$(body ctx1@example.com 'b.get("context")')"
check_eq "body: no context key when all context cells are empty" False "$(body +96550000401 '"context" in b')"
check_eq "body: sms to is the normalised number, language ar" "+96550000401 ar" "$(body +96550000401 'b["to"] + " " + b["language"]')"
check_eq "body: whatsapp unit_config is a JSON integer" "42 int" "$(body +96550000402 'str(b.get("unit_config")) + " " + type(b.get("unit_config")).__name__')"
check_eq "body: multi-line context value kept" "{'customerName': 'Noura', 'note': 'line1\\nline2'}" "$(body +96550000402 'b.get("context")')"
: >"$T/bodies.jsonl"
"$RESEND" --base-url "$REC_URL" --no-preflight --no-ledger -r 0 -q --per-channel-endpoint -o ctx-rec2.csv ctx.csv 2>/dev/null
check_eq "body (per-channel): path /b/pbl/v2/notifications/send/whatsapp/, no channel key" \
  "/b/pbl/v2/notifications/send/whatsapp/ False" "$(body +96550000402 'p + " " + str("channel" in b)')"
check_eq "body (per-channel): path for sms" "/b/pbl/v2/notifications/send/sms/" "$(body +96550000401 'p')"
check_eq "body (per-channel): path for email" "/b/pbl/v2/notifications/send/email/" "$(body ctx1@example.com 'p')"
cat >lists.csv <<'EOF'
channel,template_id,to,cc,bcc,tags,subject,body,Context.First Name,context.blank
email,t1,lists@example.com,"b@example.com, c@example.com",d@example.com,"t1, t2;t3",Hello,Body text,Ali,"   "
EOF
: >"$T/bodies.jsonl"
"$RESEND" --base-url "$REC_URL" --no-preflight --no-ledger -r 0 -q -o lists.out.csv lists.csv 2>/dev/null
check_eq "body: cc/bcc/tags lists split on ',' and ';', trimmed" \
  "['b@example.com', 'c@example.com'] ['d@example.com'] ['t1', 't2', 't3']" \
  "$(body lists@example.com '" ".join(str(b.get(k)) for k in ("cc", "bcc", "tags"))')"
check_eq "body: subject and body passed through" "Hello|Body text" "$(body lists@example.com 'b.get("subject") + "|" + b.get("body")')"
check_eq "body: 'Context.First Name' header -> context key 'First Name' (case kept); blank cell left out" "{'First Name': 'Ali'}" \
  "$(body lists@example.com 'b.get("context")')"
