#!/usr/bin/env bash
# ottu-mock on its own: start-up and binding, every validation rule and response shape of
# the three endpoints, auth and HTTP errors, hostile requests, --transactions rules, the
# deliveries file, each fault option (with --seed) and the documented schemas.
source "$(dirname "$0")/../lib.sh"
plan 242
HERE="$ROOT/tests/mock"
# This script calls python a few hundred times: resolve the interpreter once (a version
# manager's shim costs ~0.1 s a call) and skip site-packages (only the stdlib is used).
PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || PY=python3
python3() { "$PY" -S -I "$@"; }
OPENAPI="$DATA/ottu-openapi"
MSG=/b/pbl/v2/message-notification/
SEND=/b/pbl/v2/send-notification/
SENDCH=/b/pbl/v2/notifications/send
AUTH='Authorization: Api-Key test-key'
CTYPE='Content-Type: application/json'

# req METHOD PATH [curl args...]: sets CODE; the body goes to $T/resp, headers to $T/hdrs.
req() { CODE=$(curl -s -o "$T/resp" -D "$T/hdrs" -w '%{http_code}' -X "$1" "$MOCK_URL$2" "${@:3}"); }
# post PATH JSON [curl args...]: an authorised JSON POST.
post() { req POST "$1" -H "$AUTH" -H "$CTYPE" --data-binary "$2" "${@:3}"; }
# hdr NAME: a header of the last answer.
hdr() { grep -i "^$1:" "$T/hdrs" | head -1 | sed 's/^[^:]*: *//' | tr -d '\r'; }
# expect NAME CODE JSON: the last answer was CODE with exactly the body JSON (key order free).
expect() {
  local got
  got=$(python3 - "$3" "$T/resp" <<'PY'
import json, sys
want = json.dumps(json.loads(sys.argv[1]), sort_keys=True, ensure_ascii=False)
try:
    got = json.dumps(json.load(open(sys.argv[2], encoding='utf-8')), sort_keys=True, ensure_ascii=False)
except ValueError:
    got = 'not JSON: ' + open(sys.argv[2], 'rb').read(200).decode('utf-8', 'replace')
print(want); print(got)
PY
)
  check_eq "$1" "$2 $(sed -n 1p <<<"$got")" "$CODE $(sed -n 2p <<<"$got")"
}
# keys: the sorted top-level keys of the last answer, joined with ','.
keys() { python3 -c 'import json,sys; print(",".join(sorted(json.load(open(sys.argv[1])))))' "$T/resp" 2>/dev/null; }
# stat EXPR: a python expression over the mock's stats (bound to s).
stat() { curl -s "$MOCK_URL/__mock/stats" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
client() { python3 "$HERE/client.py" "$MOCK_URL" "$@"; }
long() { python3 -c 'import sys; print(sys.argv[1] * int(sys.argv[2]))' "$1" "$2"; }

# ---------------------------------------------------------------------------------------
# Start-up, binding, options.
"$MOCK" --port 0 >"$T/first.out" 2>"$T/first.err" &
pid=$!; MOCK_PIDS+=("$pid")
t0=$(date +%s%N)
for _ in $(seq 1 200); do grep -q . "$T/first.out" && break; sleep 0.005; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "start-up: listening line within 3 s, a loaded machine or a sanitizer included (${ms} ms)" [ "$ms" -lt 3000 ]
check "start-up: first line is exactly 'listening on http://127.0.0.1:PORT'" \
  grep -qxE 'listening on http://127\.0\.0\.1:[0-9]+' <(head -1 "$T/first.out")
port=$(head -1 "$T/first.out" | sed 's/.*://')
check "start-up: --port 0 picked a real port ($port)" [ "$port" -gt 0 ]
check "binding: listens on 127.0.0.1 only" python3 - "$port" <<'PY'
import sys
port = int(sys.argv[1])
found = []
for f in ('/proc/net/tcp', '/proc/net/tcp6'):
    for line in open(f).read().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, p = local.split(':')
        if int(p, 16) == port and state == '0A':
            found.append(addr)
sys.exit(0 if found == ['0100007F'] else 1)
PY
kill -TERM "$pid"; wait "$pid"; rc=$?
check_eq "SIGTERM: exits 0" 0 "$rc"
"$MOCK" --port 0 >"$T/int.out" 2>&1 &
pid=$!; MOCK_PIDS+=("$pid")
for _ in $(seq 1 200); do grep -q . "$T/int.out" && break; sleep 0.005; done
kill -INT "$pid"; wait "$pid"; rc=$?
check_eq "SIGINT: exits 0" 0 "$rc"
"$MOCK" --help >"$T/help.out" 2>&1; rc=$?
check "-h/--help: exit 0 and a usage text naming every option" \
  bash -c '[ '"$rc"' -eq 0 ] && for o in --port --api-key --transactions --deliveries --latency-ms --jitter-ms --fail-rate --rate-limit --outage-ms --drop-rate --seed --ambiguous-rate --ambiguous-kinds --stall-ms --fail-channel --fail-channel-rate --false-200 --false-200-rate --echo-auth --daily-quota; do grep -q -- "$o" "$1" || exit 1; done' _ "$T/help.out"
"$MOCK" --fail-rate 2 >/dev/null 2>"$T/bad.err"; rc=$?
check_eq "bad option value: exit 2" 2 "$rc"
check "bad option value: the message names the option" grep -q -- '--fail-rate' "$T/bad.err"
"$MOCK" --bogus >/dev/null 2>&1; rc=$?
check_eq "unknown option: exit 2" 2 "$rc"
bad=""
for args in "--ambiguous-kinds 503" "--ambiguous-kinds drop," "--ambiguous-rate 1.5" "--fail-channel fax" \
            "--fail-channel sms,email" "--false-200 HTML" "--daily-quota -1" "--stall-ms 0"; do
  # shellcheck disable=SC2086
  "$MOCK" --port 0 $args >/dev/null 2>"$T/bad.err"; rc=$?
  [ "$rc" -eq 2 ] && grep -q -- "${args%% *}" "$T/bad.err" || bad="$bad [$args: $rc]"
done
check_eq "bad values of the fault options: exit 2 naming the option" "" "$bad"

# ---------------------------------------------------------------------------------------
# Message notifications: validation and shapes (no --transactions: everything exists).
start_mock --deliveries "$T/plain.dlv" || exit 1
post $MSG '{"order_no": "A-1", "channels": ["sms", "email"]}'
expect "message: order_no + channels -> 200 Customer notified." 200 '{"message": "Customer notified."}'
check_eq "message: Content-Type application/json" "application/json" "$(hdr Content-Type)"
post $MSG '{"session_id": "s-1", "channels": ["whatsapp"]}'
expect "message: session_id only -> 200" 200 '{"message": "Customer notified."}'
post $MSG '{"order_no": "A-1", "session_id": "s-1", "channels": ["sms", "sms"], "extra": 1}'
expect "message: both identifiers, repeated channel, unknown field ignored -> 200" 200 '{"message": "Customer notified."}'
post $MSG '{"order_no": "A-1"}'
expect "message: channels missing -> required" 400 '{"channels": ["This field is required."]}'
post $MSG ''
expect "message: empty body -> channels required" 400 '{"channels": ["This field is required."]}'
post $MSG '{"order_no": "A-1", "channels": []}'
expect "message: channels empty" 400 '{"channels": ["This selection may not be empty."]}'
post $MSG '{"order_no": "A-1", "channels": ["fax"]}'
expect "message: channels [fax] -> not a valid choice" 400 '{"channels": ["\"fax\" is not a valid choice."]}'
post $MSG '{"order_no": "A-1", "channels": ["SMS"]}'
expect "message: channel names are lower case" 400 '{"channels": ["\"SMS\" is not a valid choice."]}'
post $MSG '{"order_no": "A-1", "channels": "sms"}'
expect "message: channels as a string -> not a list" 400 '{"channels": ["Expected a list of items but got type \"str\"."]}'
post $MSG '{"order_no": "A-1", "channels": null}'
expect "message: channels null" 400 '{"channels": ["This field may not be null."]}'
post $MSG '{"channels": ["sms"]}'
expect "message: neither order_no nor session_id" 400 '{"non_field_errors": ["Either order_no or session_id must be provided."]}'
post $MSG "{\"order_no\": \"$(long x 129)\", \"channels\": [\"sms\"]}"
expect "message: order_no of 129 characters" 400 '{"order_no": ["Ensure this field has no more than 128 characters."]}'
post $MSG "{\"order_no\": \"$(long x 128)\", \"channels\": [\"sms\"]}"
check_eq "message: order_no of 128 characters -> 200" 200 "$CODE"
post $MSG "{\"order_no\": \"$(long ع 128)\", \"channels\": [\"sms\"]}"
check_eq "message: 128 Arabic characters (256 bytes) -> 200: the limit counts characters" 200 "$CODE"
post $MSG "{\"session_id\": \"$(long s 129)\", \"channels\": [\"sms\"]}"
expect "message: session_id of 129 characters" 400 '{"session_id": ["Ensure this field has no more than 128 characters."]}'
post $MSG '{"order_no": 12, "channels": ["sms"]}'
expect "message: order_no as a number -> not a valid string" 400 '{"order_no": ["Not a valid string."]}'
post $MSG '{"order_no": "  ", "session_id": "s", "channels": ["sms"]}'
expect "message: blank order_no" 400 '{"order_no": ["This field may not be blank."]}'
post $MSG "{\"order_no\": \"$(long x 200)\", \"session_id\": 5, \"channels\": [\"fax\"]}"
check_eq "message: every bad field named at once" "channels,order_no,session_id" "$(keys)"
post $MSG '["sms"]'
expect "message: a JSON list body" 400 '{"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}'

# ---------------------------------------------------------------------------------------
# Template notifications.
E='"template_id": "t-1", "to": "a@example.com"'
post $SEND "{\"channel\": \"email\", $E}"
expect "send: email -> 200 Notification sent." 200 '{"message": "Notification sent.", "result": "success"}'
post $SEND '{"channel": "sms", "template_id": "t-1", "to": "+96599999999", "language": "ar"}'
expect "send: sms, language ar -> 200" 200 '{"message": "Notification sent.", "result": "success"}'
post $SEND '{"channel": "whatsapp", "template_id": "t-1", "to": "+96599999999", "unit_config": 3}'
expect "send: whatsapp with unit_config -> 200" 200 '{"message": "Notification sent.", "result": "success"}'
post $SEND '{}'
expect "send: channel, template_id, to required" 400 \
  '{"channel": ["This field is required."], "template_id": ["This field is required."], "to": ["This field is required."]}'
post $SEND "{\"channel\": \"fax\", $E}"
expect "send: channel fax" 400 '{"channel": ["\"fax\" is not a valid choice."]}'
post $SEND '{"channel": "email", "template_id": "t-1", "to": "not-an-email"}'
expect "send: email to must be an address" 400 '{"to": ["Enter a valid email address."]}'
P='{"to": ["Enter a valid phone number in international format: + and 8 to 15 digits."]}'
for to in 96599999999 "+965 9999 9999" +1234567 +1234567890123456 a@example.com; do
  post $SEND "{\"channel\": \"sms\", \"template_id\": \"t\", \"to\": \"$to\"}"
  expect "send: sms to '$to' refused" 400 "$P"
done
post $SEND '{"channel": "sms", "template_id": "t", "to": "+12345678"}'
check_eq "send: sms to + and 8 digits -> 200" 200 "$CODE"
post $SEND '{"channel": "whatsapp", "template_id": "t", "to": "+96599999999"}'
expect "send: whatsapp without unit_config" 400 '{"unit_config": ["This field is required for whatsapp."]}'
for uc in '"5"' 1.5 true; do
  post $SEND "{\"channel\": \"whatsapp\", \"template_id\": \"t\", \"to\": \"+96599999999\", \"unit_config\": $uc}"
  expect "send: unit_config $uc is not an integer" 400 '{"unit_config": ["A valid integer is required."]}'
done
post $SEND "{\"channel\": \"sms\", \"template_id\": \"t\", \"to\": \"+96599999999\", \"unit_config\": 7}"
check_eq "send: unit_config allowed for sms" 200 "$CODE"
post $SEND "{\"channel\": \"email\", $E, \"language\": \"fr\"}"
expect "send: language fr" 400 '{"language": ["\"fr\" is not a valid choice."]}'
post $SEND "{\"channel\": \"email\", $E, \"language\": \"EN\"}"
expect "send: language is case-sensitive" 400 '{"language": ["\"EN\" is not a valid choice."]}'
post $SEND "{\"channel\": \"email\", $E, \"cc\": [\"b@example.com\"], \"bcc\": [\"c@example.com\", \"d@example.com\"]}"
check_eq "send: cc/bcc lists of addresses -> 200" 200 "$CODE"
post $SEND "{\"channel\": \"email\", $E, \"cc\": \"b@example.com\"}"
expect "send: cc not a list" 400 '{"cc": ["Expected a list of items but got type \"str\"."]}'
post $SEND "{\"channel\": \"email\", $E, \"cc\": [\"b@example.com\", \"nope\"], \"bcc\": [3]}"
expect "send: cc/bcc items checked" 400 '{"cc": ["cc[1]: Enter a valid email address."], "bcc": ["bcc[0]: Not a valid string."]}'
post $SEND '{"channel": "sms", "template_id": "t", "to": "+96599999999", "cc": ["b@example.com"]}'
expect "send: cc is for email only" 400 '{"cc": ["Only allowed for the email channel."]}'
post $SEND "{\"channel\": \"email\", $E, \"trace_id\": \"$(long t 61)\"}"
expect "send: trace_id of 61 characters" 400 '{"trace_id": ["Ensure this field has no more than 60 characters."]}'
post $SEND "{\"channel\": \"email\", $E, \"trace_id\": \"$(long t 60)\", \"tags\": [\"a\", \"b\"], \"subject\": \"s\", \"body\": \"b\", \"context\": {\"x\": 1}}"
check_eq "send: trace_id of 60, tags, subject, body, context -> 200" 200 "$CODE"
post $SEND "{\"channel\": \"email\", $E, \"tags\": [\"a\", 1]}"
expect "send: tags must be strings" 400 '{"tags": ["tags[1]: Not a valid string."]}'
post $SEND "{\"channel\": \"email\", $E, \"attachments\": [{\"filename\": \"a.pdf\"}, \"x\"]}"
expect "send: attachments need content or url, and objects" 400 \
  '{"attachments": ["attachments[0]: Provide either content (base64) or url.", "attachments[1]: Invalid data. Expected a dictionary, but got str."]}'
post $SEND "{\"channel\": \"email\", $E, \"attachments\": [{\"filename\": \"a.pdf\", \"url\": \"https://example.com/a.pdf\", \"content_type\": \"application/pdf\"}]}"
check_eq "send: attachment with url -> 200" 200 "$CODE"
post $SEND '{"channel": "email", "template_id": "", "to": 5}'
expect "send: blank template_id, to not a string" 400 '{"template_id": ["This field may not be blank."], "to": ["Not a valid string."]}'

post $SENDCH/sms/ '{"template_id": "t-2", "to": "+96599999999"}'
expect "send-channel: /notifications/send/sms/ -> 200" 200 '{"message": "Notification sent.", "result": "success"}'
post $SENDCH/email/ '{"channel": "sms", "template_id": "t-2", "to": "a@example.com"}'
check_eq "send-channel: a body channel is ignored, the path decides" 200 "$CODE"
post $SENDCH/whatsapp/ '{"template_id": "t-2", "to": "+96599999999"}'
expect "send-channel: whatsapp needs unit_config" 400 '{"unit_config": ["This field is required for whatsapp."]}'
post $SENDCH/fax/ '{"template_id": "t-2", "to": "+96599999999"}'
expect "send-channel: unknown channel in the path" 400 '{"channel": ["\"fax\" is not a valid choice."]}'
post $SENDCH/email/ '{"template_id": "t-2", "to": "+96599999999"}'
expect "send-channel: email path checks to as an address" 400 '{"to": ["Enter a valid email address."]}'

# ---------------------------------------------------------------------------------------
# Auth, HTTP errors and hostile requests.
req POST $MSG -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}'
expect "auth: no Authorization -> 401" 401 '{"detail": "Authentication credentials were not provided."}'
check_eq "auth: 401 carries WWW-Authenticate" "Api-Key" "$(hdr WWW-Authenticate)"
req POST $MSG -H 'Authorization: Api-Key wrong' -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}'
expect "auth: wrong key -> 401" 401 '{"detail": "Invalid API key."}'
req POST $MSG -H 'Authorization: Bearer test-key' -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}'
check_eq "auth: another scheme -> 401" 401 "$CODE"
req POST $SEND -H 'Authorization: Api-Key test-keyX' -H "$CTYPE" --data-binary '{}'
check_eq "auth: a longer key is wrong too" 401 "$CODE"
req GET $MSG -H "$AUTH"
expect "wrong method: GET -> 405" 405 '{"detail": "Method \"GET\" not allowed."}'
check_eq "wrong method: Allow: POST, OPTIONS (as DRF)" "POST, OPTIONS" "$(hdr Allow)"
req PUT $SENDCH/sms/ -H "$AUTH" -H "$CTYPE" --data-binary '{}'
check_eq "wrong method: PUT -> 405" 405 "$CODE"
req POST $MSG -H "$AUTH" -H 'Content-Type: text/plain' --data-binary '{"order_no": "A", "channels": ["sms"]}'
expect "content type text/plain -> 415" 415 '{"detail": "Unsupported media type \"text/plain\" in request."}'
req POST $MSG -H "$AUTH" -H 'Content-Type: application/x-www-form-urlencoded' --data 'order_no=A&channels=sms'
check_eq "form-encoded body -> 415" 415 "$CODE"
post $MSG '{"order_no": "A", "channels": ["sms"]}' -H 'Content-Type: application/json; charset=utf-8'
check_eq "content type with charset parameter -> 200" 200 "$CODE"
post $MSG '{"order_no": "A", "channels": ["sms"'
check_eq "broken JSON -> 400" 400 "$CODE"
check "broken JSON: a JSON detail" grep -q '"detail":"JSON parse error' "$T/resp"
post $MSG '{"order_no": "A", "channels": ["sms"]} x'
check_eq "trailing garbage after the JSON -> 400" 400 "$CODE"
printf '{"order_no": "\xff\xfe", "channels": ["sms"]}' >"$T/badutf8"
post $MSG @"$T/badutf8"
check_eq "invalid UTF-8 -> 400" 400 "$CODE"
python3 -c 'import sys; sys.stdout.write("[" * 200000 + "]" * 200000)' >"$T/deep.json"
post $MSG @"$T/deep.json"
check_eq "200000-deep nesting -> 400, no crash" 400 "$CODE"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
post $MSG @"$T/big"
expect "2 MiB body -> 413" 413 '{"detail": "Request body too large (limit 1048576 bytes)."}'
post $MSG @"$T/big" -H 'Transfer-Encoding: chunked'
check_eq "2 MiB chunked body -> 413" 413 "$CODE"
req POST /b/pbl/v2/nope/ -H "$AUTH"
expect "unknown path -> 404" 404 '{"detail": "Not found."}'
post /b/pbl/v2/message-notification '{"order_no": "A", "channels": ["sms"]}'
check_eq "path without its trailing slash -> 404" 404 "$CODE"
req GET /__mock/nothing
check_eq "unknown /__mock/ path -> 404" 404 "$CODE"
check "garbage on the socket: the mock answers or closes, and lives on" python3 - "${MOCK_URL##*:}" <<'PY'
import socket, sys
for junk in (b"\x00\xff garbage\r\n\r\n", b"POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
             b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n", b"POST /b/pbl/v2/message-notification/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
    try:
        s.sendall(junk)
        s.shutdown(socket.SHUT_WR)
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
post $MSG '{"order_no": "alive", "channels": ["sms"]}'
check_eq "after every hostile request the mock still answers 200" 200 "$CODE"
check "the mock process is still running" kill -0 "$MOCK_PID"
req GET /__mock/stats
check_eq "stats: GET -> 200 JSON" "200 application/json" "$CODE $(hdr Content-Type)"
check "stats: requests, delivered and a count per status" python3 - "$T/resp" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
ok = isinstance(s["requests"], int) and isinstance(s["delivered"], int) and s["status"]["200"] > 0
ok = ok and all(k.isdigit() and isinstance(v, int) for k, v in s["status"].items())
sys.exit(0 if ok and s["status"]["413"] == 2 and s["status"]["401"] == 4 else 1)
PY
lines=$(wc -l <"$T/plain.dlv")
check_eq "deliveries: one line per channel of each 200 (= stats delivered)" "$(stat 's["delivered"]')" "$lines"
check "deliveries: time,endpoint,identifier,channel,detail" python3 - "$T/plain.dlv" <<'PY'
import csv, re, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))
assert all(len(r) == 5 for r in rows), 'five fields per line'
assert all(re.fullmatch(r'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', r[0]) for r in rows), 'ISO 8601 UTC ms'
assert rows[0][1:] == ['message', 'A-1', 'sms', 'paid'] and rows[1][1:] == ['message', 'A-1', 'email', 'paid'], rows[:2]
assert rows[2][1:] == ['message', 's-1', 'whatsapp', 'paid'], rows[2]
send = [r[1:] for r in rows if r[1] != 'message']
assert send[0] == ['send', 'a@example.com', 'email', 't-1'], send[0]
assert ['send-channel', '+96599999999', 'sms', 't-2'] in send
assert ['send-channel', 'a@example.com', 'email', 't-2'] in send
PY
curl -s -X POST "$MOCK_URL/__mock/reset" >/dev/null
check_eq "POST /__mock/reset zeroes the counters" "0 0 {}" "$(stat '"%d %d %s" % (s["requests"], s["delivered"], s["status"])')"
client $MSG 400 -c 8 --summary >/dev/null
check "deliveries: 400 requests from 8 connections, no interleaved lines" python3 - "$T/plain.dlv" "$lines" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1], newline='')))[int(sys.argv[2]):]
sys.exit(0 if len(rows) == 400 and all(len(r) == 5 and r[1:] == ['message', 'C-1', 'sms', 'paid'] for r in rows) else 1)
PY
check_eq "stats: 400 requests, 400 delivered, per endpoint and channel" "400 400 400 400 400" \
  "$(stat '"%d %d %d %d %d" % (s["requests"], s["delivered"], s["endpoints"]["message"]["requests"], s["endpoints"]["message"]["ok"], s["channels"]["sms"])')"
