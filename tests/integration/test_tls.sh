# TLS: certificates are always verified; --cacert trusts the given CA instead of the
# system's. A self-signed server on 127.0.0.1 is refused without --cacert and accepted
# with it. Also --burst: after idle, that many requests may go at once.
source "$(dirname "$0")/../lib.sh"
plan 18
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
  -addext "subjectAltName=IP:127.0.0.1" -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1
check "test certificate created" test -s "$T/cert.pem"
python3 "$ROOT/tests/hostile/tls_server.py" "$T/cert.pem" "$T/key.pem" 60 >"$T/port" 2>"$T/tls.err" &
MOCK_PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$T/port" ] && break; sleep 0.1; done
url="https://127.0.0.1:$(head -1 "$T/port")"
printf 'order_no,channels\nA1,sms\nA2,email\n' >"$T/in.csv"
# The preflight GET meets the certificate first: exit 2 at once, nothing sent, the host
# and the problem named. Without the preflight, the first request meets it: a
# configuration error, not an outage — the job stops at once, every row not_attempted.
"$RESEND" --base-url "$url" -r 0 --max-attempts 3 --progress never -q "$T/in.csv" -o "$T/untrusted.csv" 2>"$T/untrusted.err"
check_eq "self-signed certificate: refused at the preflight (exit 2)" 2 $?
check "self-signed certificate: no result file (nothing was sent)" test ! -f "$T/untrusted.csv"
check "the message names the host and the certificate problem" \
  grep -q '127\.0\.0\.1: the server.s certificate is not trusted.*not sent' "$T/untrusted.err"
"$RESEND" --base-url "$url" --no-preflight -r 0 --max-attempts 3 --progress never -q "$T/in.csv" -o "$T/untrusted2.csv" 2>/dev/null
check_eq "without the preflight: the job stops on the configuration error (exit 2)" 2 $?
check_eq "without the preflight: rows not_attempted, not sent" "not_attempted not_attempted" "$(col "$T/untrusted2.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
check_eq "certificate errors are not retried (one attempt at most a row)" "" \
  "$(col "$T/untrusted2.csv" result_attempts | grep -v '^[01]$')"
check "the detail names the host and says nothing was sent" \
  grep -q '127\.0\.0\.1: the server.s certificate is not trusted.*not sent' <(col "$T/untrusted2.csv" result_detail)
# The system's trust store (loaded once, shared by every connection) does not trust it either,
# and a CA bundle that merely exists but holds no certificate is refused before any request.
"$RESEND" --base-url "$url" -r 0 -j 4 --cacert /etc/ssl/certs/ca-certificates.crt --progress never -q "$T/in.csv" -o "$T/system.csv" 2>"$T/system.err"
check_eq "the system's CA bundle: self-signed still refused (exit 2)" 2 $?
check "the system's CA bundle: the message says the certificate is not trusted" grep -q 'certificate is not trusted' "$T/system.err"
: >"$T/empty.pem"
"$RESEND" --base-url "$url" -r 0 --cacert "$T/empty.pem" --progress never -q "$T/in.csv" -o "$T/empty.csv" 2>"$T/empty.err"
check_eq "--cacert with no certificate in it: exit 2 before any request" 2 $?
check "... naming the file" grep -q -- "--cacert $T/empty.pem" "$T/empty.err"
"$RESEND" --base-url "$url" -r 0 --cacert "$T/cert.pem" --progress never -q "$T/in.csv" -o "$T/trusted.csv"
check_eq "--cacert: exit 0" 0 $?
check_eq "--cacert: rows sent over TLS" "sent sent" "$(col "$T/trusted.csv" result_status | tr '\n' ' ' | sed 's/ $//')"
# A system-sized trust store with the test CA appended, shared by 8 workers' connections.
cat /etc/ssl/certs/ca-certificates.crt "$T/cert.pem" >"$T/bundle.pem"
{ echo order_no,channels; for i in $(seq 1 20); do echo "S$i,sms"; done; } >"$T/in20.csv"
"$RESEND" --base-url "$url" -r 0 -j 8 --cacert "$T/bundle.pem" --progress never -q "$T/in20.csv" -o "$T/bundle.csv"
check_eq "--cacert with the system bundle + the test CA, -j 8: 20 rows sent" "20" "$(col "$T/bundle.csv" result_status | grep -c '^sent$')"

# --burst: with -r 2 and --burst 4, four requests go at once after idle, then 2/s.
printf 'order_no,channels\n' >"$T/burst.csv"
for i in $(seq 1 8); do echo "B$i,sms" >>"$T/burst.csv"; done
start_mock --deliveries "$T/burst.dlv"; new_ledger
"$RESEND" --base-url "$MOCK_URL" -j 8 -r 2 --burst 4 --progress never -q "$T/burst.csv" -o "$T/burst.out.csv"
check_eq "--burst: exit 0" 0 $?
python3 - "$T/burst.dlv" >"$T/burst.txt" <<'PY'
import csv, sys, datetime
ts = sorted(datetime.datetime.fromisoformat(r[0].replace('Z', '+00:00')).timestamp() for r in csv.reader(open(sys.argv[1])))
first = sum(1 for t in ts if t - ts[0] < 0.2)
print(first, round(ts[-1] - ts[0], 2))
PY
read -r first span <"$T/burst.txt"
check_eq "--burst 4: four requests at once after idle" 4 "$first"
check "--burst 4 at 2/s: the other four follow at the rate (span ${span}s, expect ~2 s)" \
  python3 -c "import sys; sys.exit(0 if 1.7 <= $span <= 2.6 else 1)"
stop_mock
