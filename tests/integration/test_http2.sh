#!/usr/bin/env bash
# --http2 (issue 20): every attempt goes through one event loop (curl multi), and HTTPS
# requests share HTTP/2 connections. Proven two ways:
#  1. `make test-http2` runs the at-most-once, hostile-server, limits, TLS, send and resume
#     suites again with every run of the binary given --http2 (tests/lib.sh,
#     OTTU_TEST_HTTP2), through tests/run.sh (plans and exit statuses checked). CI runs it
#     once, in the plain tier; `make test` does not, so that no scenario runs twice there.
#  2. here: a real HTTP/2 server, nginx with TLS on 127.0.0.1 in front of ottu-mock --
#     deliveries once per (identifier, channel), HTTP/2 on few connections, lost answers
#     unknown, and streams the server refused (GOAWAY after N requests) unknown, never
#     sent twice.
. "$(dirname "$0")/../lib.sh"
plan 12

NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; })
if [ -z "$NGINX" ]; then
  skip 12 "nginx is not installed (tests/deps.sh installs nginx-light): the HTTP/2 checks need it"
  exit 0
fi
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1

# start_h2 UPSTREAM KEEPALIVE_REQUESTS: nginx on a free port, HTTP/2 over TLS, forwarding to
# UPSTREAM (host:port); one log line per request: protocol, connection number, status.
start_h2() {
  local port i dir="$T/nginx.$RANDOM"
  mkdir -p "$dir" && chmod 755 "$T" "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    log_format h2 '\$server_protocol \$connection \$status \$request_method';
    access_log $dir/access.log h2;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_requests $2;
    upstream mock { server $1; keepalive 512; }
    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $T/cert.pem;
        ssl_certificate_key $T/key.pem;
        location / {
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
  "$NGINX" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >"$dir/out" 2>&1 &
  MOCK_PIDS+=($!)
  H2_LOG="$dir/access.log"
  H2_URL="https://127.0.0.1:$port"
  for i in $(seq 1 100); do
    curl -s -o /dev/null --cacert "$T/cert.pem" "$H2_URL/" && return 0
    sleep 0.05
  done
  echo "# nginx did not start: $(cat "$dir/error.log" "$dir/out")"
  return 1
}
posts() { grep -c " POST$" "$H2_LOG"; }

# ---- many requests over few HTTP/2 connections ----
new_ledger
gen_rows 2000 "$T/many.csv" "sms,email" H
start_mock --deliveries "$T/many.dlv"
start_h2 "${MOCK_URL#http://}" 100000 || exit 1
"$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -j 256 "$T/many.csv"; rc=$?
check_eq "HTTP/2: 2000 rows, -j 256: exit 0, every row sent" "0 sent 2000" "$rc $(statuses "$T/many.results.csv")"
check_eq "HTTP/2: each (identifier, channel) delivered once" "4000 " "$(delivered "$T/many.dlv") $(twice "$T/many.dlv")"
check_eq "HTTP/2: every request went over HTTP/2" "2000" "$(grep -c '^HTTP/2.0 .* POST$' "$H2_LOG")"
conns=$(awk '$4 == "POST" {print $2}' "$H2_LOG" | sort -u | wc -l)
# (256/32 = 8 at a time; a connection libcurl's cache lets go is replaced, so allow some)
check "HTTP/2: the 2000 requests at -j 256 shared a few connections (got $conns)" test "$conns" -ge 1 -a "$conns" -le 32
"$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -j 256 -o "$T/many.again.csv" "$T/many.csv"; rc=$?
check_eq "HTTP/2: the same file again sends nothing (ledger)" "0 skipped 2000 4000" \
  "$rc $(statuses "$T/many.again.csv") $(delivered "$T/many.dlv")"
"$RESEND" --base-url "$H2_URL" --http2 --progress never -q -r 0 -o "$T/many.cert.csv" "$T/many.csv" 2>"$T/cert.err"; rc=$?
check_eq "HTTP/2: a certificate not trusted stops before any request (exit 2)" "2 2000" "$rc $(posts)"
stop_mock

# ---- answers lost behind the proxy ----
new_ledger
gen_rows 300 "$T/lost.csv" "sms" G
start_mock --ambiguous-rate 0.3 --ambiguous-kinds 500,502,504 --seed 3 --fail-rate 0.2 --deliveries "$T/lost.dlv"
start_h2 "${MOCK_URL#http://}" 100000 || exit 1
"$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -j 64 \
  --backoff-base-ms 1 --backoff-max-ms 5 --failures "$T/lost.fail.csv" "$T/lost.csv"
check_eq "HTTP/2, 30% lost answers and 20% 503s: nobody notified twice" "" "$(twice "$T/lost.dlv")"
check "HTTP/2, lost answers: some rows unknown, none of them retried" python3 - "$T/lost.dlv" "$T/lost.results.csv" <<'PY'
import csv, sys, collections
c = collections.Counter(r[2] for r in csv.reader(open(sys.argv[1])))
rows = list(csv.DictReader(open(sys.argv[2])))
assert len(rows) == 300
unknown = [r for r in rows if r['result_status'] == 'unknown']
bad = [r['order_no'] for r in rows if (r['result_status'] == 'sent' and c[r['order_no']] != 1) or c[r['order_no']] > 1]
sys.exit(0 if unknown and not bad else 1)
PY
"$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -o "$T/lost.again.csv" "$T/lost.fail.csv"
check_eq "HTTP/2, lost answers fed back: still nobody twice" "" "$(twice "$T/lost.dlv")"
stop_mock

# ---- the server closes connections after 40 requests (GOAWAY) ----
# Streams opened after the server's last one are refused; libcurl would send them again on
# a new connection, which needs the body rewound -- and ottu-resend never lets libcurl
# resend by itself, so such a row is unknown (docs/performance.md, "--http2"). Nobody is
# notified twice; an operator who knows better sends the unknown rows again on purpose
# (the failures file, --cooldown 0): the refused ones never arrived, so each customer
# still gets exactly one.
new_ledger
gen_rows 1000 "$T/goaway.csv" "sms" W
start_mock --deliveries "$T/goaway.dlv"
start_h2 "${MOCK_URL#http://}" 40 || exit 1
"$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -j 64 \
  --failures "$T/goaway.fail.0.csv" "$T/goaway.csv"
check_eq "GOAWAY every 40 requests: nobody notified twice" "" "$(twice "$T/goaway.dlv")"
read -r sent unknown other < <(python3 - "$T/goaway.results.csv" <<'PY'
import csv, sys, collections
c = collections.Counter(r['result_status'] for r in csv.DictReader(open(sys.argv[1])))
print(c['sent'], c['unknown'], sum(c.values()) - c['sent'] - c['unknown'])
PY
)
echo "# GOAWAY every 40 requests, -j 64: $sent sent, $unknown unknown, $other other"
check_eq "GOAWAY: every row sent or unknown, and the sent ones delivered" "0 $sent" "$other $(delivered "$T/goaway.dlv")"
# (each run may meet GOAWAYs of its own: until nothing is left, at most 10 runs)
for i in $(seq 1 10); do
  [ "$(col "$T/goaway.fail.$((i - 1)).csv" order_no | wc -l)" -gt 0 ] || break
  "$RESEND" --base-url "$H2_URL" --cacert "$T/cert.pem" --http2 --progress never -q -r 0 -j 64 --cooldown 0 \
    -o "$T/goaway.out.$i.csv" --failures "$T/goaway.fail.$i.csv" "$T/goaway.fail.$((i - 1)).csv"
done
check_eq "GOAWAY, then the unknown rows sent again on purpose: every row delivered, each once" "1000 " \
  "$(delivered "$T/goaway.dlv") $(twice "$T/goaway.dlv")"
stop_mock