stop_mock

# ---------------------------------------------------------------------------------------
# --transactions: lookup, per-state channels, failure shape; --templates; other keys.
cat >"$T/txn.csv" <<'EOF'
order_no, session_id, state, customer_email, customer_phone, notify_email, notify_sms, notify_whatsapp
A-1, sess-1, paid, a@example.com, +96599999991, created;paid, paid, paid
R-1, sess-2, refunded, r@example.com, +96599999992, refunded, refunded, refunded;paid
D-1, sess-3, paid, d@example.com, +96599999993, created, paid, paid
"Q,1", sess-4, Paid, , , paid, paid, paid
, sess-5, created, , , created, , created
EOF
start_mock --transactions "$T/txn.csv" --deliveries "$T/txn.dlv" --templates tpl-a,tpl-b \
  --api-key sekret --forbidden-key readonly || exit 1
AUTH='Authorization: Api-Key sekret'
post $MSG '{"order_no": "A-1", "channels": ["sms", "email", "whatsapp"]}'
expect "transactions: A-1 paid, all channels on -> 200" 200 '{"message": "Customer notified."}'
post $MSG '{"session_id": "sess-1", "channels": ["email"]}'
check_eq "transactions: lookup by session_id" 200 "$CODE"
post $MSG '{"order_no": "A-1", "session_id": "sess-2", "channels": ["sms"]}'
expect "transactions: order_no and session_id of different transactions -> 404" 404 '{"detail": "Not found."}'
post $MSG '{"order_no": "NOPE", "channels": ["sms"]}'
expect "transactions: unknown order_no -> 404" 404 '{"detail": "Not found."}'
post $MSG '{"session_id": "nope", "channels": ["sms"]}'
expect "transactions: unknown session_id -> 404" 404 '{"detail": "Not found."}'
post $MSG '{"order_no": "R-1", "channels": ["whatsapp"]}'
expect "transactions: whatsapp for a refunded transaction -> failed" 400 \
  '{"order_no": "R-1", "session_id": "sess-2", "channels": "whatsapp", "result": "failed"}'
post $MSG '{"order_no": "R-1", "channels": ["sms", "email"]}'
check_eq "transactions: sms+email for refunded (enabled) -> 200" 200 "$CODE"
post $MSG '{"order_no": "D-1", "channels": ["sms", "email"]}'
expect "transactions: email not enabled for paid -> failed, channels names it" 400 \
  '{"order_no": "D-1", "session_id": "sess-3", "channels": "email", "result": "failed"}'
post $MSG '{"order_no": "Q,1", "channels": ["sms"]}'
check_eq "transactions: quoted order_no with a comma, state in any case" 200 "$CODE"
post $MSG '{"session_id": "sess-5", "channels": ["sms"]}'
expect "transactions: sms enabled for no state -> failed (no order_no key)" 400 \
  '{"session_id": "sess-5", "channels": "sms", "result": "failed"}'
check "deliveries: nothing delivered for a failed request (D-1)" bash -c '! grep -q ",D-1," "$1"' _ "$T/txn.dlv"
check "deliveries: detail is the transaction's state; identifiers quoted, one name per transaction (sess-1 is A-1)" python3 - "$T/txn.dlv" <<'PY'
import csv, sys
rows = [r[1:] for r in csv.reader(open(sys.argv[1], newline=''))]
want = [['message', 'A-1', 'sms', 'paid'], ['message', 'A-1', 'email', 'paid'], ['message', 'A-1', 'whatsapp', 'paid'],
        ['message', 'A-1', 'email', 'paid'], ['message', 'R-1', 'sms', 'refunded'],
        ['message', 'R-1', 'email', 'refunded'], ['message', 'Q,1', 'sms', 'paid']]
sys.exit(0 if rows == want else print(rows) or 1)
PY
post $SEND '{"channel": "email", "template_id": "tpl-b", "to": "a@example.com"}'
check_eq "--templates: a listed template -> 200" 200 "$CODE"
post $SEND '{"channel": "email", "template_id": "other", "to": "a@example.com"}'
expect "--templates: an unknown template -> 400 result failed" 400 \
  '{"detail": "No active email template with this template_id.", "result": "failed"}'
cp "$T/resp" "$T/send-failed.json"
post $SENDCH/sms/ '{"template_id": "other", "to": "+96599999999"}'
check_eq "--templates: per-channel endpoint fails alike" "400 detail,result" "$CODE $(keys)"
cp "$T/resp" "$T/sendch-failed.json"
req POST $MSG -H 'Authorization: Api-Key test-key' -H "$CTYPE" --data-binary '{"order_no": "A-1", "channels": ["sms"]}'
check_eq "--api-key: the default key is refused when another is set" 401 "$CODE"
req POST $MSG -H 'Authorization: Api-Key readonly' -H "$CTYPE" --data-binary '{"order_no": "A-1", "channels": ["sms"]}'
expect "--forbidden-key -> 403" 403 '{"detail": "You do not have permission to perform this action."}'
req POST $MSG -H 'authorization: api-key   sekret  ' -H "$CTYPE" --data-binary '{"order_no": "A-1", "channels": ["sms"]}'
check_eq "auth: header and scheme names in any case, extra spaces" 200 "$CODE"
stop_mock
AUTH='Authorization: Api-Key test-key'

start_mock --transactions "$T/txn.csv" --require-contact || exit 1
post $MSG '{"order_no": "Q,1", "channels": ["email"]}'
expect "--require-contact: an empty customer_email fails email" 400 \
  '{"order_no": "Q,1", "session_id": "sess-4", "channels": "email", "result": "failed"}'
post $MSG '{"order_no": "A-1", "channels": ["email"]}'
check_eq "--require-contact: with an address -> 200" 200 "$CODE"
stop_mock

printf 'order_no,state\nX-1,paid\nX-2,sold\n' >"$T/badtxn.csv"
"$MOCK" --port 0 --transactions "$T/badtxn.csv" >/dev/null 2>"$T/badtxn.err"; rc=$?
check_eq "bad transactions file: exit 2" 2 "$rc"
check "bad transactions file: the message names the record and the bad state" grep -q 'record 3.*sold' "$T/badtxn.err"
printf 'order_no,state\nX-1,paid\nX-1,paid\n' >"$T/duptxn.csv"
"$MOCK" --port 0 --transactions "$T/duptxn.csv" >/dev/null 2>"$T/duptxn.err"; rc=$?
check_eq "duplicate order_no in the transactions file: exit 2" 2 "$rc"
printf '\xef\xbb\xbforder_no,State,Notify SMS\r\n\r\nB-1,voided,voided\r\n' >"$T/bomtxn.csv"
start_mock --transactions "$T/bomtxn.csv" || exit 1
post $MSG '{"order_no": "B-1", "channels": ["sms"]}'
check_eq "transactions: BOM, CRLF, blank line, header names normalised; missing notify columns = on" 200 "$CODE"
post $MSG '{"order_no": "B-1", "channels": ["whatsapp"]}'
check_eq "transactions: whatsapp not supported for voided even when enabled" 400 "$CODE"
stop_mock

# ---------------------------------------------------------------------------------------
# Faults, each with --seed: plausible counts, repeatable sequences, stats agree.
start_mock --fail-rate 0.3 --seed 7 || exit 1
client $MSG 200 >"$T/fail1"
n503=$(grep -c '^503$' "$T/fail1")
check "--fail-rate 0.3: 503 for 30% of 200 requests ($n503)" [ "$n503" -ge 35 -a "$n503" -le 85 ]
check_eq "--fail-rate: stats agree (requests, 503s)" "200 $n503" "$(stat '"%d %d" % (s["requests"], s["status"].get("503", 0))')"
check_eq "--fail-rate: 200s delivered, the rest not" "$((200 - n503))" "$(stat 's["delivered"]')"
req GET /__mock/stats
check_eq "--fail-rate: /__mock/stats never faulted" 200 "$CODE"
stop_mock
start_mock --fail-rate 0.3 --seed 7 || exit 1
client $MSG 200 >"$T/fail2"
check "--seed: the same seed gives the same sequence of faults" cmp -s "$T/fail1" "$T/fail2"
stop_mock
start_mock --fail-rate 0.3 --seed 8 || exit 1
client $MSG 200 >"$T/fail3"
check "--seed: another seed gives another sequence" bash -c '! cmp -s "$1" "$2"' _ "$T/fail1" "$T/fail3"
stop_mock

start_mock --fail-rate 1 --seed 1 || exit 1
req POST $MSG -H "$CTYPE" --data-binary '{}'
check_eq "faults come before auth: --fail-rate 1 answers 503 even without a key" 503 "$CODE"
check "503: a JSON detail" grep -q '"detail"' "$T/resp"
stop_mock

start_mock --drop-rate 0.2 --seed 3 || exit 1
client $MSG 150 >"$T/drop1"
ndrop=$(grep -c '^drop$' "$T/drop1")
check "--drop-rate 0.2: ~20% of 150 connections closed unanswered ($ndrop)" [ "$ndrop" -ge 12 -a "$ndrop" -le 50 ]
check_eq "--drop-rate: the rest answered 200" "$((150 - ndrop))" "$(grep -c '^200$' "$T/drop1")"
check_eq "--drop-rate: stats count the drops and deliver only the 200s" "150 $ndrop $((150 - ndrop))" \
  "$(stat '"%d %d %d" % (s["requests"], s["dropped"], s["delivered"])')"
stop_mock
start_mock --drop-rate 0.2 --seed 3 || exit 1
client $MSG 150 >"$T/drop2"
check "--drop-rate: repeatable with the same seed" cmp -s "$T/drop1" "$T/drop2"
stop_mock

start_mock --rate-limit 20 || exit 1
out=$(client $MSG 100 -c 4 --summary)
read -r n200 n429 ra el <<<"$(python3 -c 'import json,sys; s=json.loads(sys.argv[1]); print(s.get("200",0), s.get("429",0), s["retry_after"], s["elapsed"])' "$out")"
secs=$(python3 -c 'import math,sys; print(math.floor(float(sys.argv[1])) + 2)' "$el")
check "--rate-limit 20: at most 20 per second got through ($n200 in ${el}s)" [ "$n200" -ge 20 -a "$n200" -le $((20 * secs)) ]
check_eq "--rate-limit: the rest got 429" 100 "$((n200 + n429))"
check_eq "--rate-limit: 429 carries Retry-After: 1" 1 "$ra"
check_eq "--rate-limit: stats agree" "$n200 $n429" "$(stat '"%d %d" % (s["status"].get("200", 0), s["status"].get("429", 0))')"
# (asked again until it passes, at most 5 s: no fixed sleep across the second's edge)
post_ok() { post $MSG '{"order_no": "A", "channels": ["sms"]}'; [ "$CODE" = 200 ]; }
wait_for 5 post_ok
check_eq "--rate-limit: the next second lets requests through again" 200 "$CODE"
stop_mock

start_mock --outage-ms 600 || exit 1
post $MSG '{"order_no": "A", "channels": ["sms"]}'
check_eq "--outage-ms 600: 503 right after start" 503 "$CODE"
req GET /__mock/stats
check_eq "--outage-ms: /__mock/stats answers during the outage" 200 "$CODE"
wait_for 5 post_ok
check_eq "--outage-ms: 200 once the outage is over" 200 "$CODE"
stop_mock

start_mock --latency-ms 200 || exit 1
t=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H "$AUTH" -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}' "$MOCK_URL$MSG")
check "--latency-ms 200: one answer takes >= 0.2 s ($t)" python3 -c 'import sys; sys.exit(0 if 0.2 <= float(sys.argv[1]) < 1.0 else 1)' "$t"
t=$(curl -s -o /dev/null -w '%{time_total}' "$MOCK_URL/__mock/stats")
check "--latency-ms: /__mock/stats is not delayed ($t)" python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.15 else 1)' "$t"
out=$(client $MSG 256 -c 128 --summary)
check "--latency-ms: 128 connections x 2 requests in well under 128 x 0.2 s (delays overlap)" \
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); sys.exit(0 if s.get("200") == 256 and s["elapsed"] < 2.0 else 1)' "$out"
req POST $MSG -H "$CTYPE" --data-binary '{}'
check_eq "--latency-ms: errors are delayed too (401)" 401 "$CODE"
stop_mock

start_mock --latency-ms 20 --jitter-ms 100 --seed 5 || exit 1
for i in $(seq 1 12); do
  curl -s -o /dev/null -w '%{time_total}\n' -X POST -H "$AUTH" -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}' "$MOCK_URL$MSG"
done >"$T/jitter"
check "--jitter-ms 100: delays spread within 20..~130 ms" python3 - "$T/jitter" <<'PY'
import sys
t = [float(x) for x in open(sys.argv[1])]
sys.exit(0 if min(t) >= 0.02 and max(t) < 0.3 and max(t) - min(t) > 0.03 else 1)
PY
stop_mock

# ---------------------------------------------------------------------------------------
# The documented shapes: answers checked against *.responses.json, examples from
# *.request.json sent as they are.
start_mock --transactions "$T/txn.csv" --templates t-ok || exit 1
schema() { python3 "$HERE/schema_check.py" "$@"; }
shape() { # NAME FILE STATUS: the last answer matches the documented response STATUS of FILE
  local why
  why=$(schema response "$OPENAPI/$2.responses.json" "$3" "$T/resp")
  check "$1" [ $? -eq 0 ]
  [ -n "$why" ] && echo "# $why"
}
post $MSG '{"order_no": "A-1", "channels": ["sms"]}'
shape "schema: message 200" message-notifications 200
post $MSG '{"order_no": "A-1", "channels": ["fax"]}'
shape "schema: message 400 field errors" message-notifications 400
post $MSG '{"channels": ["sms"]}'
shape "schema: message 400 non_field_errors" message-notifications 400
post $MSG '{"order_no": "R-1", "channels": ["whatsapp"]}'
shape "schema: message 400 failed to notify" message-notifications 400
req POST $MSG -H "$CTYPE" --data-binary '{}'
shape "schema: message 401" message-notifications 401
req GET $MSG -H "$AUTH"
shape "schema: message 405" message-notifications 405
for ep in send-notification:$SEND send-specific-notification:$SENDCH/email/; do
  f=${ep%%:*} path=${ep#*:}
  post "$path" '{"channel": "email", "template_id": "t-ok", "to": "a@example.com"}'
  shape "schema: $f 200" "$f" 200
  post "$path" '{"channel": "email", "template_id": "t-ok", "to": "nope"}'
  shape "schema: $f 400 field errors" "$f" 400
  post "$path" '{"channel": "email", "template_id": "nope", "to": "a@example.com"}'
  shape "schema: $f 400 failed" "$f" 400
  req POST "$path" -H "$CTYPE" --data-binary '{}'
  shape "schema: $f 401" "$f" 401
  req GET "$path" -H "$AUTH"
  shape "schema: $f 405" "$f" 405
done
stop_mock

start_mock || exit 1
for f in message-notifications send-notification send-specific-notification; do
  while IFS=$'\t' read -r name body; do
    case "$f" in
      message-notifications) path=$MSG ;;
      send-notification) path=$SEND ;;
      *) ch=$(python3 -c 'import json,sys; b=json.loads(sys.argv[1]); n=sys.argv[2].lower()
print(b.get("channel") or ("sms" if "sms" in n else "whatsapp" if "whatsapp" in n else "email"))' "$body" "$name")
         path=$SENDCH/$ch/ ;;
    esac
    printf '%s' "$body" >"$T/example.json"
    schema request "$OPENAPI/$f.request.json" "$T/example.json" >/dev/null; valid=$?
    post "$path" "$body"
    if [ "$valid" -eq 0 ]; then
      check_eq "schema: $f example '$name' (valid) is accepted" 200 "$CODE"
    else
      # The WhatsApp examples show unit_config as a string; the schema (integer) wins.
      check_eq "schema: $f example '$name' (invalid per schema) -> 400 on unit_config" "400 unit_config" "$CODE $(keys)"
      python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); b["unit_config"]=1; print(json.dumps(b))' "$T/example.json" >"$T/fixed.json"
      schema request "$OPENAPI/$f.request.json" "$T/fixed.json" >/dev/null; fixed_valid=$?
      post "$path" @"$T/fixed.json"
      check_eq "schema: $f example '$name' with an integer unit_config is valid and accepted" "0 200" "$fixed_valid $CODE"
    fi
  done < <(schema examples "$OPENAPI/$f.request.json")
done
stop_mock

# ---------------------------------------------------------------------------------------
# GETs as Django REST framework answers them (authenticate, throttle, then 405), counted
# apart from the notification requests.
start_mock || exit 1
getbad=""
for path in $MSG $SEND $SENDCH/sms/; do
  req GET "$path"
  [ "$CODE $(keys)" == "401 detail" ] || getbad="$getbad [$path no key: $CODE]"
  req GET "$path" -H 'Authorization: Api-Key wrong'
  [ "$CODE $(keys)" == "401 detail" ] || getbad="$getbad [$path bad key: $CODE]"
  req GET "$path" -H "$AUTH"
  [ "$CODE $(cat "$T/resp") $(hdr Allow)" == '405 {"detail":"Method \"GET\" not allowed."} POST, OPTIONS' ] ||
    getbad="$getbad [$path good key: $CODE $(cat "$T/resp") $(hdr Allow)]"
done
check_eq "GET on each endpoint: 401 without or with a bad key, 405 + Allow: POST, OPTIONS with the key" "" "$getbad"
req GET /b/pbl/v2/
expect "GET on a path that is not an endpoint -> 404 (before auth)" 404 '{"detail": "Not found."}'
req GET /some/other/site/ -H "$AUTH"
check_eq "GET elsewhere with the key -> 404" 404 "$CODE"
req HEAD $MSG -H "$AUTH" -I
check_eq "HEAD with the key -> 405" 405 "$CODE"
req OPTIONS $MSG -H "$AUTH"
check_eq "OPTIONS with the key -> 200 DRF metadata" "200 description,name,parses,renders" "$CODE $(keys)"
check_eq "GETs counted apart: requests, get_requests, get_status" \
  "1 12 {'401': 6, '404': 2, '405': 4}" "$(stat '"%d %d %s" % (s["requests"], s["get_requests"], s["get_status"])')"
check_eq "GETs are not in the notification statuses" "{'200': 1}" "$(stat 's["status"]')"
stop_mock

start_mock --fail-rate 1 --drop-rate 0.5 --seed 2 || exit 1
req GET $MSG -H "$AUTH"
check_eq "GETs draw no random faults (--fail-rate 1, --drop-rate 0.5): 405" 405 "$CODE"
stop_mock
start_mock --outage-ms 5000 || exit 1
req GET $MSG -H "$AUTH"
check_eq "--outage-ms answers GETs 503 too (the gateway is down)" 503 "$CODE"
stop_mock
start_mock --fail-rate 0.3 --seed 7 || exit 1
for _ in 1 2 3; do req GET $MSG -H "$AUTH"; done
client $MSG 200 >"$T/fail4"
check "--seed: GETs before the POSTs do not shift the fault sequence" cmp -s "$T/fail1" "$T/fail4"
stop_mock

# ---------------------------------------------------------------------------------------
# --ambiguous-rate: delivered, then the answer is lost, each kind on its own.
for kind in 500 502 504; do
  start_mock --ambiguous-rate 1 --ambiguous-kinds $kind --deliveries "$T/amb$kind.dlv" || exit 1
  post $MSG '{"order_no": "AM-1", "channels": ["sms", "email"]}'
  check_eq "--ambiguous-kinds $kind: answered $kind, HTML" "$kind text/html" "$CODE $(hdr Content-Type | cut -d';' -f1)"
  check_eq "--ambiguous-kinds $kind: both channels delivered anyway" "AM-1,sms AM-1,email" \
    "$(cut -d, -f3,4 "$T/amb$kind.dlv" | tr '\n' ' ' | sed 's/ $//')"
  check_eq "--ambiguous-kinds $kind: stats ambiguous, its kind, delivered, status" "1 1 2 1" \
    "$(stat '"%d %d %d %d" % (s["ambiguous"], s["ambiguous_kinds"]["'$kind'"], s["delivered"], s["status"]["'$kind'"])')"
  stop_mock
done

start_mock --ambiguous-rate 1 --ambiguous-kinds drop --deliveries "$T/ambdrop.dlv" || exit 1
curl -s -o /dev/null -X POST -H "$AUTH" -H "$CTYPE" --data-binary '{"order_no": "AM-2", "channels": ["whatsapp"]}' "$MOCK_URL$MSG"; rc=$?
check_eq "--ambiguous-kinds drop: the connection closes without an answer (curl 52)" 52 "$rc"
check_eq "--ambiguous-kinds drop: delivered anyway" "AM-2,whatsapp" "$(cut -d, -f3,4 "$T/ambdrop.dlv")"
check_eq "--ambiguous-kinds drop: stats ambiguous and drop, not --drop-rate's dropped" "1 1 0 1" \
  "$(stat '"%d %d %d %d" % (s["ambiguous"], s["ambiguous_kinds"]["drop"], s["dropped"], s["delivered"])')"
stop_mock

start_mock --ambiguous-rate 1 --ambiguous-kinds stall --stall-ms 1500 --deliveries "$T/ambstall.dlv" || exit 1
curl -s -o /dev/null -m 0.5 -X POST -H "$AUTH" -H "$CTYPE" --data-binary '{"order_no": "AM-3", "channels": ["sms"]}' "$MOCK_URL$MSG"; rc=$?
check_eq "--ambiguous-kinds stall: the client times out (curl 28)" 28 "$rc"
check_eq "--ambiguous-kinds stall: delivered before the stall" "AM-3,sms" "$(cut -d, -f3,4 "$T/ambstall.dlv")"
t=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H "$AUTH" -H "$CTYPE" --data-binary '{"order_no": "AM-4", "channels": ["sms"]}' "$MOCK_URL$MSG"); rc=$?
check "--stall-ms 1500: after the stall the connection closes unanswered (curl 52 after ${t}s)" \
  python3 -c 'import sys; sys.exit(0 if sys.argv[1] == "52" and 1.4 <= float(sys.argv[2]) < 3 else 1)' "$rc" "$t"
stop_mock

start_mock --ambiguous-rate 1 --ambiguous-kinds stall --threads 1 || exit 1
for i in $(seq 1 20); do
  curl -s -o /dev/null -m 30 -X POST -H "$AUTH" -H "$CTYPE" --data-binary "{\"order_no\": \"ST-$i\", \"channels\": [\"sms\"]}" "$MOCK_URL$MSG" &
done
for _ in $(seq 1 100); do [ "$(stat 's["ambiguous"]')" -ge 20 ] && break; sleep 0.05; done
t=$(curl -s -o "$T/resp" -w '%{time_total}' -H "$AUTH" "$MOCK_URL$MSG")
check "stall: 20 stalled requests on one thread, a GET still answered at once (${t}s)" \
  python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 0.5 else 1)' "$t"
check_eq "stall: stats show 20 stalled (delayed_now) and 20 delivered" "20 20" "$(stat '"%d %d" % (s["delayed_now"], s["delivered"])')"
t0=$(date +%s%N)
kill -TERM "$MOCK_PID"; wait "$MOCK_PID"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check "stall: SIGTERM stops the mock at once despite 120 s stalls (exit $rc in ${ms} ms)" [ "$rc" -eq 0 -a "$ms" -lt 2000 ]
wait
stop_mock

start_mock --ambiguous-rate 0.3 --ambiguous-kinds 500,502,504,drop --seed 11 --deliveries "$T/ambmix.dlv" || exit 1
client $MSG 200 >"$T/amb1"
nlost=$(grep -cv '^200$' "$T/amb1")
check "--ambiguous-rate 0.3: about 30% of 200 answers lost ($nlost)" [ "$nlost" -ge 35 -a "$nlost" -le 85 ]
check_eq "--ambiguous-rate: only the chosen kinds" "" "$(grep -vxE '200|500|502|504|drop' "$T/amb1")"
check_eq "--ambiguous-rate: every request delivered; stats count the lost answers" "200 200 $nlost" \
  "$(stat '"%d %d %d" % (s["requests"], s["delivered"], s["ambiguous"])')"
check_eq "--ambiguous-rate: one deliveries line per request" 200 "$(wc -l <"$T/ambmix.dlv")"
stop_mock
start_mock --ambiguous-rate 0.3 --ambiguous-kinds 500,502,504,drop --seed 11 || exit 1
client $MSG 200 >"$T/amb2"
check "--ambiguous-rate: repeatable with the same seed" cmp -s "$T/amb1" "$T/amb2"
stop_mock
start_mock --ambiguous-rate 1 --ambiguous-kinds 504 || exit 1
post $MSG '{"channels": ["fax"]}'
check_eq "--ambiguous-rate: a refused request's answer is lost too (nothing delivered)" "504 0" "$CODE $(stat 's["delivered"]')"
req POST $MSG -H "$CTYPE" --data-binary '{}'
check_eq "--ambiguous-rate: auth failures are answered (the request never reached the API)" 401 "$CODE"
stop_mock

# ---------------------------------------------------------------------------------------
# --fail-channel: one channel of a message request fails, the others go out.
start_mock --fail-channel email --deliveries "$T/part.dlv" || exit 1
post $MSG '{"order_no": "PT-1", "session_id": "s-9", "channels": ["sms", "email", "whatsapp"]}'
expect "--fail-channel email: sms+email+whatsapp -> 400 failed naming email" 400 \
  '{"order_no": "PT-1", "session_id": "s-9", "channels": "email", "result": "failed"}'
cp "$T/resp" "$T/partial.json"
post $MSG '{"order_no": "PT-2", "channels": ["email"]}'
expect "--fail-channel email: email alone -> the same 400" 400 '{"order_no": "PT-2", "channels": "email", "result": "failed"}'
post $MSG '{"order_no": "PT-3", "channels": ["sms"]}'
check_eq "--fail-channel email: a request without email -> 200" 200 "$CODE"
check_eq "--fail-channel: the other channels delivered, never the failed one" \
  "PT-1,sms PT-1,whatsapp PT-3,sms" "$(cut -d, -f3,4 "$T/part.dlv" | tr '\n' ' ' | sed 's/ $//')"
check_eq "--fail-channel: stats partial 2, delivered 3, status 400 x2" "2 3 2" \
  "$(stat '"%d %d %d" % (s["partial"], s["delivered"], s["status"]["400"])')"
stop_mock
start_mock --fail-channel sms --fail-channel-rate 0.5 --seed 4 || exit 1
client $MSG 100 --body '{"order_no": "PR-1", "channels": ["sms", "email"]}' >"$T/part1"
n400=$(grep -c '^400$' "$T/part1")
check "--fail-channel-rate 0.5: about half of 100 fail sms ($n400)" [ "$n400" -ge 30 -a "$n400" -le 70 ]
check_eq "--fail-channel-rate: email always delivered, sms only for the 200s" "100 $((100 - n400)) $n400" \
  "$(stat '"%d %d %d" % (s["channels"]["email"], s["channels"]["sms"], s["partial"])')"
stop_mock

# ---------------------------------------------------------------------------------------
# --false-200: 200s that confirm nothing.
start_mock --false-200 result-failed --deliveries "$T/f200a.dlv" || exit 1
post $MSG '{"order_no": "FF-1", "channels": ["sms"]}'
expect "--false-200 result-failed: 200 {result: failed}" 200 '{"result": "failed"}'
post $SEND '{"channel": "email", "template_id": "t", "to": "a@example.com"}'
expect "--false-200 result-failed: template endpoints too" 200 '{"result": "failed"}'
check_eq "--false-200 result-failed: nothing delivered; stats false_200 2" "0 0 2" \
  "$(wc -c <"$T/f200a.dlv") $(stat '"%d %d" % (s["delivered"], s["false_200"])')"
stop_mock
start_mock --false-200 html --deliveries "$T/f200b.dlv" || exit 1
post $MSG '{"order_no": "FF-2", "channels": ["sms"]}'
check "--false-200 html: 200 text/html with a login form" \
  bash -c '[ "$1" == "200 text/html; charset=utf-8" ] && grep -q "<form" "$2"' _ "$CODE $(hdr Content-Type)" "$T/resp"
check_eq "--false-200 html: delivered" "FF-2,sms" "$(cut -d, -f3,4 "$T/f200b.dlv")"
stop_mock
start_mock --false-200 empty --deliveries "$T/f200c.dlv" || exit 1
post $SENDCH/sms/ '{"template_id": "t", "to": "+96599999999"}'
check_eq "--false-200 empty: 200 with an empty body" "200 0" "$CODE $(wc -c <"$T/resp")"
check_eq "--false-200 empty: delivered" "+96599999999,sms" "$(cut -d, -f3,4 "$T/f200c.dlv")"
post $MSG '{"channels": ["fax"]}'
check_eq "--false-200: a refused request stays refused" 400 "$CODE"
stop_mock
start_mock --false-200 html --false-200-rate 0.25 --seed 9 || exit 1
client $MSG 200 >/dev/null
check "--false-200-rate 0.25: about a quarter of 200 ($(stat 's["false_200"]'))" \
  python3 -c 'import sys; sys.exit(0 if 25 <= int(sys.argv[1]) <= 75 else 1)' "$(stat 's["false_200"]')"
stop_mock

# ---------------------------------------------------------------------------------------
# --echo-auth: a 401 that repeats the credentials.
start_mock --echo-auth || exit 1
req POST $MSG -H 'Authorization: Api-Key s3cr3t-XYZ' -H "$CTYPE" --data-binary '{"order_no": "A", "channels": ["sms"]}'
check "--echo-auth: the 401 detail carries the header the client sent" \
  bash -c '[ "$1" == 401 ] && grep -q "Api-Key s3cr3t-XYZ" "$2"' _ "$CODE" "$T/resp"
req GET $SEND -H 'Authorization: Api-Key s3cr3t-XYZ'
check "--echo-auth: GETs too" bash -c '[ "$1" == 401 ] && grep -q "s3cr3t-XYZ" "$2"' _ "$CODE" "$T/resp"
post $MSG '{"order_no": "A", "channels": ["sms"]}'
check_eq "--echo-auth: the right key still works" 200 "$CODE"
stop_mock
start_mock || exit 1
req POST $MSG -H 'Authorization: Api-Key s3cr3t-XYZ' -H "$CTYPE" --data-binary '{}'
check "without --echo-auth the key is never repeated" bash -c '[ "$1" == 401 ] && ! grep -q "s3cr3t" "$2"' _ "$CODE" "$T/resp"
stop_mock

# ---------------------------------------------------------------------------------------
# --daily-quota: DRF's throttle per UTC day.
start_mock --daily-quota 3 --deliveries "$T/quota.dlv" || exit 1
post $MSG '{"order_no": "QU-1", "channels": ["sms"]}'
req GET $MSG -H "$AUTH"
req POST $MSG -H "$CTYPE" --data-binary '{}'
post $MSG '{"order_no": "QU-2", "channels": ["sms"]}'
check_eq "--daily-quota 3: two POSTs and a GET with the key count, the 401 not" "200 3" "$CODE $(stat 's["quota_used"]')"
post $MSG '{"order_no": "QU-3", "channels": ["sms"]}'
want=$(python3 -c 'import time; print(86400 - int(time.time()) % 86400)')
ra=$(hdr Retry-After)
check "--daily-quota: then 429 with Retry-After until the next UTC midnight ($ra ~ $want)" \
  python3 -c 'import sys; sys.exit(0 if sys.argv[1] == "429" and abs(int(sys.argv[2]) - int(sys.argv[3])) <= 2 else 1)' "$CODE" "$ra" "$want"
check_eq "--daily-quota: DRF's throttled message with the same seconds" \
  "{\"detail\":\"Request was throttled. Expected available in $ra seconds.\"}" "$(cat "$T/resp")"
req GET $MSG -H "$AUTH"
check_eq "--daily-quota: a GET with the key is throttled too" 429 "$CODE"
req GET $MSG -H 'Authorization: Api-Key wrong'
check_eq "--daily-quota: a bad key still gets 401 (auth first)" 401 "$CODE"
check_eq "--daily-quota: refused requests not delivered nor counted; quota_limit shown" "2 3 3 1" \
  "$(wc -l <"$T/quota.dlv") $(stat '"%d %d %d" % (s["quota_used"], s["quota_limit"], s["status"]["429"])')"
req POST /__mock/quota-reset
check_eq "POST /__mock/quota-reset -> 200" 200 "$CODE"
post $MSG '{"order_no": "QU-3", "channels": ["sms"]}'
check_eq "after quota-reset ('the next day') requests pass again" "200 1" "$CODE $(stat 's["quota_used"]')"
req GET /__mock/quota-reset
check_eq "GET /__mock/quota-reset -> 405" 405 "$CODE"
stop_mock
start_mock --daily-quota 0 || exit 1
post $MSG '{"order_no": "QZ", "channels": ["sms"]}'
check_eq "--daily-quota 0: the day is used up from the start" "429 0" "$CODE $(stat 's["delivered"]')"
stop_mock
start_mock || exit 1
post $MSG '{"order_no": "QN", "channels": ["sms"]}'
check_eq "no --daily-quota: counted all the same, limit null" "1 None" "$(stat '"%d %s" % (s["quota_used"], s["quota_limit"])')"
stop_mock
